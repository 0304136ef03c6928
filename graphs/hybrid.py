"""Local / hybrid routing (Hybrid LLM): easy queries stay on the device, hard ones go out.

    route(on device) --easy--> generate(local) --> evaluate --confident--> finalize
                     \\                                     \\-not confident--> route --escalate-->
                      \\-hard--> generate(cloud) ----------------------------> evaluate --> finalize

The router runs locally; the local model's answer is self-evaluated (token log-probabilities by
default) and escalated to the cloud model when its confidence is below
``confidence_threshold``. ``response_metadata["routegraph"]["cloud_used"]`` says whether the
cloud was called; when no cloud is configured the best local answer is returned with a note.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from routegraph.core.context import RouteContext
from routegraph.core.state import Attempt, RouteState
from routegraph.graphs.builder import build_loop_graph
from routegraph.nodes.policy import Choice, answered, router_threshold, tried
from routegraph.nodes.resources import Toolkit


class HybridPolicy:
    """Hybrid LLM: the on-device router keeps easy queries local; a local answer whose
    confidence is too low escalates to the cloud model."""

    name = "hybrid"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        local, cloud = ctx.weak_model, ctx.strong_model
        if not done:
            router = kit.router_for(ctx, [local, cloud])
            columns = router.columns([local, cloud], ctx.router_columns)
            p = router.strong_probability(query, columns, cloud, local)
            threshold, why = router_threshold(state, ctx, router)
            hard = p >= threshold
            return Choice(
                cloud if hard else local,
                "route",
                f"{'hard' if hard else 'easy'} query: P(cloud needed)={p:.3f} "
                f"{'>=' if hard else '<'} {threshold}{why}",
                {"p_strong": p},
                threshold,
                router.name,
                columns,
                router.novelty(query),
            )
        if cloud not in done:
            return Choice(cloud, "escalate", "local answer not confident enough")
        if local not in done and not answered(state):
            return Choice(local, "re-route", "cloud model unavailable; answering locally")
        return Choice(None, "stop", "no model left to try")

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        if attempt["model"] == ctx.strong_model:
            return True, "cloud answer"
        conf = attempt.get("confidence") or 0.0
        ok = conf >= ctx.confidence_threshold
        return ok, f"confidence {conf:.3f} {'>=' if ok else '<'} {ctx.confidence_threshold}"


def build_hybrid_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the hybrid local/cloud graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(HybridPolicy(), **overrides)


graph = build_hybrid_graph()

"""Cascade routing (Dekoninck et al.): route and cascade at every step.

    route --(untried model with the best expected quality gain net of cost)--> generate -->
    evaluate --(confident)--> finalize
             \\-(not confident: re-route with what this attempt showed)--> route --(no model's
             gain worth its cost)--> finalize

Unlike a cascade, the next model is chosen anew at each step among all untried models, so
tiers may be skipped; the router's predictions are updated by how confident earlier answers
were, and the run stops as soon as no call is expected to pay for itself.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from routegraph.core.context import RouteContext
from routegraph.core.state import Attempt, RouteState
from routegraph.graphs.builder import build_loop_graph
from routegraph.nodes.policy import Choice, answered, expected_cost, tried
from routegraph.nodes.resources import Toolkit


class CascadeRoutingPolicy:
    """Dekoninck et al.: route and cascade at every step.

    The router's predicted quality of each untried model is shifted by what earlier attempts
    showed (an answer less confident than predicted means a harder query). The expected gain of
    calling model m is P(m right) x P(best answer so far wrong); the model with the best gain net
    of ``cost_weight`` x cost is called next, tiers may be skipped, and the run stops when no
    model's net gain exceeds ``min_gain``.
    """

    name = "cascade_routing"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        router = kit.router_for(ctx, list(ctx.models))
        prior = router.scores(query, list(ctx.models))
        seen = [a for a in answered(state) if a.get("confidence") is not None]
        surprise = (
            sum((a["confidence"] or 0.0) - prior.get(a["model"], 0.5) for a in seen) / len(seen)
            if seen
            else 0.0
        )
        best = max((a["confidence"] or 0.0 for a in seen), default=0.0)
        net: dict[str, float] = {}
        for model in ctx.models:
            if model in done:
                continue
            quality = min(1.0, max(0.0, prior[model] + 0.5 * surprise))
            gain = quality * (1.0 - best)
            net[model] = gain - ctx.cost_weight * 1000 * expected_cost(kit, ctx, model, query)
        scores = {f"net_gain:{m}": v for m, v in net.items()} | prior
        if not net:
            return Choice(None, "stop", "every model was tried", scores, router=router.name)
        pick = max(net, key=lambda m: net[m])
        if net[pick] <= ctx.min_gain and answered(state):  # always answer at least once
            return Choice(
                None,
                "stop",
                f"best net gain {net[pick]:.3f} <= min_gain {ctx.min_gain}",
                scores,
                ctx.min_gain,
                router.name,
            )
        action = "route" if not done else "re-route"
        return Choice(
            pick,
            action,
            f"net expected gain {net[pick]:.3f} (best so far {best:.3f})",
            scores,
            ctx.min_gain,
            router.name,
        )

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        conf = attempt.get("confidence") or 0.0
        ok = conf >= ctx.confidence_threshold
        return ok, f"confidence {conf:.3f} {'>=' if ok else '<'} {ctx.confidence_threshold}"


def build_cascade_routing_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the cascade-routing graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(CascadeRoutingPolicy(), **overrides)


graph = build_cascade_routing_graph()

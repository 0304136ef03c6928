"""Simple routing (RouteLLM): one router, one threshold, strong or weak model.

    route --(P(strong) > threshold)--> generate(strong) --> evaluate --> finalize
          \\-(otherwise)-------------> generate(weak)   --/

The router estimates the probability that the strong model is needed; the threshold in the run
context (calibrated to a cost target with ``routegraph train --calibrate``) turns it into a
decision. The answer is still scored so the caller sees a confidence, but it is always accepted.
If the chosen model is unreachable the graph re-routes to the other one.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from routegraph.core.context import RouteContext
from routegraph.core.state import Attempt, RouteState
from routegraph.graphs.builder import build_loop_graph
from routegraph.nodes.policy import Choice, answered, router_threshold, tried
from routegraph.nodes.resources import Toolkit


class SimplePolicy:
    """RouteLLM: one threshold on P(strong model needed)."""

    name = "simple"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        if not done:
            router = kit.router_for(ctx, [ctx.weak_model, ctx.strong_model])
            columns = router.columns([ctx.weak_model, ctx.strong_model], ctx.router_columns)
            p = router.strong_probability(query, columns, ctx.strong_model, ctx.weak_model)
            threshold, why = router_threshold(state, ctx, router)
            strong = p >= threshold
            return Choice(
                ctx.strong_model if strong else ctx.weak_model,
                "route",
                f"P(strong needed)={p:.3f} {'>=' if strong else '<'} threshold {threshold}{why}",
                {"p_strong": p},
                threshold,
                router.name,
                columns,
                router.novelty(query),
            )
        left = [m for m in (ctx.strong_model, ctx.weak_model) if m not in done]
        if answered(state) or not left:
            return Choice(None, "stop", "no model left to try")
        return Choice(left[0], "re-route", f"{done[-1]} unavailable; trying {left[0]}")

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        return True, "the router's choice is final in simple routing"


def build_simple_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the simple routing graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(SimplePolicy(), **overrides)


graph = build_simple_graph()

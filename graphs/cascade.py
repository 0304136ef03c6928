"""Cascade (FrugalGPT, AutoMix): cheapest model first, escalate while confidence is too low.

    route(tier i) --> generate --> evaluate --(confident enough, or last tier)--> finalize
        ^                                   |
        \\------------(otherwise: cascade)--/

Tiers are ``models`` in the context, cheapest first, with optional per-tier thresholds;
``max_steps`` and ``budget_usd`` bound the loop (the best answer so far is returned when either
is reached).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from routegraph.core.context import RouteContext, tier_threshold
from routegraph.core.state import Attempt, RouteState
from routegraph.graphs.builder import build_loop_graph
from routegraph.nodes.policy import Choice, tried
from routegraph.nodes.resources import Toolkit


class CascadePolicy:
    """FrugalGPT / AutoMix: tiers cheapest first; stop at the first confident answer."""

    name = "cascade"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        done = tried(state)
        for i, model in enumerate(ctx.models):
            if model not in done:
                action = "route" if not done else "cascade"
                return Choice(
                    model,
                    action,
                    f"tier {i + 1} of {len(ctx.models)}",
                    threshold=tier_threshold(ctx, i),
                )
        return Choice(None, "stop", "last tier reached")

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        index = ctx.models.index(attempt["model"])
        if index == len(ctx.models) - 1:
            return True, "last tier"
        conf = attempt.get("confidence") or 0.0
        need = tier_threshold(ctx, index)
        ok = conf >= need
        return ok, f"confidence {conf:.3f} {'>=' if ok else '<'} tier threshold {need}"


def build_cascade_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the cascade graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(CascadePolicy(), **overrides)


graph = build_cascade_graph()

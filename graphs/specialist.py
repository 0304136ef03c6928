"""Specialist routing: N candidate models, each query to the one predicted best for it.

    route --(argmax predicted quality - cost_weight x cost, or cheapest above quality_floor)-->
    generate --> evaluate --> finalize   (re-route to the next best if the pick is unreachable)

The router (by default the shipped N-model router trained on MMLU-Pro's nine models) predicts
each candidate's quality for this query; ``cost_weight`` or ``quality_floor`` in the context
sets the trade-off against price.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from routegraph.core.context import RouteContext
from routegraph.core.state import Attempt, RouteState
from routegraph.graphs.builder import build_loop_graph
from routegraph.nodes.policy import Choice, answered, expected_cost, planning_costs, tried
from routegraph.nodes.resources import Toolkit


class SpecialistPolicy:
    """N candidates scored by the router; best predicted quality net of cost, or the cheapest
    model that reaches ``quality_floor``."""

    name = "specialist"

    def choose(self, state: RouteState, ctx: RouteContext, kit: Toolkit, query: str) -> Choice:
        if answered(state):
            return Choice(None, "stop", "answered")
        router = kit.router_for(ctx, list(ctx.models))
        scores = router.scores(query, list(ctx.models), ctx.router_columns)
        columns = router.columns(list(ctx.models), ctx.router_columns)
        candidates = [m for m in ctx.models if m not in tried(state)]
        if not candidates:
            return Choice(None, "stop", "every candidate was unavailable", scores)
        usd = {m: expected_cost(kit, ctx, m, query) for m in ctx.models}
        costs = {m: usd[m] for m in candidates}
        weighed, how = planning_costs(kit, ctx, list(ctx.models), query, usd)
        if ctx.quality_floor is not None:
            good = [m for m in candidates if scores[m] >= ctx.quality_floor]
            if good:
                pick = min(good, key=lambda m: costs[m])
                reason = f"cheapest with predicted quality >= {ctx.quality_floor}"
            else:
                pick = max(candidates, key=lambda m: scores[m])
                reason = f"none reaches {ctx.quality_floor}; best predicted quality"
        else:
            value = {m: scores[m] - weighed[m] for m in candidates}
            pick = max(candidates, key=lambda m: value[m])
            reason = f"best predicted quality - {how}"
        action = "route" if not tried(state) else "re-route"
        return Choice(
            pick,
            action,
            f"{reason}: {pick} ({scores[pick]:.3f})",
            scores,
            None,
            router.name,
            columns,
            router.novelty(query),
        )

    def accept(self, state: RouteState, ctx: RouteContext, attempt: Attempt) -> tuple[bool, str]:
        return True, "the router's choice is final in specialist routing"


def build_specialist_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the specialist routing graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(SpecialistPolicy(), **overrides)


graph = build_specialist_graph()

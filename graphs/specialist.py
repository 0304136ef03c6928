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

from graphs.builder import build_loop_graph
from nodes.policies import SpecialistPolicy


def build_specialist_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the specialist routing graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(SpecialistPolicy(), **overrides)


graph = build_specialist_graph()

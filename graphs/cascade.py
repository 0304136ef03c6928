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

from graphs.builder import build_loop_graph
from nodes.policies import CascadePolicy


def build_cascade_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the cascade graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(CascadePolicy(), **overrides)


graph = build_cascade_graph()

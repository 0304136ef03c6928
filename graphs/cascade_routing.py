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

from graphs.builder import build_loop_graph
from nodes.policies import CascadeRoutingPolicy


def build_cascade_routing_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the cascade-routing graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(CascadeRoutingPolicy(), **overrides)


graph = build_cascade_routing_graph()

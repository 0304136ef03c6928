"""Graph ids (as in ``langgraph.json``) to their factories, imported on demand."""

from __future__ import annotations

import importlib
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from routegraph.core.errors import InvalidInputError

GRAPH_IDS = ("simple", "specialist", "hybrid", "cascade", "cascade_routing", "minions")


def build_graph(graph_id: str, **overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the graph called ``graph_id`` with build-time overrides."""
    if graph_id not in GRAPH_IDS:
        raise InvalidInputError("graph", f"unknown graph {graph_id!r}", GRAPH_IDS)
    module = importlib.import_module(f"routegraph.graphs.{graph_id}")
    factory = getattr(module, f"build_{graph_id}_graph")
    return factory(**overrides)

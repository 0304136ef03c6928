"""The model ids the OpenAI-compatible API serves, and what each one runs.

A client picks a routing technique the way it picks a model: ``routegraph-<graph>`` runs one of
the graphs of ``langgraph.json`` with its default settings, and RouteLLM-style
``router-<router>-<threshold>`` ids run the simple (strong/weak) graph with that router and
threshold, so a client that can only change the model string can still tune routing per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routegraph.graphs.registry import GRAPH_IDS
from routegraph.nodes.routing import BUILTIN_ROUTERS

GRAPH_PREFIX = "routegraph-"
ROUTER_PREFIX = "router-"


class UnknownModelError(LookupError):
    """The requested model id is not one this API serves."""

    def __init__(self, model: str, reason: str):
        self.model = model
        super().__init__(
            f"The model '{model}' does not exist: {reason}. Served ids: "
            + ", ".join(served_model_ids())
            + ", and router-<router>-<threshold> (e.g. router-default-0.5)."
        )


@dataclass(frozen=True)
class ModelTarget:
    """What one model id runs: a graph and the context settings the id fixes."""

    model_id: str
    graph_id: str
    context: dict[str, Any] = field(default_factory=dict)


def served_model_ids() -> list[str]:
    """One id per graph, then an example RouteLLM-style id per built-in router."""
    return [f"{GRAPH_PREFIX}{g}" for g in GRAPH_IDS] + [
        f"{ROUTER_PREFIX}{r}-0.5" for r in BUILTIN_ROUTERS
    ]


def resolve_model_id(model: str) -> ModelTarget:
    """The graph and settings behind ``model``; :class:`UnknownModelError` if it is none."""
    if model.startswith(GRAPH_PREFIX):
        graph_id = model[len(GRAPH_PREFIX) :].replace("-", "_")
        if graph_id in GRAPH_IDS:
            return ModelTarget(model, graph_id)
        raise UnknownModelError(model, f"no graph called {graph_id!r}")
    if model.startswith(ROUTER_PREFIX):
        name, sep, raw = model[len(ROUTER_PREFIX) :].rpartition("-")
        try:
            threshold = float(raw)
        except ValueError:
            threshold = -1.0
        if not sep or name not in BUILTIN_ROUTERS or not 0.0 <= threshold <= 1.0:
            raise UnknownModelError(
                model,
                "router ids read router-<router>-<threshold> with a router among "
                f"{', '.join(BUILTIN_ROUTERS)} and a threshold in [0, 1]",
            )
        return ModelTarget(model, "simple", {"router": name, "threshold": threshold})
    raise UnknownModelError(model, f"ids start with {GRAPH_PREFIX!r} or {ROUTER_PREFIX!r}")

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

from graphs.builder import build_loop_graph
from nodes.policies import SimplePolicy


def build_simple_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the simple routing graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(SimplePolicy(), **overrides)


graph = build_simple_graph()

"""Local / hybrid routing (Hybrid LLM): easy queries stay on the device, hard ones go out.

    route(on device) --easy--> generate(local) --> evaluate --confident--> finalize
                     \\                                     \\-not confident--> route --escalate-->
                      \\-hard--> generate(cloud) ----------------------------> evaluate --> finalize

The router runs locally; the local model's answer is self-evaluated (token log-probabilities by
default) and escalated to the cloud model when its confidence is below
``confidence_threshold``. ``response_metadata["routegraph"]["cloud_used"]`` says whether the
cloud was called; when no cloud is configured the best local answer is returned with a note.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from graphs.builder import build_loop_graph
from nodes.policies import HybridPolicy


def build_hybrid_graph(**overrides: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the hybrid local/cloud graph (overrides: models, router, evaluator, catalog)."""
    return build_loop_graph(HybridPolicy(), **overrides)


graph = build_hybrid_graph()

"""langchain-community's chat models work as routegraph models.

routegraph does not depend on langchain-community at run time (README, "Models": the package is
being sunset, and its ``ChatLlamaCpp`` neither applies the chat format SmolLM2 needs by default
nor returns OpenAI-shaped log-probabilities). Users who already run its integrations must still be
able to drop one into a graph: here its ``ChatLlamaCpp`` serves the embedded GGUF as the local
model of the hybrid graph, for real.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

pytestmark = pytest.mark.slow


def test_community_chat_llamacpp_answers_through_the_hybrid_graph(
    smollm2_gguf: Path, no_cloud: None
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the package announces its sunset
        from langchain_community.chat_models import ChatLlamaCpp

    from routegraph.graphs.hybrid import build_hybrid_graph

    local = ChatLlamaCpp(
        model_path=str(smollm2_gguf),
        max_tokens=32,
        temperature=0.0,
        n_ctx=2048,
        verbose=False,
        model_kwargs={"chat_format": "chatml"},
    )
    graph = build_hybrid_graph(models={"smollm2-135m": local})
    out = graph.invoke(
        {"messages": [HumanMessage("What is the capital of France?")]},
        context={"router": "heuristic", "max_tokens": 32, "confidence_threshold": 0.0},
    )

    final = out["messages"][-1]
    meta = final.response_metadata["routegraph"]
    assert "paris" in final.text.lower()
    assert meta["chosen_model"] == "smollm2-135m"
    assert meta["cloud_used"] is False and meta["cost_usd"] == 0.0
    assert out["attempts"][0]["model"] == "smollm2-135m"

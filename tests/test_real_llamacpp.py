"""The embedded SmolLM2-135M on llama.cpp, for real: no fakes, no network.

A user with no API key installs routegraph and asks a question: the local model answers it, the
hybrid graph keeps it on the device, and a question the small model gets wrong is escalated,
which, with no cloud configured, ends in a plain note and the best local answer.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

pytestmark = pytest.mark.slow

FRANCE = "What is the capital of France?"
# SmolLM2-135M answers 10342 (greedy decoding); the right product is 10063.
HARD_ARITHMETIC = "What is 347 * 29? Answer with the number only."
FAST = {"router": "heuristic", "max_tokens": 48}


@pytest.fixture(scope="module")
def local_chat(smollm2_gguf: Path):
    from routegraph.core.providers.llamacpp import LlamaCppChatModel

    return LlamaCppChatModel(model_path=str(smollm2_gguf), max_tokens=32, temperature=0.0)


def test_smollm2_answers_paris_with_usage_and_logprobs(local_chat) -> None:
    reply = local_chat.invoke([HumanMessage(FRANCE)])

    assert isinstance(reply, AIMessage)
    assert "paris" in reply.text.lower()
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 5 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    logprobs = reply.response_metadata["logprobs"]["content"]
    assert len(logprobs) == usage["output_tokens"]
    assert all(isinstance(t["token"], str) and t["logprob"] <= 0.0 for t in logprobs)
    assert any(math.isfinite(t["logprob"]) and t["logprob"] < 0.0 for t in logprobs)
    assert reply.response_metadata["source"] == "live"


def test_hybrid_graph_answers_offline_on_device(smollm2_gguf: Path, no_cloud: None) -> None:
    from routegraph.graphs.hybrid import build_hybrid_graph

    out = build_hybrid_graph().invoke(
        {"messages": [HumanMessage(FRANCE)]}, context={**FAST, "confidence_threshold": 0.5}
    )

    final = out["messages"][-1]
    meta = final.response_metadata["routegraph"]
    assert "paris" in final.text.lower()
    assert meta["chosen_model"] == "smollm2-135m"
    assert meta["cloud_used"] is False
    assert meta["escalated"] is False
    assert meta["cost_usd"] == 0.0
    assert meta["steps"] == 1
    assert 0.5 <= meta["confidence"] <= 1.0
    assert meta["local_tokens"] > 0 and meta["remote_tokens"] == 0
    attempt = out["attempts"][0]
    assert attempt["source"] == "live" and attempt["evaluator"] == "logprob"
    assert out["decisions"][0]["router"] == "heuristic"


def test_wrong_arithmetic_escalates_then_returns_best_local_answer(
    smollm2_gguf: Path, no_cloud: None
) -> None:
    from routegraph.graphs.hybrid import build_hybrid_graph

    out = build_hybrid_graph().invoke(
        {"messages": [HumanMessage(HARD_ARITHMETIC)]},
        context={**FAST, "confidence_threshold": 0.8},
    )

    actions = [d["action"] for d in out["decisions"]]
    assert actions[0] == "route" and out["decisions"][0]["chosen_model"] == "smollm2-135m"
    assert "escalate" in actions, out["decisions"]
    local = out["attempts"][0]
    assert local["model"] == "smollm2-135m" and local["confidence"] < 0.8
    cloud = [a for a in out["attempts"] if a["model"] == "cloud"]
    assert cloud and cloud[0]["source"] == "unavailable"

    final = out["messages"][-1]
    meta = final.response_metadata["routegraph"]
    assert final.text == local["answer"]
    assert meta["chosen_model"] == "smollm2-135m"
    assert meta["cloud_used"] is False
    assert meta["cost_usd"] == 0.0
    # One plain note that says the cloud model is not configured and why the fallback failed.
    notes = " ".join(meta["notes"])
    assert "cloud is not available" in notes
    assert "OPENAI_API_KEY" in notes
    assert "no recorded answer" in notes

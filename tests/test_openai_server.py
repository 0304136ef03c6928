"""'cloud' = any OpenAI-compatible endpoint, tested against a real one on 127.0.0.1.

llama-cpp-python ships an OpenAI-compatible server; it serves the embedded SmolLM2 here, so the
whole path a user with OPENAI_BASE_URL takes (the catalog's OpenAI provider, HTTP, usage,
log-probabilities, catalog prices) runs for real with no network beyond the loopback interface.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from routegraph.evaluators.base import Confidence, EvaluationInput
from routegraph.evaluators.logprob import LogProbEvaluator
from tests.conftest import (
    CLOUD_ENV_VARS,
    OFFLINE_ENV,
    Launcher,
    ServerProcess,
    clear_model_caches,
    start_llama_server,
    wait_for_http,
)

pytestmark = pytest.mark.slow

ALIAS = "smollm2-server"  # the model id the server reports; ROUTEGRAPH_CLOUD_MODEL points at it
FRANCE = "What is the capital of France?"
FAST = {"router": "heuristic", "max_tokens": 24}


@pytest.fixture(scope="module")
def openai_server(launch_server: Launcher, smollm2_gguf: Path) -> Iterator[ServerProcess]:
    """llama-cpp-python's OpenAI-compatible server on a free port, plain chatml format."""
    server = start_llama_server(launch_server, smollm2_gguf, "llama-cpp-server", ALIAS, "chatml")
    yield server
    server.stop()


@pytest.fixture
def cloud_env(openai_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """OPENAI_BASE_URL etc. for this test only; catalogs read under it are forgotten after."""
    for key in CLOUD_ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    base_url = f"{openai_server.url}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    monkeypatch.setenv("ROUTEGRAPH_CLOUD_MODEL", ALIAS)
    clear_model_caches()
    yield base_url
    clear_model_caches()


def completions_served(server: ServerProcess) -> int:
    """How many chat completions the server has answered (from its access log)."""
    return server.log_tail(10**7).count('"POST /v1/chat/completions HTTP/1.1" 200')


def test_server_lists_the_model(openai_server: ServerProcess) -> None:
    body = wait_for_http(openai_server, "/v1/models", timeout_s=10)
    assert ALIAS.encode() in body


def test_direct_chat_openai_call(cloud_env: str) -> None:
    from langchain_openai import ChatOpenAI

    # The pydantic-generated signature lacks the `max_tokens` alias and str coercion of api_key.
    chat = ChatOpenAI(  # type: ignore[call-arg]
        model=ALIAS, base_url=cloud_env, api_key="sk-local", max_tokens=24, temperature=0,  # type: ignore[arg-type]
        max_retries=0, timeout=120,
    )  # fmt: skip
    reply = chat.invoke([HumanMessage(FRANCE)])

    assert "paris" in reply.text.lower()
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 5
    assert 0 < reply.usage_metadata["output_tokens"] <= 24
    assert reply.response_metadata["model_name"] == ALIAS


def test_catalog_cloud_model_reaches_the_server_with_logprobs(cloud_env: str) -> None:
    from routegraph.core.catalog import load_catalog
    from routegraph.core.models import ModelSettings, availability, build_chat_model

    spec = load_catalog().get("cloud")
    assert spec.model == ALIAS
    assert availability(spec) == (True, f"OpenAI-compatible endpoint {cloud_env}")
    chat = build_chat_model(spec, ModelSettings(max_tokens=8))
    reply = chat.invoke([HumanMessage("Write a long story about a dragon.")])

    # max_tokens reaches a server that ignores `max_completion_tokens`.
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] <= 8
    assert reply.response_metadata["finish_reason"] == "length"
    logprobs = reply.response_metadata["logprobs"]["content"]
    assert len(logprobs) == reply.usage_metadata["output_tokens"]
    assert all(t["logprob"] <= 0.0 for t in logprobs)


def test_hybrid_threshold_zero_sends_every_query_to_the_server(
    cloud_env: str, openai_server: ServerProcess
) -> None:
    from routegraph.core.catalog import load_catalog
    from routegraph.graphs.hybrid import build_hybrid_graph

    before = completions_served(openai_server)
    out = build_hybrid_graph().invoke(
        {"messages": [HumanMessage(FRANCE)]}, context={**FAST, "threshold": 0.0}
    )

    assert completions_served(openai_server) == before + 1
    assert out["decisions"][0]["chosen_model"] == "cloud"
    [attempt] = out["attempts"]
    assert attempt["served_by"] == "cloud" and attempt["tier"] == "cloud"
    assert attempt["source"] == "live"
    assert attempt["evaluation"]["tokens"] == attempt["output_tokens"]  # real log-probabilities
    spec = load_catalog().get("cloud")
    expected = spec.cost(attempt["input_tokens"], attempt["output_tokens"])
    assert expected > 0
    assert attempt["cost_usd"] == pytest.approx(expected)

    final = out["messages"][-1]
    meta = final.response_metadata["routegraph"]
    assert "paris" in final.text.lower()
    assert final.text == attempt["answer"]
    assert meta["chosen_model"] == "cloud" and meta["cloud_used"] is True
    assert meta["cost_usd"] == pytest.approx(expected, abs=1e-8)
    assert meta["remote_tokens"] == attempt["input_tokens"] + attempt["output_tokens"]
    assert meta["notes"] == []


class LocalAlwaysUnsure:
    """Forces the local model's confidence low; other answers get the real log-prob score."""

    name = "local_unsure"

    def __init__(self) -> None:
        self.real = LogProbEvaluator()

    def evaluate(self, item: EvaluationInput) -> Confidence:
        if item.model == "smollm2-135m":
            return Confidence(0.05, self.name, {"forced": True})
        return self.real.evaluate(item)


def test_cascade_escalates_unsure_local_answer_to_the_server(
    cloud_env: str, openai_server: ServerProcess, smollm2_gguf: Path
) -> None:
    from routegraph.graphs.cascade import build_cascade_graph

    before = completions_served(openai_server)
    out = build_cascade_graph(evaluator=LocalAlwaysUnsure()).invoke(
        {"messages": [HumanMessage(FRANCE)]},
        context={**FAST, "models": ["smollm2-135m", "cloud"], "confidence_threshold": 0.5},
    )

    assert completions_served(openai_server) == before + 1
    local, cloud = out["attempts"]
    assert local["model"] == "smollm2-135m" and local["source"] == "live"
    assert local["confidence"] == 0.05 and local["cost_usd"] == 0.0
    assert cloud["model"] == "cloud" and cloud["served_by"] == "cloud"
    assert cloud["source"] == "live" and cloud["cost_usd"] > 0
    assert [d["action"] for d in out["decisions"]] == ["route", "escalate", "cascade", "accept"]

    meta = out["messages"][-1].response_metadata["routegraph"]
    assert meta["chosen_model"] == "cloud"
    assert meta["escalated"] is True and meta["cloud_used"] is True
    assert meta["steps"] == 2
    assert meta["cost_usd"] == pytest.approx(cloud["cost_usd"], abs=1e-8)
    assert meta["local_tokens"] > 0 and meta["remote_tokens"] > 0


def test_routegraph_ask_answers_from_the_server_in_a_subprocess(
    openai_server: ServerProcess,
) -> None:
    """A user's shell: the venv's ``routegraph`` executable, only the documented variables set.

    It runs in a fresh process from the project's environment, so a runtime import the package
    does not declare (the OpenAI provider needs ``langchain-openai``, the CLI ``rich``) fails
    here as it would on a fresh install.
    """
    executable = Path(sys.executable).parent / "routegraph"
    assert executable.is_file(), f"{executable} missing: the project is not installed in this venv"
    env = {k: v for k, v in os.environ.items() if k not in CLOUD_ENV_VARS}
    env.update(OFFLINE_ENV)
    env.update(
        OPENAI_BASE_URL=f"{openai_server.url}/v1",
        OPENAI_API_KEY="sk-local",
        ROUTEGRAPH_CLOUD_MODEL=ALIAS,
    )
    before = completions_served(openai_server)
    argv = [
        str(executable), "ask", FRANCE, "--graph", "hybrid", "--threshold", "0",
        "--router", "heuristic", "--max-tokens", "24", "--json",
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    record = json.loads(done.stdout)
    assert completions_served(openai_server) == before + 1
    [attempt] = record["attempts"]
    assert attempt["model"] == attempt["served_by"] == "cloud"
    assert attempt["source"] == "live" and attempt["tier"] == "cloud"
    assert attempt["cost_usd"] > 0 and attempt["output_tokens"] > 0
    assert record["cloud_used"] is True and record["chosen_model"] == "cloud"
    assert "paris" in record["answer"].lower()


def test_env_does_not_leak_after_server_tests(no_cloud: None) -> None:
    """With the variables gone, a fresh catalog and graph see no cloud endpoint again."""
    from routegraph.core.catalog import load_catalog
    from routegraph.core.models import availability

    spec = load_catalog().get("cloud")
    assert spec.model != ALIAS
    assert availability(spec)[0] is False

"""The real ``openai`` client and ``ChatOpenAI`` against both ways of running the API.

``routegraph serve`` and ``langgraph dev`` (which mounts the same app through
``langgraph.json``'s ``http.app``) run as subprocesses on free ports. Every model is real and
offline: the local tier is the embedded SmolLM2 on llama.cpp, and 'cloud' is llama-cpp-python's
OpenAI-compatible server (SmolLM2 again) started with ``--chat_format
chatml-function-calling``, so a routed request that reaches 'cloud' gets real tool calls back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from routegraph.graphs.registry import GRAPH_IDS
from tests.conftest import (
    CLOUD_ENV_VARS,
    FUNCTION_CALLING_ALIAS,
    PROJECT_ROOT,
    Launcher,
    ServerProcess,
    executable,
    free_port,
    wait_for_http,
)

pytestmark = pytest.mark.slow

CLOUD_ALIAS = FUNCTION_CALLING_ALIAS
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FAST = {"router": "heuristic"}  # no trained-router loading in the servers


def cloud_env(function_calling_server: ServerProcess) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": f"{function_calling_server.url}/v1",
        "OPENAI_API_KEY": "sk-local",
        "ROUTEGRAPH_CLOUD_MODEL": CLOUD_ALIAS,
        "LANGSMITH_TRACING": "false",
    }


OTHER_CLOUD_VARS = [v for v in CLOUD_ENV_VARS if v not in ("OPENAI_BASE_URL", "OPENAI_API_KEY",
                                                           "ROUTEGRAPH_CLOUD_MODEL")]  # fmt: skip


@pytest.fixture(scope="module")
def serve_server(
    launch_server: Launcher, function_calling_server: ServerProcess
) -> Iterator[ServerProcess]:
    """``routegraph serve --port N`` (binds 127.0.0.1 by default)."""
    port = free_port()
    argv = [executable("routegraph"), "serve", "--port", str(port)]
    server = launch_server(
        "routegraph-serve",
        argv,
        port=port,
        env=cloud_env(function_calling_server),
        drop_env=OTHER_CLOUD_VARS,
    )
    wait_for_http(server, "/v1/models", timeout_s=120)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dev_server(
    launch_server: Launcher,
    function_calling_server: ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """``langgraph dev`` serving the project's ``langgraph.json`` (graphs and ``http.app``).

    It runs from a scratch folder holding the same config with absolute paths, so its state
    folder (``.langgraph_api``) never touches the checkout.
    """
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    assert config["http"]["app"] == "./routegraph/app/server/app.py:app"

    def absolute(ref: str) -> str:
        return str(PROJECT_ROOT / ref.removeprefix("./"))

    config["dependencies"] = [str(PROJECT_ROOT)]
    config["graphs"] = {k: absolute(v) for k, v in config["graphs"].items()}
    config["http"]["app"] = absolute(config["http"]["app"])
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    (workdir / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    argv = [
        executable("langgraph"), "dev",
        "--host", "127.0.0.1", "--port", str(port),
        "--no-browser", "--no-reload", "--config", "langgraph.json",
    ]  # fmt: skip
    env = {
        **cloud_env(function_calling_server),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "1",
    }
    server = launch_server(
        "langgraph-dev", argv, port=port, env=env, drop_env=OTHER_CLOUD_VARS, cwd=workdir
    )
    wait_for_http(server, "/ok", timeout_s=180)
    wait_for_http(server, "/v1/models", timeout_s=30)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["routegraph-serve", "langgraph-dev"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    fixture = {"routegraph-serve": "serve_server", "langgraph-dev": "dev_server"}[request.param]
    found: ServerProcess = request.getfixturevalue(fixture)
    return found


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Any:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", timeout=180, max_retries=0)


def test_model_list_has_one_id_per_graph(client: Any) -> None:
    ids = {m.id for m in client.models.list()}
    assert {f"routegraph-{g}" for g in GRAPH_IDS} <= ids
    assert "router-default-0.5" in ids


def test_plain_answer_with_trace_in_body_and_headers(client: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="routegraph-hybrid",
        messages=FRANCE,  # type: ignore[arg-type]
        max_tokens=32,
        temperature=0,
        extra_body={"routegraph": FAST},
    )
    completion = raw.parse()

    answer = completion.choices[0].message.content or ""
    assert "paris" in answer.lower()
    trace = completion.model_extra["routegraph"]
    assert trace["graph"] == "hybrid"
    assert trace["chosen_model"] in ("smollm2-135m", "cloud")
    assert raw.headers["x-routegraph-chosen-model"] == trace["chosen_model"]
    assert float(raw.headers["x-routegraph-confidence"]) == pytest.approx(trace["confidence"])
    assert 0 < completion.usage.completion_tokens <= 32 * trace["steps"]
    assert completion.usage.prompt_tokens > 5


def test_max_tokens_reaches_the_model(client: Any) -> None:
    completion = client.chat.completions.create(
        model="router-heuristic-1.0",  # threshold 1: always the local model
        messages=[{"role": "user", "content": "Write a long story about a dragon."}],
        max_tokens=6,
    )
    trace = completion.model_extra["routegraph"]
    assert trace["chosen_model"] == "smollm2-135m" and trace["steps"] == 1, json.dumps(trace)
    assert 0 < completion.usage.completion_tokens <= 6


def test_streamed_answer_with_usage(client: Any) -> None:
    stream = client.chat.completions.create(
        model="router-heuristic-1.0",  # simple graph on the local model: tokens stream live
        messages=FRANCE,  # type: ignore[arg-type]
        max_tokens=32,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 1, pieces  # several deltas, not one block
    assert "paris" in "".join(pieces).lower()
    [finish] = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish.model_extra["routegraph"]["chosen_model"] == "smollm2-135m"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert 0 < usage.completion_tokens <= 32


def test_tool_call_from_the_chosen_model(client: Any) -> None:
    completion = client.chat.completions.create(
        model="router-heuristic-0.0",  # threshold 0: always the strong ('cloud') model
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=64,
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments).get("city"), str)
    trace = completion.model_extra["routegraph"]
    assert trace["chosen_model"] == "cloud" and trace["cloud_used"] is True
    assert trace["cost_usd"] > 0


def test_unknown_model_is_a_404_in_openai_shape(client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-5", messages=FRANCE)  # type: ignore[arg-type]

    error = caught.value.response.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert error["type"] == "invalid_request_error"
    assert "gpt-5" in error["message"]


def test_chat_openai_pointed_at_routegraph(server: ServerProcess) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(  # type: ignore[call-arg]
        model="routegraph-cascade",
        base_url=f"{server.url}/v1",
        api_key="unused",  # type: ignore[arg-type]
        max_tokens=32,
        temperature=0,
        max_retries=0,
        timeout=180,
        stream_usage=True,
        extra_body={"routegraph": {**FAST, "models": ["smollm2-135m"]}},
    )
    reply = chat.invoke("What is the capital of France?")
    assert "paris" in reply.text.lower()
    assert reply.response_metadata["model_name"] == "routegraph-cascade"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0

    chunks = list(chat.stream("What is the capital of France?"))
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed += chunk
    assert "paris" in streamed.text.lower()
    assert streamed.usage_metadata is not None
    assert streamed.usage_metadata["total_tokens"] == reply.usage_metadata["total_tokens"]


def test_health_metrics_and_dashboard_are_served(server: ServerProcess) -> None:
    """Both doors (``serve`` and the app ``langgraph dev`` mounts) answer the operator's routes."""
    import httpx

    ours = f"{server.url}/routegraph"  # /metrics under langgraph dev is LangGraph's own
    assert httpx.get(f"{ours}/healthz", timeout=30).json() == {"status": "ok"}
    assert httpx.get(f"{ours}/readyz", timeout=30).status_code == 200
    assert "routegraph_requests_total" in httpx.get(f"{ours}/metrics", timeout=30).text
    page = httpx.get(f"{server.url}/dashboard", timeout=30)
    assert page.status_code == 200 and "chart.umd.min.js" in page.text
    script = httpx.get(f"{server.url}/dashboard/static/chart.umd.min.js", timeout=30)
    assert script.status_code == 200 and "Chart.js v4" in script.text[:200]

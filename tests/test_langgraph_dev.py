"""Every graph of ``langgraph.json`` served by a real ``langgraph dev`` and called with the SDK.

This is what a user of LangGraph Studio or the LangGraph API does: start the dev server from the
project root, run each graph (threadless ``runs.wait``) with per-run settings passed as
``context=`` (langgraph-api >= 0.4 reads the run's context into the graph's ``context_schema``),
and stream the custom ``routing_decision`` events. No cloud variables are set, so every run
stays on the embedded SmolLM2 model and the recorded answers.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import (
    CLOUD_ENV_VARS,
    PROJECT_ROOT,
    Launcher,
    ServerProcess,
    executable,
    free_port,
    wait_for_http,
)

pytestmark = pytest.mark.slow

GRAPH_IDS = sorted(json.loads((PROJECT_ROOT / "langgraph.json").read_text())["graphs"])
QUESTION = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
# Keep runs fast: no trained-router loading, short answers, one MinionS round with one job.
FAST: dict[str, Any] = {"router": "heuristic", "max_tokens": 48, "max_rounds": 1,
                        "max_subtasks": 1, "confidence_threshold": 0.75}  # fmt: skip
# Which router each graph reports in its decisions (the cascade walks tiers without one).
ROUTER_OF = {"cascade": set(), "minions": {"minions"}}
METADATA_KEYS = {"graph", "chosen_model", "confidence", "steps", "cost_usd", "escalated",
                 "cloud_used", "notes"}  # fmt: skip


@pytest.fixture(scope="module")
def langgraph_server(launch_server: Launcher) -> Iterator[ServerProcess]:
    """``langgraph dev`` on a free port, run from the project root, stopped by its PID."""
    state_dir = PROJECT_ROOT / ".langgraph_api"  # the in-memory server persists here
    state_dir_existed = state_dir.exists()
    port = free_port()
    argv = [
        executable("langgraph"), "dev",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--no-browser",
        "--no-reload",
        "--config", "langgraph.json",
    ]  # fmt: skip
    env = {
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "1",
        "LANGSMITH_TRACING": "false",
    }
    server = launch_server(
        "langgraph-dev", argv, port=port, env=env, drop_env=CLOUD_ENV_VARS, cwd=PROJECT_ROOT
    )
    try:
        wait_for_http(server, "/ok", timeout_s=120)
        yield server
    finally:
        server.stop()
        if not state_dir_existed:
            shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def client(langgraph_server: ServerProcess) -> Any:
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=langgraph_server.url, api_key=None, timeout=180)


def final_ai_message(values: dict[str, Any]) -> dict[str, Any]:
    message = values["messages"][-1]
    assert message["type"] == "ai", values["messages"]
    return message


def test_server_serves_every_graph_of_langgraph_json(client: Any) -> None:
    assistants = {a["graph_id"]: a["assistant_id"] for a in client.assistants.search(limit=50)}
    assert set(assistants) == set(GRAPH_IDS)
    for assistant_id in assistants.values():
        schemas = client.assistants.get_schemas(assistant_id)
        context_fields = schemas["context_schema"]["properties"]
        assert {"router", "max_tokens", "confidence_threshold"} <= set(context_fields)
        assert context_fields["router"].get("description")


@pytest.mark.parametrize("graph_id", GRAPH_IDS)
def test_graph_runs_on_the_dev_server(client: Any, graph_id: str) -> None:
    values = client.runs.wait(None, graph_id, input=QUESTION, context=FAST)

    message = final_ai_message(values)
    meta = message["response_metadata"]["routegraph"]
    assert set(meta) >= METADATA_KEYS
    assert meta["graph"] == graph_id
    assert meta["cloud_used"] is False  # no OPENAI_* variables reach the server
    assert meta["chosen_model"] == "smollm2-135m"
    assert message["content"].strip()
    # The context reached the graph: the heuristic router decided, answers stayed short.
    live = [a for a in values["attempts"] if a.get("source") == "live"]
    assert live and all(a["output_tokens"] <= FAST["max_tokens"] for a in live)
    routers = {d["router"] for d in values["decisions"] if d.get("router")}
    assert routers == ROUTER_OF.get(graph_id, {"heuristic"})
    if graph_id == "cascade":
        assert values["decisions"][0]["threshold"] == FAST["confidence_threshold"]
    # The run left its outcome record in the server's own store (what Studio users feed).
    record = client.store.get_item(["routegraph", "outcomes"], meta["outcome_id"])["value"]
    assert record["graph"] == graph_id and record["chosen_model"] == "smollm2-135m"
    assert record["calls"][0]["propensity"] == 1.0


def test_assistant_carries_its_own_context(client: Any) -> None:
    assistant = client.assistants.create(
        "simple", context={"router": "random", "seed": 7, "max_tokens": 16}, name="random-simple"
    )
    try:
        values = client.runs.wait(None, assistant["assistant_id"], input=QUESTION)
    finally:
        client.assistants.delete(assistant["assistant_id"])

    assert values["decisions"][0]["router"] == "random(seed=7)"
    assert all(a["output_tokens"] <= 16 for a in values["attempts"] if a["source"] == "live")
    final_ai_message(values)


def test_stream_shows_routing_decisions(client: Any) -> None:
    custom: list[dict[str, Any]] = []
    last_values: dict[str, Any] = {}
    for part in client.runs.stream(
        None, "cascade", input=QUESTION, context=FAST, stream_mode=["custom", "values"]
    ):
        if part.event == "custom":
            custom.append(part.data)
        elif part.event == "values":
            last_values = part.data
        assert part.event != "error", part.data

    decisions = [e for e in custom if e.get("event") == "routing_decision"]
    assert decisions, custom
    first = decisions[0]
    assert first["graph"] == "cascade" and first["action"] == "route"
    assert first["chosen_model"] == "smollm2-135m"
    assert {"step", "router", "scores", "threshold", "reason"} <= set(first)
    assert any(e.get("event") == "evaluation" for e in custom)
    assert custom[-1]["event"] == "final"
    # The streamed decisions are the ones kept in the final state.
    assert [d["action"] for d in decisions] == [
        d["action"] for d in last_values["decisions"] if d["action"] in {"route", "cascade", "stop"}
    ]
    assert final_ai_message(last_values)["response_metadata"]["routegraph"]["graph"] == "cascade"


def test_input_form_asks_for_a_conversation(client: Any) -> None:
    """Studio draws its input form from the input schema: the conversation, not internal keys."""
    for assistant in client.assistants.search(limit=50):
        schemas = client.assistants.get_schemas(assistant["assistant_id"])
        expected = {"messages", "document"} if assistant["graph_id"] == "minions" else {"messages"}
        assert set(schemas["input_schema"]["properties"]) == expected, assistant["graph_id"]


@pytest.mark.parametrize("graph_id", GRAPH_IDS)
def test_two_turns_in_one_thread_are_routed_afresh(client: Any, graph_id: str) -> None:
    """The same question twice in a Studio thread: turn 2 is routed like turn 1, and its
    metadata, steps and cost count turn 2 only; the history keeps both turns."""
    thread = client.threads.create()
    try:
        first = client.runs.wait(thread["thread_id"], graph_id, input=QUESTION, context=FAST)
        second = client.runs.wait(thread["thread_id"], graph_id, input=QUESTION, context=FAST)
    finally:
        client.threads.delete(thread["thread_id"])

    meta1 = final_ai_message(first)["response_metadata"]["routegraph"]
    meta2 = final_ai_message(second)["response_metadata"]["routegraph"]
    assert (meta1["turn"], meta2["turn"]) == (1, 2)
    # Routed afresh: the first decision of turn 2 is the first decision of turn 1.
    keys = ("action", "chosen_model", "router")
    assert {k: second["decisions"][0][k] for k in keys} == {
        k: first["decisions"][0][k] for k in keys
    }
    assert second["attempts"][0]["step"] == 1
    assert meta2["steps"] == len(second["attempts"])
    assert second["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in second["attempts"]))
    assert [h["turn"] for h in second["history"]] == [1, 2]
    assert [m["type"] for m in second["messages"]] == ["human", "ai", "human", "ai"]

"""Provider faults against a real HTTP server that speaks the OpenAI protocol and fails on purpose.

The 'cloud' model is a real ``ChatOpenAI`` (built by the catalog, as a user's would be) pointed
at :class:`tests.fault_server.FaultServer` on 127.0.0.1; the next tier is a scripted model, so a
run that survives a fault visibly ends on it. Every test checks what the server saw (how many
tries) and what the run recorded (each failure with its kind). No test reads a clock: a hung
endpoint is checked by the timeout its client was built with, the fault it was recorded as, the
number of tries, and the server seeing the client give up on the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.context import RouteContext
from routegraph.graphs.cascade import build_cascade_graph
from routegraph.nodes import calls
from routegraph.nodes.health import HEALTH, HealthBoard
from tests.conftest import CLOUD_ENV_VARS, clear_model_caches, free_port
from tests.fakes import ScriptedChatModel, TableEvaluator
from tests.fault_server import FaultServer

QUESTION = "What is the capital of France?"
BACKUP_ANSWER = "Paris (backup tier)."


def fault_catalog() -> Catalog:
    specs = {
        "cloud": ModelSpec("cloud", "openai", "fault-model", "cloud", 1.0, 2.0),
        "backup": ModelSpec("backup", "fake", "backup", "local", 0.0, 0.0),
    }
    return Catalog(specs, "fault-test")


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    started = FaultServer(retry_after_s=2).start()
    yield started
    started.stop()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries record their backoff here instead of sleeping; the breaker starts clean."""
    waited: list[float] = []
    monkeypatch.setattr(calls, "sleep", waited.append)
    HEALTH.reset()
    yield waited
    HEALTH.reset()


def point_cloud_at(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    for key in CLOUD_ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")
    clear_model_caches()


@pytest.fixture
def cloud(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    point_cloud_at(monkeypatch, server.url)
    server.plan([], default="ok")
    yield server
    clear_model_caches()


@pytest.fixture
def timeouts(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The read timeout each chat request carried into the HTTP transport (which enforces it)."""
    told: list[float] = []
    real = httpx.HTTPTransport.handle_request

    def spy(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            told.append(request.extensions["timeout"]["read"])
        return real(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", spy)
    return told


def abandoned(server: FaultServer) -> bool:
    """Whether the client closed the connection of the one request the server left hanging."""
    [hung] = server.received
    assert hung.fault == "hang"
    # The server thread notices the close within milliseconds; the bound only keeps a client
    # that never lets go from blocking the suite.
    return hung.abandoned.wait(timeout=10)


def cascade(backup: ScriptedChatModel | None = None) -> Any:
    """cloud first, then the scripted backup tier; every answer counts as confident."""
    backup = backup or ScriptedChatModel(answers=[BACKUP_ANSWER])
    return build_cascade_graph(
        models={"backup": backup},
        evaluator=TableEvaluator({}, 1.0),
        catalog=fault_catalog(),
    )


CONTEXT = {
    "models": ["cloud", "backup"],
    "weak_model": "backup",
    "strong_model": "cloud",
    "router": "heuristic",
    "call_timeout_s": 1.0,
}


def ask(graph: Any, **context: Any) -> dict[str, Any]:
    return graph.invoke({"messages": [HumanMessage(QUESTION)]}, context={**CONTEXT, **context})


def final(out: dict[str, Any]) -> AIMessage:
    message = out["messages"][-1]
    assert isinstance(message, AIMessage)
    return message


@pytest.mark.parametrize(
    ("fault", "kind", "tries"),
    [
        ("server_error", "server_error", 3),
        ("malformed", "malformed", 3),
        ("empty", "malformed", 3),
        ("stream_cut", "interrupted", 3),
        ("hang", "timeout", 1),  # a hung endpoint is abandoned at once, never retried
        ("unauthorized", "auth", 1),  # a wrong key will not get better
    ],
)
def test_each_fault_is_recorded_and_the_next_tier_answers(
    cloud: FaultServer,
    waits: list[float],
    timeouts: list[float],
    fault: str,
    kind: str,
    tries: int,
) -> None:
    cloud.plan([], default=fault)
    out = ask(cascade())

    assert cloud.completions == tries
    assert final(out).text == BACKUP_ANSWER
    failed, answered = out["attempts"]
    assert failed["model"] == "cloud" and failed["source"] == "unavailable"
    assert [f["fault"] for f in failed["faults"]] == [kind] * tries
    assert [f["try"] for f in failed["faults"]] == list(range(1, tries + 1))
    assert kind in failed["note"]
    assert answered["model"] == "backup" and answered["faults"] == []
    assert waits == [0.5, 1.0][: tries - 1]  # exponential backoff between tries
    assert timeouts == [CONTEXT["call_timeout_s"]] * tries  # the context's, not the default
    if fault == "hang":  # the client gave up on the hung request instead of leaving it open
        assert abandoned(cloud)


def test_connection_refused_is_retried_then_the_next_tier_answers(
    monkeypatch: pytest.MonkeyPatch, waits: list[float]
) -> None:
    point_cloud_at(monkeypatch, f"http://127.0.0.1:{free_port()}/v1")  # nothing listens
    out = ask(cascade())
    failed = out["attempts"][0]
    assert [f["fault"] for f in failed["faults"]] == ["connection"] * 3
    assert final(out).text == BACKUP_ANSWER
    clear_model_caches()


def test_transient_faults_are_retried_on_the_same_model(
    cloud: FaultServer, waits: list[float]
) -> None:
    cloud.plan(["server_error", "stream_cut"], default="ok")
    out = ask(cascade())

    [attempt] = out["attempts"]
    assert attempt["model"] == attempt["served_by"] == "cloud" and attempt["source"] == "live"
    assert final(out).text == "The capital of France is Paris."
    assert [f["fault"] for f in attempt["faults"]] == ["server_error", "interrupted"]
    assert cloud.completions == 3 and waits == [0.5, 1.0]
    assert attempt["cost_usd"] > 0  # the successful call's usage x price


def test_rate_limit_waits_for_retry_after_when_it_is_short(
    cloud: FaultServer, waits: list[float]
) -> None:
    cloud.plan(["rate_limited"], default="ok")
    out = ask(cascade())
    [attempt] = out["attempts"]
    assert attempt["served_by"] == "cloud"
    [fault] = attempt["faults"]
    assert fault["fault"] == "rate_limited" and fault["retry_after_s"] == 2.0
    assert waits == [2.0]  # the server's Retry-After, not the default backoff


def test_long_retry_after_moves_on_and_cools_the_model_down(
    cloud: FaultServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloud, "retry_after_s", 60)
    cloud.plan(["rate_limited"], default="ok")
    out = ask(cascade())
    assert [f["fault"] for f in out["attempts"][0]["faults"]] == ["rate_limited"]
    assert waits == []  # 60 s is too long to hold a request: the next tier answers now
    assert final(out).text == BACKUP_ANSWER

    again = ask(cascade())  # the server would answer now, but asked for 60 s of quiet
    assert cloud.completions == 1
    assert [f["fault"] for f in again["attempts"][0]["faults"]] == ["cooling_down"]
    assert final(again).text == BACKUP_ANSWER


def test_a_failing_model_is_skipped_while_it_cools_down_then_tried_again(
    cloud: FaultServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    board = HealthBoard(threshold=3, cooldown_s=30.0, clock=lambda: now[0])
    monkeypatch.setattr(calls, "HEALTH", board)
    cloud.plan([], default="server_error")
    ask(cascade())
    assert cloud.completions == 3

    for _ in range(5):  # requests during the cool-down never reach the endpoint
        out = ask(cascade())
        assert [f["fault"] for f in out["attempts"][0]["faults"]] == ["cooling_down"]
        assert final(out).text == BACKUP_ANSWER
    assert cloud.completions == 3

    now[0] += 31  # cool-down over: one trial call; it succeeds and closes the breaker
    cloud.plan([], default="ok")
    out = ask(cascade())
    assert out["attempts"][0]["served_by"] == "cloud" and cloud.completions == 1
    assert board.status() == {}


def test_a_trial_call_that_fails_reopens_the_breaker(
    cloud: FaultServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    board = HealthBoard(threshold=3, cooldown_s=30.0, clock=lambda: now[0])
    monkeypatch.setattr(calls, "HEALTH", board)
    cloud.plan([], default="hang")
    ask(cascade())  # one timeout opens it at once
    assert cloud.completions == 1
    now[0] += 31
    ask(cascade())  # the trial hangs too
    assert cloud.completions == 2
    out = ask(cascade())
    assert [f["fault"] for f in out["attempts"][0]["faults"]] == ["cooling_down"]
    assert cloud.completions == 2


def test_a_stream_cut_midway_falls_back_when_the_graph_streams_tokens(
    cloud: FaultServer, waits: list[float]
) -> None:
    cloud.plan([], default="stream_cut")
    chunks = []
    for mode, chunk in cascade().stream(
        {"messages": [HumanMessage(QUESTION)]}, context=CONTEXT, stream_mode=["messages", "values"]
    ):
        if mode == "values":
            last = chunk
        else:
            chunks.append(chunk)
    assert all(r.body.get("stream") for r in cloud.received)  # the client really streamed
    assert [f["fault"] for f in last["attempts"][0]["faults"]] == ["interrupted"] * 3
    assert last["messages"][-1].text == BACKUP_ANSWER


def test_the_default_timeout_reaches_the_client_and_a_hung_endpoint_is_abandoned(
    cloud: FaultServer, waits: list[float], timeouts: list[float]
) -> None:
    default = RouteContext().call_timeout_s
    assert 0 < default <= 30  # a hung endpoint is abandoned well within a minute
    context = {k: v for k, v in CONTEXT.items() if k != "call_timeout_s"}
    out = cascade().invoke({"messages": [HumanMessage(QUESTION)]}, context=context)
    assert out["attempts"][0]["served_by"] == "cloud"
    assert timeouts == [default]  # what the real client enforced on a run's request

    cloud.plan([], default="hang")  # a short timeout, so the real hang costs half a second
    out = ask(cascade(), call_timeout_s=0.5)
    assert timeouts == [default, 0.5]
    assert final(out).text == BACKUP_ANSWER
    assert [f["fault"] for f in out["attempts"][0]["faults"]] == ["timeout"]
    assert cloud.completions == 1 and waits == []  # not retried
    assert abandoned(cloud)


def test_retries_are_bounded_by_the_context(cloud: FaultServer, waits: list[float]) -> None:
    cloud.plan([], default="server_error")
    ask(cascade(), call_retries=0)
    assert cloud.completions == 1 and waits == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("call_timeout_s", 0), ("call_timeout_s", float("nan")), ("call_retries", -1)],
)
def test_bad_fault_settings_are_refused_before_any_call(
    cloud: FaultServer, field: str, value: Any
) -> None:
    from routegraph.core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=field):
        ask(cascade(), **{field: value})
    assert cloud.completions == 0


def test_cli_ask_with_a_failing_endpoint_answers_or_says_why_in_one_line(
    cloud: FaultServer, waits: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from routegraph.app.cli import main

    cloud.plan([], default="server_error")
    argv = ["ask", QUESTION, "--graph", "cascade", "--models", "cloud"]
    code = main([*argv, "--router", "heuristic", "--evaluator", "none", "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert code == 0
    record = json.loads(captured.out)
    faults = [f["fault"] for a in record["attempts"] for f in a.get("faults", [])]
    assert "server_error" in faults
    assert record["answer"]  # the best it could do, with why in the notes

"""The OpenAI-compatible app's branch logic, through the real ``openai`` client, in process.

The app runs on Starlette's test transport with fake chat models (branch logic only: which
fields come back, which status and ``param`` an error has, what a thread keeps). The same
client against real servers (``routegraph serve``, ``langgraph dev``) and real models is in
``test_openai_servers.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from starlette.testclient import TestClient

from routegraph.app.server.app import create_app
from routegraph.app.server.model_ids import resolve_model_id, served_model_ids
from routegraph.core.errors import InvalidInputError
from routegraph.graphs.registry import GRAPH_IDS, build_graph
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter, handle
from tests.test_turns import PROMPTS, RecordingChatModel, ToolCallingChatModel

CATALOG = tiny_catalog()
SETTINGS = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a value up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def factory(
    small_confidence: float = 0.9,
    tool_model: ToolCallingChatModel | None = None,
    large_metadata: dict[str, Any] | None = None,
) -> Any:
    """Graphs on fake models: 'small' answers '4' (confidence as given), 'large' '4!'."""

    def build(graph_id: str) -> Any:
        models: dict[str, Any] = {
            "small": tool_model or RecordingChatModel(answers=["4"]),
            "large": ScriptedChatModel(
                answers=["4!"], input_tokens=300, output_tokens=20, metadata=large_metadata or {}
            ),
        }
        overrides: dict[str, Any] = {
            "catalog": CATALOG,
            "models": models,
            "evaluator": TableEvaluator({"small": small_confidence, "large": 0.95}),
        }
        if graph_id != "minions":
            overrides["router"] = handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1))
        return build_graph(graph_id, **overrides)

    return build


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Any]:
    """``make_client(**factory_args, db=...)`` -> an ``openai.OpenAI`` talking to a fresh app."""
    opened: list[TestClient] = []

    def make(db: str | None = "", **factory_args: Any) -> openai.OpenAI:
        app = create_app(factory(**factory_args), db=db, catalog=CATALOG)
        http = TestClient(app)
        http.__enter__()  # runs the lifespan: opens the thread store
        opened.append(http)
        return openai.OpenAI(
            base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0
        )

    yield make
    for http in opened:
        http.__exit__(None, None, None)


def ask(client: openai.OpenAI, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "routegraph-cascade")
    kwargs.setdefault("messages", QUESTION)
    extra = kwargs.pop("extra_body", {})
    extra.setdefault("routegraph", SETTINGS)
    return client.chat.completions.with_raw_response.create(extra_body=extra, **kwargs)


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def test_models_list_one_id_per_graph_and_router_ids(make_client: Any) -> None:
    client = make_client()
    ids = [m.id for m in client.models.list()]
    assert ids == served_model_ids()
    assert [i for i in ids if i.startswith("routegraph-")] == [f"routegraph-{g}" for g in GRAPH_IDS]
    card = client.models.retrieve("router-heuristic-0.3")
    assert card.model_extra is not None
    assert card.model_extra["routegraph"] == {
        "graph": "simple",
        "context": {"router": "heuristic", "threshold": 0.3},
    }
    assert resolve_model_id("routegraph-cascade-routing").graph_id == "cascade_routing"


def test_plain_answer_carries_usage_and_the_routing_trace(make_client: Any) -> None:
    raw = ask(make_client())
    completion = raw.parse()

    assert completion.choices[0].message.content == "4"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "routegraph-cascade"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (100, 50)
    trace = completion.model_extra["routegraph"]
    assert trace["chosen_model"] == "small" and trace["steps"] == 1
    assert trace["confidence"] == 0.9 and trace["escalated"] is False
    assert raw.headers["x-routegraph-chosen-model"] == "small"
    assert raw.headers["x-routegraph-graph"] == "cascade"
    assert raw.headers["x-routegraph-steps"] == "1"
    assert raw.headers["x-routegraph-escalated"] == "false"


def test_escalation_shows_in_trace_usage_and_cost(make_client: Any) -> None:
    raw = ask(make_client(small_confidence=0.2))
    completion = raw.parse()

    assert completion.choices[0].message.content == "4!"
    trace = completion.model_extra["routegraph"]
    assert trace["chosen_model"] == "large" and trace["path"] == ["small", "large"]
    assert trace["escalated"] is True and trace["steps"] == 2
    # usage adds up both calls of the turn; cost is the large model's tokens at its price
    assert completion.usage.prompt_tokens == 100 + 300
    assert completion.usage.completion_tokens == 50 + 20
    assert trace["cost_usd"] == pytest.approx(CATALOG.get("large").cost(300, 20))
    assert float(raw.headers["x-routegraph-cost-usd"]) == pytest.approx(trace["cost_usd"])


def test_stream_ends_with_the_trace_then_a_usage_chunk(make_client: Any) -> None:
    client = make_client(small_confidence=0.2)
    stream = client.chat.completions.create(
        model="routegraph-cascade",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"routegraph": SETTINGS},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "4!"  # the rejected draft '4' is never streamed
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["stop"]
    assert finish[0].model_extra["routegraph"]["chosen_model"] == "large"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 100 + 50 + 300 + 20


def test_an_answer_cut_off_at_max_tokens_finishes_with_length(make_client: Any) -> None:
    """OpenAI clients read ``finish_reason`` to tell a cut-off answer from a finished one: the
    chosen model's ``length`` comes through, plain and streamed; the draft's does not count."""
    client = make_client(small_confidence=0.2, large_metadata={"finish_reason": "length"})
    assert ask(client).parse().choices[0].finish_reason == "length"
    stream = client.chat.completions.create(
        model="routegraph-cascade",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        extra_body={"routegraph": SETTINGS},
    )
    finish = [
        c.choices[0].finish_reason for c in stream if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["length"]
    confident = make_client(small_confidence=0.9, large_metadata={"finish_reason": "length"})
    assert ask(confident).parse().choices[0].finish_reason == "stop"  # small answered in full


def test_stream_without_include_usage_has_no_usage_chunk(make_client: Any) -> None:
    client = make_client()
    chunks = list(
        client.chat.completions.create(
            model="routegraph-simple",
            messages=QUESTION,  # type: ignore[arg-type]
            stream=True,
            extra_body={"routegraph": SETTINGS},
        )
    )
    assert len(chunks) >= 3  # role, content, finish: all() below must not pass on nothing
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_tool_calls_come_back_and_tool_results_finish_the_turn(make_client: Any) -> None:
    model = ToolCallingChatModel()
    client = make_client(tool_model=model)
    raw = ask(client, tools=[LOOKUP], tool_choice="auto")
    first = raw.parse()

    [call] = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.type == "function" and call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": "x"}
    assert model.bound_tools[0]["function"]["name"] == "lookup"  # the chosen model got the tool

    history = [
        *QUESTION,
        first.choices[0].message.model_dump(exclude_none=True, exclude={"routegraph"}),
        {"role": "tool", "tool_call_id": call.id, "content": "42"},
    ]
    second = ask(client, messages=history, tools=[LOOKUP]).parse()
    assert second.choices[0].message.content == "The answer is 42."
    assert second.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("kwargs", "status", "param"),
    [
        ({"model": "gpt-4o"}, 404, "model"),
        ({"model": "routegraph-nope"}, 404, "model"),
        ({"model": "router-heuristic-1.5"}, 404, "model"),
        ({"model": "router-unknown-0.5"}, 404, "model"),
        ({"temperature": 3}, 400, "temperature"),
        ({"max_tokens": 0}, 400, "max_tokens"),
        ({"n": 2}, 400, "n"),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "messages[0].role"),
        ({"messages": [{"role": "system", "content": "be brief"}]}, 400, "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            400,
            "messages[0].content[0]",
        ),
        ({"tools": [{"type": "function"}]}, 400, "tools[0]"),
        (
            {"tools": [LOOKUP], "tool_choice": {"type": "function", "function": {"name": "x"}}},
            400,
            "tool_choice",
        ),  # fmt: skip
        ({"extra_body": {"routegraph": {**SETTINGS, "threshold": 2}}}, 400, "routegraph.threshold"),
        ({"extra_body": {"routegraph": {**SETTINGS, "colour": "red"}}}, 400, "routegraph"),
        (
            {"extra_body": {"routegraph": {**SETTINGS, "models": ["tiny"]}}},
            400,
            "routegraph.models",
        ),
        ({"extra_body": {"thread_id": "t1"}}, 400, "thread_id"),  # no --db: no threads
        ({"extra_body": {"frobnicate": True}}, 400, "frobnicate"),
    ],
)
def test_bad_requests_get_openai_errors_naming_the_field(
    make_client: Any, kwargs: dict[str, Any], status: int, param: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        ask(make_client(db=None), **kwargs)

    assert caught.value.status_code == status
    error = error_of(caught.value)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    if status == 404:
        assert isinstance(caught.value, openai.NotFoundError)
        assert error["code"] == "model_not_found"
        assert "routegraph-cascade" in error["message"]  # says what is served


def test_stream_with_bad_settings_fails_before_streaming(make_client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(make_client(), stream=True, extra_body={"routegraph": {**SETTINGS, "max_steps": 0}})
    assert error_of(caught.value)["param"] == "routegraph.max_steps"


def test_not_json_and_unknown_endpoints_answer_in_openai_shape(make_client: Any) -> None:
    http = make_client()._client
    bad = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    missing = http.post("/v1/embeddings", json={"input": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = http.get("/v1/chat/completions")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"


def test_threads_keep_turns_across_app_restarts(make_client: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "threads.sqlite")
    PROMPTS.clear()
    first = ask(make_client(db=db), extra_body={"thread_id": "t1"})
    assert first.headers["x-routegraph-thread-id"] == "t1"

    # A new app on the same file (as after a restart) continues the thread.
    client = make_client(db=db)
    follow_up = [{"role": "user", "content": "And 3 + 3?"}]
    second = ask(client, messages=follow_up, extra_body={"thread_id": "t1"}).parse()
    assert second.model_extra["routegraph"]["turn"] == 2
    assert [m.text for m in PROMPTS[-1]][-3:] == [
        "What is 2 + 2?",
        "4",
        "And 3 + 3?",
    ]  # the model saw the earlier turn

    thread = client._client.get("/v1/threads/t1").json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant"] * 2
    assert [t["turn"] for t in thread["history"]] == [1, 2]
    assert [t["query"] for t in thread["history"]] == ["What is 2 + 2?", "And 3 + 3?"]
    assert client._client.get("/v1/threads/nope").status_code == 404


class SlowChatModel(ScriptedChatModel):
    """A blocking model call of ``delay_s`` (like a remote model), then the scripted answer."""

    delay_s: float = 1.0

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        import time

        time.sleep(self.delay_s)
        return super()._generate(messages, stop, run_manager, **kw)


class Flight:
    """How many model calls are in flight at once (``most``), across every model sharing it.

    Each call waits, up to ``patience_s``, until ``size`` calls have been in flight together
    (2: some call overlapped another), so calls that can run concurrently do overlap whatever
    the machine's load; a server that caps them below ``size`` makes the first call to run out
    of patience end all waiting, and then shows its cap in ``most``. The patience bounds how
    long a broken server takes to fail, never whether a working one passes.
    """

    def __init__(self, size: int = 2, patience_s: float = 30.0):
        self.size, self.patience_s = size, patience_s
        self.now = 0
        self.most = 0
        self.gave_up = False
        self._changed = threading.Condition()

    def __enter__(self) -> Flight:
        with self._changed:
            self.now += 1
            self.most = max(self.most, self.now)
            self._changed.notify_all()
            full = self._changed.wait_for(
                lambda: self.most >= self.size or self.gave_up, timeout=self.patience_s
            )
            self.gave_up = self.gave_up or not full
            self._changed.notify_all()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self.now -= 1


class OverlapChatModel(ScriptedChatModel):
    """A blocking model call that counts itself in ``flight``, then the scripted answer."""

    flight: Any = None

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        with self.flight:
            return super()._generate(messages, stop, run_manager, **kw)


def test_one_process_serves_requests_concurrently() -> None:
    import asyncio

    import httpx

    flight = Flight()

    def build(graph_id: str) -> Any:
        return build_graph(
            graph_id,
            catalog=CATALOG,
            models={
                "small": OverlapChatModel(answers=["4"], flight=flight),
                "large": OverlapChatModel(answers=["4"], flight=flight),
            },
            evaluator=TableEvaluator({"small": 0.9}),
            router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1)),
        )

    app = create_app(build, db=None, catalog=CATALOG)
    body = {"model": "routegraph-cascade", "messages": QUESTION, "routegraph": SETTINGS}

    async def four_at_once() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            replies = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=body) for _ in range(4))
            )
        return [r.status_code for r in replies]

    assert asyncio.run(four_at_once()) == [200] * 4
    # Blocking model calls of different requests overlap (one at a time: never more than 1).
    assert flight.most > 1, "the four requests' model calls ran one at a time"
    assert flight.now == 0


def test_model_threads_sets_how_many_blocking_model_calls_one_process_runs_at_once() -> None:
    """LangGraph runs sync nodes on the event loop's default thread pool, which Python sizes to
    the cores + 4, at most 32 (6 on two cores): without ``model_threads`` a gateway would have
    at most that many upstream calls in flight, however slow the upstream."""
    import asyncio

    import httpx

    crowd = Flight(40)  # more than Python's default pool ever has on any machine

    def build(graph_id: str) -> Any:
        model = OverlapChatModel(answers=["4"], flight=crowd)
        return build_graph(
            graph_id,
            catalog=CATALOG,
            models={"small": model, "large": model},
            evaluator=TableEvaluator({"small": 0.9}),
            router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1)),
        )

    app = create_app(build, db=None, catalog=CATALOG, model_threads=48)
    body = {"model": "routegraph-simple", "messages": QUESTION, "routegraph": SETTINGS}

    async def forty_at_once() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                replies = await asyncio.gather(
                    *(http.post("/v1/chat/completions", json=body) for _ in range(40))
                )
        return [r.status_code for r in replies]

    assert asyncio.run(forty_at_once()) == [200] * 40
    assert crowd.most == 40 and crowd.now == 0
    with pytest.raises(InvalidInputError) as bad:
        create_app(build, model_threads=0)
    assert bad.value.field == "model_threads" and "integer >= 1" in str(bad.value)


def test_a_failing_run_is_a_500_in_openai_shape() -> None:
    def build(graph_id: str) -> Any:
        return _Exploding()

    client = openai.OpenAI(
        base_url="http://testserver/v1",
        api_key="unused",
        http_client=TestClient(create_app(build, db=None, catalog=CATALOG)),
        max_retries=0,
    )
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)
    error = error_of(caught.value)
    assert error["type"] == "server_error" and "disk on fire" in error["message"]


class _Exploding:
    """A compiled graph stand-in whose run fails the way an unexpected bug would."""

    def copy(self, update: dict[str, Any]) -> Any:
        return self

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")


def test_serve_binds_loopback_unless_told_and_commands_have_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from routegraph.app.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve"]).host == "127.0.0.1"
    assert parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9"]).host == "0.0.0.0"
    for command in ("serve", "chat"):
        with pytest.raises(SystemExit) as done:
            parser.parse_args([command, "--help"])
        assert done.value.code == 0
        assert "--db" in capsys.readouterr().out

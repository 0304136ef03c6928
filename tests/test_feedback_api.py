"""``POST /v1/feedback`` and the outcome log behind ``serve --db``, in process.

The app runs on Starlette's test transport with fake chat models (branch logic only) and the
real SQLite store: a completion's id names its outcome record, feedback lands in the same
database file as the threads, and every bad request gets OpenAI's error shape naming the field.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from starlette.testclient import TestClient

from routegraph.app.server.app import create_app
from routegraph.app.server.chat_request import parse_chat_request
from routegraph.core.errors import InvalidInputError
from tests.test_openai_app import CATALOG, QUESTION, SETTINGS, factory


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[openai.OpenAI, TestClient, Path]]:
    db = tmp_path / "serve.sqlite"
    with TestClient(create_app(factory(), db=str(db), catalog=CATALOG)) as http:
        client = openai.OpenAI(
            base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0
        )
        yield client, http, db


def completion(client: openai.OpenAI, **extra: Any) -> Any:
    return client.chat.completions.create(
        model="routegraph-cascade",
        messages=QUESTION,  # type: ignore[arg-type]
        extra_body={"routegraph": SETTINGS, **extra},
    )


def stored(db: Path, outcome_id: str) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM store WHERE key = ?", (outcome_id,)).fetchone()
    assert row is not None, f"no record {outcome_id}"
    return dict(json.loads(row[0]))


def test_a_completion_id_names_its_outcome_and_feedback_lands_in_the_db(served: Any) -> None:
    client, http, db = served
    answer = completion(client)
    trace = answer.model_extra["routegraph"]
    assert answer.id == f"chatcmpl-{trace['outcome_id']}"
    assert stored(db, trace["outcome_id"])["feedback"] is None
    reply = http.post("/v1/feedback", json={"id": answer.id, "score": 0, "comment": "wrong"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["outcome_id"] == trace["outcome_id"]
    record = stored(db, trace["outcome_id"])
    assert record["feedback"]["score"] == 0.0 and record["feedback"]["comment"] == "wrong"
    assert record["feedback"]["source"] == "api"
    assert [c["model"] for c in record["calls"]] == ["small"]


def test_a_streamed_answer_carries_its_outcome_id_in_the_final_trace(served: Any) -> None:
    client, http, db = served
    stream = client.chat.completions.create(
        model="routegraph-cascade",
        messages=QUESTION,  # type: ignore[arg-type]
        stream=True,
        extra_body={"routegraph": SETTINGS},
    )
    traces = [c.model_extra["routegraph"] for c in stream if c.model_extra.get("routegraph")]
    assert len(traces) == 1
    reply = http.post("/v1/feedback", json={"id": traces[0]["outcome_id"], "score": 1})
    assert reply.status_code == 200
    assert stored(db, traces[0]["outcome_id"])["feedback"]["score"] == 1.0


def test_feedback_by_thread_and_turn(served: Any) -> None:
    client, http, db = served
    completion(client, thread_id="t-7")
    second = completion(client, thread_id="t-7")
    reply = http.post("/v1/feedback", json={"thread_id": "t-7", "turn": 2, "score": 0.5})
    assert reply.status_code == 200, reply.text
    assert reply.json()["outcome_id"] == second.model_extra["routegraph"]["outcome_id"]
    assert stored(db, reply.json()["outcome_id"])["thread_id"] == "t-7"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"id": "chatcmpl-x"}, 400, "score"),
        ({"id": "chatcmpl-x", "score": 2}, 400, "score"),
        ({"id": "chatcmpl-x", "score": "good"}, 400, "score"),
        ({"id": 7, "score": 1}, 400, "id"),
        ({"score": 1}, 400, "id"),
        ({"id": "chatcmpl-x", "score": 1, "rating": 5}, 400, "rating"),
        ({"id": "chatcmpl-nope", "score": 1}, 404, "id"),
        ({"thread_id": "nope", "turn": 1, "score": 1}, 404, "id"),
        ([1, 2], 400, None),
    ],
)
def test_bad_feedback_is_refused_naming_the_field(
    served: Any, body: Any, status: int, param: str | None
) -> None:
    _, http, _ = served
    reply = http.post("/v1/feedback", json=body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["param"] == param
    if status == 404:
        assert error["code"] == "outcome_not_found"


def test_feedback_needs_a_db_and_post(tmp_path: Path) -> None:
    with TestClient(create_app(factory(), db="", catalog=CATALOG)) as http:
        reply = http.post("/v1/feedback", json={"id": "chatcmpl-x", "score": 1})
        assert reply.status_code == 400 and "--db" in reply.json()["error"]["message"]
        assert http.get("/v1/feedback").status_code == 405
        assert http.post("/v1/feedback", content=b"{not json").status_code == 400


def test_operator_defaults_sit_under_the_request_and_are_checked_at_start() -> None:
    defaults = {**SETTINGS, "router": "heuristic"}
    app = create_app(factory(), db="", catalog=CATALOG, defaults=defaults)
    runner = app.state.runner
    plain = parse_chat_request({"model": "routegraph-simple", "messages": QUESTION})
    assert runner.context(plain).router == "heuristic"
    named = parse_chat_request(
        {"model": "routegraph-simple", "messages": QUESTION, "routegraph": {"router": "random"}}
    )
    assert runner.context(named).router == "random"
    with pytest.raises(InvalidInputError) as caught:
        bad = {**SETTINGS, "router": "/no/such/folder"}
        create_app(factory(), db="", catalog=CATALOG, defaults=bad)
    assert caught.value.field == "router"


def test_stop_sequences_are_forwarded_and_checked(served: Any) -> None:
    from routegraph.app.server.chat_request import parse_chat_request

    body = {"model": "routegraph-cascade", "messages": QUESTION, "stop": "\n"}
    assert parse_chat_request(body).context["stop"] == ["\n"]
    body["stop"] = ["a", "b"]
    assert parse_chat_request(body).context["stop"] == ["a", "b"]
    _, http, _ = served
    for bad in ([1, 2], ["a", "b", "c", "d", "e"], [""]):
        reply = http.post(
            "/v1/chat/completions",
            json={"model": "routegraph-cascade", "messages": QUESTION, "stop": bad},
        )
        assert reply.status_code == 400 and reply.json()["error"]["param"] == "stop"
    ok = http.post(
        "/v1/chat/completions",
        json={"model": "routegraph-cascade", "messages": QUESTION, "stop": ["\n"],
              "routegraph": SETTINGS},
    )  # fmt: skip
    assert ok.status_code == 200, ok.text


def test_serve_set_gives_the_operators_settings_checked_at_start(tmp_path: Path) -> None:
    """``serve --set explore=...`` is how exploration reaches a server's log: a request may not
    set it (the operator pays for it), so without the flag nobody could."""
    from routegraph.app.commands.serve import checked_operator_settings, operator_settings

    chosen = checked_operator_settings(["explore=1", "outcome_log=embedding"])
    assert chosen == {"explore": 1, "outcome_log": "embedding"}
    empty = tmp_path / "not-a-router"  # exists, holds no router: every request would fail
    empty.mkdir()
    for bad, field in (
        ("explore=2", "--set explore"),
        ("bogus=1", "--set"),
        (f"router={empty}", "--set router"),
    ):
        with pytest.raises(InvalidInputError) as caught:
            checked_operator_settings([bad])
        assert caught.value.field == field
    defaults = operator_settings({"operator": {**SETTINGS, "explore": 1.0}, "router": None})
    db = tmp_path / "serve.sqlite"
    with TestClient(create_app(factory(), db=str(db), catalog=CATALOG, defaults=defaults)) as http:
        client = openai.OpenAI(
            base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0
        )
        answer = client.chat.completions.create(
            model="routegraph-cascade",
            messages=QUESTION,  # type: ignore[arg-type]
        )
    record = stored(db, answer.model_extra["routegraph"]["outcome_id"])
    assert [c["explored"] for c in record["calls"]] == [False, True]  # one other model asked

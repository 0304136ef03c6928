"""Serving a team: keys, what a request may set, per-key budgets and rates, one turn at a time
per thread, errors that are errors, health and metrics.

The app runs in process (Starlette's transports) on fake chat models: branch logic only. The
same rules across real processes on PostgreSQL are in ``test_postgres_threads.py``; ``routegraph
serve``'s own flags are checked at the end through the CLI.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from starlette.testclient import TestClient

from routegraph.app.cli import main as cli
from routegraph.app.server import app as server_app
from routegraph.app.server.admission import ThreadQueues
from routegraph.app.server.app import create_app
from routegraph.app.server.keys import ApiKey, KeyRing, create_key, read_keys_file, revoke_key
from routegraph.core.errors import InvalidInputError
from routegraph.graphs.registry import build_graph
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter, handle
from tests.test_openai_app import SlowChatModel

CATALOG = tiny_catalog()
TO_LARGE = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"],
            "threshold": 0.0}  # fmt: skip
QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
LARGE_CALL_USD = CATALOG.get("large").cost(100, 50)  # the scripted model's usage


class Burst:
    """Holds every admitted model call until each request of a burst was admitted or refused.

    A burst test asks "of N requests sent together, how many does the server admit?". With a
    fixed model delay the answer would depend on the machine's speed: on a busy machine an early
    run can finish, and settle at its real (lower) cost, before the last request even arrives. The
    burst opens only once admissions (counted as the server's ``admit`` returns, since admitted
    runs may wait for one of the few executor threads) plus refusals make N, so the count depends
    on the server's admission logic alone. ``patience_s`` bounds how long a broken server takes
    to fail; it never decides whether a working one passes.
    """

    def __init__(self, size: int, monkeypatch: pytest.MonkeyPatch, patience_s: float = 60.0):
        self.size, self.patience_s = size, patience_s
        self.admitted = self.refused = 0
        self._changed = threading.Condition()
        admit = server_app.admit

        async def counted(*args: Any, **kwargs: Any) -> Any:
            admission = await admit(*args, **kwargs)  # a refusal raises, and is counted on reply
            self._count("admitted")
            return admission

        monkeypatch.setattr(server_app, "admit", counted)

    def _count(self, field: str) -> None:
        with self._changed:
            setattr(self, field, getattr(self, field) + 1)
            self._changed.notify_all()

    def wait(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.admitted + self.refused >= self.size,
                                   timeout=self.patience_s)  # fmt: skip

    def refuse(self) -> None:
        self._count("refused")


class BurstChatModel(ScriptedChatModel):
    """A model call that waits for its burst to be fully admitted or refused, then answers."""

    burst: Any = None

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self.burst.wait()
        return super()._generate(messages, stop, run_manager, **kw)


def factory(delay_s: float = 0.0, failing: bool = False, burst: Burst | None = None) -> Any:
    def build(graph_id: str) -> Any:
        large: Any = (
            FailingChatModel()
            if failing
            else BurstChatModel(answers=["4!"], burst=burst)
            if burst
            else SlowChatModel(answers=["4!"], delay_s=delay_s)
        )
        return build_graph(
            graph_id,
            catalog=CATALOG,
            models={"small": ScriptedChatModel(answers=["4"]), "large": large},
            evaluator=TableEvaluator({"small": 0.9, "large": 0.95}),
            router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.9)),
        )

    return build


def keys_file(tmp_path: Path, **rights: Any) -> tuple[Path, str, ApiKey]:
    path = tmp_path / "keys.json"
    secret, entry = create_key(path, rights.pop("name", "team-a"), **rights)
    return path, secret, entry


def app_with(tmp_path: Path, keys: KeyRing | None, db: str = "", **build: Any) -> Any:
    return create_app(factory(**build), db=db, catalog=CATALOG, keys=keys or KeyRing())


def post(http: Any, key: str | None, **body: Any) -> Any:
    body.setdefault("model", "routegraph-simple")
    body.setdefault("messages", QUESTION)
    body.setdefault("routegraph", dict(TO_LARGE))
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return http.post("/v1/chat/completions", json=body, headers=headers)


# -- keys ---------------------------------------------------------------------------------------
def test_keys_file_keeps_hashes_only_and_the_cli_shows_no_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    assert cli(["keys", "--file", str(path), "create", "team-a", "--limit", "max_tokens=512",
                "--budget-usd", "2", "--rpm", "30", "--json"]) == 0  # fmt: skip
    created = json.loads(capsys.readouterr().out)
    secret = created["key"]
    assert secret.startswith("rg-") and len(secret) > 40
    assert secret not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    (entry,) = read_keys_file(path)
    assert entry.limits == {"max_tokens": 512} and entry.budget_usd == 2.0
    assert entry.requests_per_minute == 30
    assert cli(["keys", "--file", str(path), "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert entry.id in listed and secret not in listed and entry.hash not in listed
    assert cli(["keys", "--file", str(path), "revoke", entry.id]) == 0
    assert read_keys_file(path)[0].revoked is True
    assert cli(["keys", "--file", str(path), "revoke", "key-nope"]) == 2
    assert "KEY_ID" in capsys.readouterr().err
    assert cli(["keys", "--file", str(path), "create", "x", "--limit", "speed=3"]) == 2
    assert "allowed: budget_usd, call_timeout_s, max_input_tokens" in capsys.readouterr().err
    # a key naming a graph or model that does not exist could never be used: refused, not kept
    before = path.read_text()
    assert cli(["keys", "--file", str(path), "create", "x", "--graphs", "simple,nosuch"]) == 2
    assert "--graphs: unknown graph(s) ['nosuch']; allowed: cascade" in capsys.readouterr().err
    assert cli(["keys", "--file", str(path), "create", "x", "--models", "nosuchmodel"]) == 2
    assert "--models: unknown model 'nosuchmodel'" in capsys.readouterr().err
    assert path.read_text() == before


def test_without_a_valid_key_every_v1_route_is_401_in_openai_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("routegraph.app.server.keys.RELOAD_EVERY_S", 0.0)  # look at every request
    path, secret, entry = keys_file(tmp_path)
    with TestClient(app_with(tmp_path, KeyRing(path))) as http:
        for reply in (
            post(http, None),
            post(http, "rg-wrong"),
            http.get("/v1/models"),
            http.get("/v1/threads/t1"),
            http.post("/v1/feedback", json={"id": "x", "score": 1}),
        ):
            assert reply.status_code == 401, reply.text
            assert reply.json()["error"]["code"] == "invalid_api_key"
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="rg-wrong",
                               http_client=http, max_retries=0)  # fmt: skip
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        assert post(http, secret).status_code == 200
        assert http.get("/healthz").status_code == 200  # probes need no key
        revoke_key(path, entry.id)  # the running server re-reads the file (within a second)
        assert post(http, secret).status_code == 401


def test_env_keys_are_accepted_and_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTEGRAPH_API_KEYS", "alpha-key, beta-key")
    ring = KeyRing.from_environment()
    assert ring.enabled
    alpha = ring.verify("Bearer alpha-key")
    assert alpha is not None and alpha.id.startswith("env-") and "alpha-key" not in repr(alpha)
    assert ring.verify("Bearer beta-key") is not None
    assert ring.verify("Bearer gamma") is None and ring.verify("Basic alpha-key") is None


# -- what a request may set ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "param", "words"),
    [
        ({"routegraph": {**TO_LARGE, "catalog_path": "/etc/shadow"}}, "routegraph.catalog_path",
         "operator"),
        ({"routegraph": {**TO_LARGE, "router": "/etc"}}, "routegraph.router", "not served here"),
        ({"routegraph": {**TO_LARGE, "explore": 1.0}}, "routegraph.explore", "operator"),
        ({"max_tokens": 10**40}, "max_tokens", "limit 4096"),
        ({"routegraph": {**TO_LARGE, "samples": 40}}, "routegraph.samples", "limit 10"),
        ({"routegraph": {**TO_LARGE, "max_steps": 10**12}}, "routegraph.max_steps", "limit 8"),
        ({"routegraph": {**TO_LARGE, "threshold": "0.5"}}, "routegraph.threshold", "not a number"),
        ({"routegraph": {**TO_LARGE, "temperature": "1"}}, "routegraph.temperature",
         "not a number"),
        ({"routegraph": {**TO_LARGE, "outcome_log": "prompt", "budget_usd": True}},
         "routegraph.budget_usd", "not a number"),
    ],
)  # fmt: skip
def test_server_side_settings_and_ceilings_are_refused_naming_the_field(
    tmp_path: Path, extra: dict[str, Any], param: str, words: str
) -> None:
    with TestClient(app_with(tmp_path, None)) as http:
        reply = post(http, None, **extra)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and words in error["message"]


def test_bodies_that_broke_the_parser_are_400(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path, None)) as http:
        nested = '{"model": "routegraph-simple", "messages": ' + "[" * 50_000 + "]" * 50_000 + "}"
        not_json = (
            '{"model": "routegraph-simple", "messages": [], "routegraph": {"budget_usd": NaN}}'
        )
        for raw in (nested, not_json):
            reply = http.post("/v1/chat/completions", content=raw,
                              headers={"content-type": "application/json"})  # fmt: skip
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["type"] == "invalid_request_error"


def test_a_key_may_lower_but_not_raise_its_ceilings_and_uses_only_its_graphs_and_models(
    tmp_path: Path,
) -> None:
    path, secret, entry = keys_file(
        tmp_path, graphs=["simple"], models=["small", "large"], limits={"max_tokens": 64}
    )
    with TestClient(app_with(tmp_path, KeyRing(path))) as http:
        assert post(http, secret, max_tokens=32).status_code == 200
        over = post(http, secret, max_tokens=65)
        assert over.status_code == 400
        assert over.json()["error"]["code"] == "limit_exceeded"
        assert f"for key {entry.id}" in over.json()["error"]["message"]
        graph = post(http, secret, model="routegraph-cascade")
        assert graph.status_code == 403 and "'cascade'" in graph.json()["error"]["message"]
        model = post(http, secret, routegraph={**TO_LARGE, "strong_model": "medium",
                                               "models": ["small", "medium"]})  # fmt: skip
        assert model.status_code == 403
        assert model.json()["error"]["param"] == "routegraph.strong_model"


def test_a_thread_belongs_to_the_key_that_made_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key_a, _ = create_key(path, "a")
    key_b, _ = create_key(path, "b")
    db = str(tmp_path / "threads.sqlite")
    with TestClient(app_with(tmp_path, KeyRing(path), db=db)) as http:
        assert post(http, key_a, thread_id="t1").json()["routegraph"]["turn"] == 1
        auth_b = {"authorization": f"Bearer {key_b}"}
        assert http.get("/v1/threads/t1", headers=auth_b).status_code == 404
        # B's 't1' is B's own, new thread; A's still has exactly its one turn
        assert post(http, key_b, thread_id="t1").json()["routegraph"]["turn"] == 1
        mine = http.get("/v1/threads/t1", headers={"authorization": f"Bearer {key_a}"}).json()
        assert len(mine["history"]) == 1


def test_a_key_rates_only_its_own_answers(tmp_path: Path) -> None:
    """Feedback trains the router (``routegraph learn``): another key's answer, named by its
    completion id, is a 404 like an unknown id (ids cannot be probed), and its score stays."""
    path = tmp_path / "keys.json"
    key_a, _ = create_key(path, "a")
    key_b, _ = create_key(path, "b")
    admin, _ = create_key(path, "ops", admin=True)
    db = str(tmp_path / "threads.sqlite")
    with TestClient(app_with(tmp_path, KeyRing(path), db=db)) as http:
        answer_id = post(http, key_a).json()["id"]

        def rate(key: str, score: float) -> Any:
            return http.post("/v1/feedback", json={"id": answer_id, "score": score},
                             headers={"authorization": f"Bearer {key}"})  # fmt: skip

        assert rate(key_a, 1.0).status_code == 200
        refused = rate(key_b, 0.0)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "outcome_not_found"
        unknown = http.post("/v1/feedback", json={"id": "chatcmpl-nosuch", "score": 0.0},
                            headers={"authorization": f"Bearer {key_b}"})  # fmt: skip
        assert unknown.status_code == 404
        assert rate(admin, 0.5).json()["feedback"]["score"] == 0.5  # operators may correct
        assert rate(key_a, 0.75).json()["feedback"]["score"] == 0.75


# -- one turn at a time, budgets, rates ---------------------------------------------------------
def at_once(
    http: TestClient, bodies: list[dict[str, Any]], key: str | None, burst: Burst
) -> list[Any]:
    """Send ``bodies`` together (one thread each) to the app ``http`` runs on its event loop;
    each refusal is counted on ``burst``, which holds the admitted calls until all are in."""
    headers = {"authorization": f"Bearer {key}"} if key else {}

    def send(one: dict[str, Any]) -> Any:
        reply = http.post("/v1/chat/completions", json=one, headers=headers)
        if reply.status_code != 200:
            burst.refuse()
        return reply

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "routegraph-simple", "messages": QUESTION, "routegraph": dict(TO_LARGE),
            **extra}  # fmt: skip


def test_concurrent_turns_on_one_thread_one_runs_the_others_get_409_and_none_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "threads.sqlite")
    burst = Burst(4, monkeypatch)
    app = app_with(tmp_path, None, db=db, burst=burst)
    with TestClient(app) as http:  # the lifespan opens the SQLite ledger the requests share
        replies = at_once(http, [body(thread_id="t")] * 4, None, burst)
        codes = sorted(r.status_code for r in replies)
        assert codes == [200, 409, 409, 409]
        busy = next(r for r in replies if r.status_code == 409).json()["error"]
        assert busy["code"] == "thread_busy" and busy["param"] == "thread_id"
        kept = http.get("/v1/threads/t").json()
        assert [h["turn"] for h in kept["history"]] == [1]  # the accepted turn, nothing else
        assert post(http, None, thread_id="t").json()["routegraph"]["turn"] == 2  # freed


class InLine:
    """Counts requests that reached a thread's line (``ThreadQueues.wait_turn``), so a test can
    send the next request only once the one before is in line: arrival order without sleeps."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.entered = 0
        self._changed = threading.Condition()
        wait_turn = ThreadQueues.wait_turn

        async def counted(queues: ThreadQueues, *args: Any, **kwargs: Any) -> Any:
            with self._changed:
                self.entered += 1
                self._changed.notify_all()
            return await wait_turn(queues, *args, **kwargs)

        monkeypatch.setattr(ThreadQueues, "wait_turn", counted)

    def wait_for(self, count: int, patience_s: float = 30.0) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.entered >= count, timeout=patience_s)


def one_after_another(http: TestClient, bodies: list[dict[str, Any]], line: InLine) -> list[Any]:
    """Send ``bodies`` concurrently, each once the one before has reached its thread's line (a
    body without ``multitask_strategy: enqueue`` on a server that rejects is sent last)."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        futures, before = [], line.entered
        for sent, one in enumerate(bodies, start=1):
            futures.append(pool.submit(http.post, "/v1/chat/completions", json=one))
            if sent < len(bodies):
                line.wait_for(before + sent)
        return [f.result() for f in futures]


def asking(question: str, **extra: Any) -> dict[str, Any]:
    return body(messages=[{"role": "user", "content": question}], **extra)


def test_enqueued_turns_on_one_thread_all_run_one_at_a_time_in_arrival_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = InLine(monkeypatch)
    app = create_app(factory(delay_s=0.4), db=str(tmp_path / "t.sqlite"), catalog=CATALOG,
                     keys=KeyRing())  # fmt: skip
    questions = [f"Question number {i}?" for i in range(4)]
    with TestClient(app) as http:
        replies = one_after_another(
            http, [asking(q, thread_id="t", multitask_strategy="enqueue") for q in questions], line
        )
        assert [r.status_code for r in replies] == [200] * 4, [r.text for r in replies]
        assert [r.json()["routegraph"]["turn"] for r in replies] == [1, 2, 3, 4]
        kept = http.get("/v1/threads/t").json()
        asked = [m["content"] for m in kept["messages"] if m["role"] == "user"]
        assert asked == questions  # every turn kept, in the order the requests came
        assert [h["turn"] for h in kept["history"]] == [1, 2, 3, 4]
        # a request that says reject still gets 409 while a turn runs
        mixed = one_after_another(http, [asking("five?", thread_id="t",
                                                multitask_strategy="enqueue"),
                                         asking("six?", thread_id="t")], line)  # fmt: skip
        assert [r.status_code for r in mixed] == [200, 409]
        assert "multitask_strategy" in mixed[1].json()["error"]["message"]


def test_the_servers_default_strategy_and_its_queue_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = InLine(monkeypatch)
    app = create_app(factory(delay_s=0.8), db=str(tmp_path / "t.sqlite"), catalog=CATALOG,
                     keys=KeyRing(), multitask="enqueue", queue_timeout_s=0.3)  # fmt: skip
    with TestClient(app) as http:
        pair = [asking("one?", thread_id="q"), asking("two?", thread_id="q")]
        first, late = one_after_another(http, pair, line)
        assert first.status_code == 200
        assert late.status_code == 409, late.text
        error = late.json()["error"]
        assert error["code"] == "thread_busy" and "queue timeout" in error["message"]
        # the timed-out request left nothing held: the next one runs at once
        assert post(http, None, thread_id="q").json()["routegraph"]["turn"] == 2
    with pytest.raises(InvalidInputError) as bad:
        create_app(factory(), multitask="interrupt")
    assert bad.value.field == "multitask"


def test_an_unknown_multitask_strategy_is_a_400_naming_the_field(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path, None)) as http:
        reply = http.post("/v1/chat/completions", json=body(multitask_strategy="rollback"))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "multitask_strategy" and "reject, enqueue" in error["message"]


def test_a_request_cancelled_while_queued_leaves_the_line_and_holds_nothing() -> None:
    import asyncio

    from routegraph.app.ledger import MemoryLedger
    from routegraph.app.server.admission import ThreadQueues

    async def scenario() -> None:
        ledger, queues = MemoryLedger(), ThreadQueues(timeout_s=5.0)
        assert await queues.wait_turn(ledger, "t", "first") is None  # holds lock and lease
        waiting = asyncio.create_task(queues.wait_turn(ledger, "t", "second"))
        await asyncio.sleep(0.05)
        waiting.cancel()  # the client left while in line
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await ledger.release_thread("t", "first")
        queues.done("t")
        assert queues.locks == {} and queues.users == {}  # nothing left behind
        assert await queues.wait_turn(ledger, "t", "third") is None  # the line moves on
        assert not await ledger.claim_thread("t", "fourth")  # and "third" holds the lease
        await ledger.release_thread("t", "third")
        queues.done("t")

    asyncio.run(scenario())


def test_a_key_budget_admits_only_what_it_can_pay_for_and_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    per_request = 0.01  # each run's worst case (its budget_usd): ten fit in the key's budget
    path, secret, entry = keys_file(tmp_path, budget_usd=10 * per_request)
    db = str(tmp_path / "spend.sqlite")
    bodies = [body(routegraph={**TO_LARGE, "budget_usd": per_request})] * 50  # the 50
    burst = Burst(len(bodies), monkeypatch)
    app = app_with(tmp_path, KeyRing(path), db=db, burst=burst)
    with TestClient(app) as http:
        replies = at_once(http, bodies, secret, burst)
        assert sorted(r.status_code for r in replies) == [200] * 10 + [429] * 40
        refused = next(r for r in replies if r.status_code == 429).json()["error"]
        assert refused["code"] == "insufficient_quota" and entry.id in refused["message"]
        spent = http.portal.call(app.state.runner.ledger.spend, entry.id)
    assert spent == pytest.approx((10 * LARGE_CALL_USD, 0.0))  # settled at the real cost
    again = app_with(tmp_path, KeyRing(path), db=db)
    with TestClient(again) as http:
        spent_after = http.portal.call(again.state.runner.ledger.spend, entry.id)
    assert spent_after[0] == pytest.approx(10 * LARGE_CALL_USD)


def test_a_key_over_its_rate_gets_429_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr("routegraph.app.server.keys.RELOAD_EVERY_S", 0.0)  # new keys at once
    path = tmp_path / "keys.json"
    with TestClient(app_with(tmp_path, KeyRing(path))) as http:
        for attempt in range(2):  # again with a fresh key if a minute boundary fell in between
            secret, _ = create_key(path, f"rate-{attempt}", requests_per_minute=2)
            minute = int(time.time() // 60)
            first, second, third = (post(http, secret) for _ in range(3))
            if int(time.time() // 60) == minute:
                break
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert third.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(third.headers["retry-after"]) <= 60


# -- errors are errors, and what an operator sees -----------------------------------------------
def test_no_model_answered_is_a_502_with_the_reasons_and_trace(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path, None, failing=True)) as http:
        plain = post(http, None, routegraph={**TO_LARGE, "models": ["large"],
                                             "weak_model": "large"})  # fmt: skip
        streamed = post(http, None, stream=True, routegraph={**TO_LARGE, "models": ["large"],
                                                             "weak_model": "large"})  # fmt: skip
    assert plain.status_code == 502, plain.text
    error = plain.json()
    assert error["error"]["code"] == "no_model_answered"
    assert "connection refused" in error["error"]["message"]
    assert error["routegraph"]["chosen_model"] is None
    assert streamed.status_code == 502 and "data:" not in streamed.text


def test_health_metrics_and_one_decision_log_line_without_the_prompt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, secret, entry = keys_file(tmp_path)
    db = str(tmp_path / "threads.sqlite")
    secret_prompt = [{"role": "user", "content": "my password is hunter2"}]
    with TestClient(app_with(tmp_path, KeyRing(path), db=db)) as http:
        assert http.get("/readyz").json()["status"] == "ready"
        with caplog.at_level(logging.INFO, logger="routegraph.decisions"):
            assert post(http, secret, messages=secret_prompt).status_code == 200
            assert post(http, None).status_code == 401
        metrics = http.get("/metrics").text
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "routegraph.decisions"]
    assert [(x["status"], x["key"]) for x in lines] == [(200, entry.id), (401, "none")]
    assert lines[0]["chosen_model"] == "large" and lines[0]["graph"] == "simple"
    assert lines[0]["cost_usd"] == pytest.approx(LARGE_CALL_USD)
    assert "hunter2" not in caplog.text and secret not in caplog.text
    assert (
        f'routegraph_requests_total{{graph="simple",key="{entry.id}",status="200"}} 1.0' in metrics
    )
    assert (
        f'routegraph_answers_total{{graph="simple",key="{entry.id}",model="large"}} 1.0' in metrics
    )
    assert 'routegraph_requests_total{graph="unknown",key="none",status="401"} 1.0' in metrics


def test_serve_refuses_a_public_address_without_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "--host" in err and "--insecure-no-auth" in err
    assert cli(["serve", "--keys", "/nonexistent/keys.json"]) == 2
    with pytest.raises(SystemExit) as done:
        cli(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("routegraph 0.")


# -- threads: interrupted turns and resent histories --------------------------------------------
def test_a_failed_turn_leaves_the_thread_as_before_and_the_question_can_be_asked_again(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "threads.sqlite")
    with TestClient(app_with(tmp_path, None, db=db)) as http:
        assert post(http, None, thread_id="t").json()["routegraph"]["turn"] == 1
    failing = {**TO_LARGE, "models": ["large"], "weak_model": "large"}
    with TestClient(app_with(tmp_path, None, db=db, failing=True)) as http:
        assert post(http, None, thread_id="t", routegraph=failing).status_code == 502
        kept = http.get("/v1/threads/t").json()
    assert kept["interrupted"] is True  # something was left behind the last answered turn
    assert [h["turn"] for h in kept["history"]] == [1]
    assert [m["role"] for m in kept["messages"]] == ["user", "assistant"]
    with TestClient(app_with(tmp_path, None, db=db)) as http:
        again = post(http, None, thread_id="t")
        kept = http.get("/v1/threads/t").json()
    assert again.json()["routegraph"]["turn"] == 2  # no gap where the failed turn was
    assert [m["role"] for m in kept["messages"]] == ["user", "assistant"] * 2
    assert kept["interrupted"] is False


def test_a_cancelled_turn_is_not_kept(tmp_path: Path) -> None:
    import asyncio

    from routegraph.app.server.chat_request import parse_chat_request
    from routegraph.core.cancellation import RunCancelledError

    db = str(tmp_path / "threads.sqlite")
    app = app_with(tmp_path, None, db=db, delay_s=2.0)
    with TestClient(app) as http:
        runner = app.state.runner

        async def start_then_cancel() -> None:
            chat = parse_chat_request(body(thread_id="t"))
            task = asyncio.ensure_future(runner.answer(chat))
            await asyncio.sleep(0.5)  # the large model is called: the question is checkpointed
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RunCancelledError):
                await task

        http.portal.call(start_then_cancel)
        left = http.get("/v1/threads/t").json()
        assert left["interrupted"] is True and left["messages"] == []
        assert post(http, None, thread_id="t").json()["routegraph"]["turn"] == 1
        kept = http.get("/v1/threads/t").json()
    assert [m["role"] for m in kept["messages"]] == ["user", "assistant"]


def test_a_client_resending_the_whole_conversation_does_not_duplicate_turns(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "threads.sqlite")
    with TestClient(app_with(tmp_path, None, db=db)) as http:
        first = post(http, None, thread_id="t").json()
        answer = first["choices"][0]["message"]["content"]
        whole = [*QUESTION, {"role": "assistant", "content": answer},
                 {"role": "user", "content": "And 3 + 3?"}]  # fmt: skip
        second = post(http, None, thread_id="t", messages=whole).json()
        kept = http.get("/v1/threads/t").json()
    assert second["routegraph"]["turn"] == 2
    assert [m["content"] for m in kept["messages"] if m["role"] == "user"] == [
        "What is 2 + 2?",
        "And 3 + 3?",
    ]


# -- context windows ----------------------------------------------------------------------------
def windowed_app(tmp_path: Path) -> Any:
    """'large' takes 300 tokens in all; it records the prompts it is sent."""
    from routegraph.core.catalog import Catalog, ModelSpec
    from tests.test_turns import PROMPTS, RecordingChatModel

    PROMPTS.clear()
    specs = dict(CATALOG.specs)
    specs["large"] = ModelSpec("large", "fake", "large", "cloud", 10.0, 30.0, context_window=300)
    catalog = Catalog(specs, "windowed")

    def build(graph_id: str) -> Any:
        return build_graph(
            graph_id,
            catalog=catalog,
            models={
                "small": ScriptedChatModel(answers=["4"]),
                "large": RecordingChatModel(answers=["4!"]),
            },  # fmt: skip
            evaluator=TableEvaluator({"large": 0.95}),
            router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.9)),
        )

    return create_app(build, db="", catalog=catalog, keys=KeyRing())


def test_a_long_conversation_is_trimmed_to_the_window_by_real_token_counts(
    tmp_path: Path,
) -> None:
    from routegraph.nodes.turns import message_tokens
    from tests.test_turns import PROMPTS

    chatter = [{"role": "user" if i % 2 == 0 else "assistant", "content": "hi"}
               for i in range(499)]  # fmt: skip
    with TestClient(windowed_app(tmp_path)) as http:
        reply = post(http, None, messages=chatter, max_tokens=100)
    assert reply.status_code == 200, reply.text
    (sent,) = PROMPTS
    # 499 short messages are ~3,500 tokens; what reached the model fits 300 - 100 - margin
    assert 10 < len(sent) < 499 and message_tokens(sent) <= 300 - 100
    assert sent[-1].text == "hi" and sent[0].type == "human"  # newest kept, starts on a question


def test_a_message_that_cannot_fit_any_window_is_a_400(tmp_path: Path) -> None:
    huge = [{"role": "user", "content": "word " * 400}]
    with TestClient(windowed_app(tmp_path)) as http:
        only_large = {**TO_LARGE, "models": ["large"], "weak_model": "large"}
        reply = post(http, None, messages=huge, max_tokens=100, routegraph=only_large)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert "takes 300" in error["message"]


@pytest.mark.slow
def test_the_token_count_does_not_undercount_the_local_model(smollm2_gguf: Path) -> None:
    """What ``fit_window`` lets through for SmolLM2 fits llama.cpp's own count of the prompt."""
    from langchain_core.messages import AIMessage, HumanMessage

    from nodes.calls import fit_window
    from routegraph.core.providers.llamacpp import (
        LlamaCppChatModel,
        chatml_prompt_tokens,
        load_llama,
        to_openai_messages,
    )

    chatter = [HumanMessage("hi") if i % 2 == 0 else AIMessage("hello!") for i in range(499)]
    fitted = fit_window(chatter, 2048, 256)
    assert fitted is not None and len(fitted) < 499
    model = LlamaCppChatModel()
    llama = load_llama(model.model_path, model.n_ctx)
    assert chatml_prompt_tokens(llama, to_openai_messages(fitted)) + 256 <= 2048
    assert model.invoke(fitted, max_tokens=256).content  # llama.cpp accepts it


# -- the policy's own rules, unit by unit -------------------------------------------------------
def test_the_documented_ceilings() -> None:
    from routegraph.app.server.policy import SERVER_LIMITS

    assert SERVER_LIMITS == {  # README, "Serving a team"
        "max_tokens": 4096, "samples": 10, "max_steps": 8, "max_rounds": 4, "max_subtasks": 8,
        "budget_usd": 5.0, "max_input_tokens": 32768, "call_timeout_s": 120.0,
    }  # fmt: skip


def test_unnamed_settings_are_capped_at_the_ceiling_never_raised_to_it() -> None:
    from routegraph.app.server.keys import ApiKey
    from routegraph.app.server.policy import RequestPolicy

    policy = RequestPolicy()
    low = ApiKey(id="k-low", name="low", hash="0" * 64, limits={"max_tokens": 64})
    high = ApiKey(id="k-high", name="high", hash="1" * 64, limits={"max_tokens": 1000})
    assert policy.apply({}, {}, "simple", low)["max_tokens"] == 64  # the default 256, capped
    assert policy.apply({}, {}, "simple", high)["max_tokens"] == 256  # the default, kept
    assert policy.apply({"max_tokens": 32}, {}, "simple", low)["max_tokens"] == 32
    assert policy.apply({}, {}, "simple", None)["budget_usd"] == 1.0  # default under $5


def test_every_documented_ceiling_can_be_set_per_key() -> None:
    """The README's ceilings can all be lowered per key (``keys create --limit``)."""
    from routegraph.app.server.errors import ApiError
    from routegraph.app.server.keys import LIMIT_FIELDS
    from routegraph.app.server.policy import SERVER_LIMITS, RequestPolicy

    assert set(LIMIT_FIELDS) == set(SERVER_LIMITS)
    key = ApiKey(id="k-low", name="low", hash="0" * 64,
                 limits={"max_input_tokens": 500, "call_timeout_s": 5.0})  # fmt: skip
    applied = RequestPolicy().apply({}, {}, "simple", key)
    assert (applied["max_input_tokens"], applied["call_timeout_s"]) == (500, 5.0)
    with pytest.raises(ApiError) as refused:
        RequestPolicy().apply({"call_timeout_s": 60}, {}, "simple", key)
    assert refused.value.status == 400 and "for key k-low" in str(refused.value)


def test_an_unknown_setting_lists_only_what_a_request_may_set() -> None:
    from routegraph.app.server.errors import ApiError
    from routegraph.app.server.policy import SERVER_ONLY, RequestPolicy

    with pytest.raises(ApiError) as refused:
        RequestPolicy().apply({"temprature": 0.5}, {}, "simple", None)
    message = str(refused.value)
    assert "unknown setting(s) ['temprature']" in message and "temperature" in message
    assert not any(name in message for name in SERVER_ONLY)


def test_a_request_may_make_the_outcome_log_more_private_only() -> None:
    from routegraph.app.server.errors import ApiError
    from routegraph.app.server.policy import RequestPolicy

    policy = RequestPolicy(operator={"outcome_log": "embedding"})
    for mode in ("embedding", "off"):
        assert policy.apply({"outcome_log": mode}, {}, "simple", None)["outcome_log"] == mode
    with pytest.raises(ApiError) as refused:
        policy.apply({"outcome_log": "prompt"}, {}, "simple", None)
    assert refused.value.status == 400
    assert "allowed: embedding, off" in refused.value.message
    assert refused.value.param == "routegraph.outcome_log"
    assert policy.apply({}, {}, "simple", None)["outcome_log"] == "embedding"


def test_the_operators_router_and_the_built_in_ones_are_allowed_with_or_without_naming() -> None:
    from routegraph.app.server.errors import ApiError
    from routegraph.app.server.policy import RequestPolicy

    folder = "".join(["/srv/routers/", "team"])  # equal to the operator's, not the same object
    policy = RequestPolicy(operator={"router": "/srv/routers/team"})
    assert policy.apply({}, {}, "simple", None)["router"] == "/srv/routers/team"
    assert policy.apply({"router": folder}, {}, "simple", None)["router"] == folder
    assert policy.apply({"router": "heuristic"}, {}, "simple", None)["router"] == "heuristic"
    with pytest.raises(ApiError, match="not served here"):
        policy.apply({"router": "/srv/routers/other"}, {}, "simple", None)


def test_a_keys_model_rights_cover_the_graphs_default_models_and_the_fallback_chains() -> None:
    """A key limited to some models may not reach others through a setting it left out (the
    default ``models`` list of a cascade) or through a catalog fallback of a model it named."""
    from dataclasses import replace

    from routegraph.app.server.errors import ApiError
    from routegraph.app.server.policy import RequestPolicy

    local_only = ApiKey(id="k-local", name="local", hash="0" * 64, models=["small"])
    policy = RequestPolicy(catalog=CATALOG)
    pair = {"weak_model": "small", "strong_model": "small"}
    assert policy.apply(pair, {}, "simple", local_only)["strong_model"] == "small"
    with pytest.raises(ApiError) as unnamed:  # RouteContext's default models: [smollm2, cloud]
        policy.apply(pair, {}, "cascade", local_only)
    assert unnamed.value.status == 403 and unnamed.value.param == "routegraph.models"
    assert "'smollm2-135m' (models)" in unnamed.value.message
    assert policy.apply({"models": ["small"]}, {}, "cascade", local_only)["models"] == ["small"]
    with pytest.raises(ApiError) as minions:
        policy.apply({}, {}, "minions", local_only)  # default weak / strong
    assert minions.value.param == "routegraph.weak_model"

    specs = {spec.name: spec for spec in CATALOG}
    specs["small"] = replace(specs["small"], fallback="medium")
    chained = RequestPolicy(catalog=type(CATALOG)(specs, "chained"))
    with pytest.raises(ApiError) as fallback:
        chained.apply({"models": ["small"]}, {}, "cascade", local_only)
    assert "'medium' (models, the fallback of 'small')" in fallback.value.message
    both = ApiKey(id="k-two", name="two", hash="1" * 64, models=["small", "medium"])
    assert chained.apply({"models": ["small"]}, {}, "specialist", both)["models"] == ["small"]


def test_a_request_may_ask_for_exactly_the_ceiling() -> None:
    from routegraph.app.server.errors import ApiError
    from routegraph.app.server.policy import RequestPolicy

    policy = RequestPolicy()
    assert policy.apply({"max_tokens": 4096}, {}, "simple", None)["max_tokens"] == 4096
    with pytest.raises(ApiError) as over:
        policy.apply({"max_tokens": 4097}, {"max_tokens": "max_tokens"}, "simple", None)
    assert over.value.message == (
        "'max_tokens' 4097 is above this server's limit 4096; allowed: at most 4096."
    )
    with pytest.raises(ApiError) as dear:  # a whole-dollar ceiling reads as one
        policy.apply({"budget_usd": 6}, {}, "simple", None)
    assert "limit 5; allowed: at most 5." in dear.value.message


def test_an_unknown_outcome_log_mode_is_a_400_naming_the_field(tmp_path: Path) -> None:
    with TestClient(app_with(tmp_path, None)) as http:
        reply = post(http, None, routegraph={**TO_LARGE, "outcome_log": "everything"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == "routegraph.outcome_log"


def test_a_reservation_left_by_a_dead_run_is_given_back_when_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-run never settles; its reservation must not hold the key's budget
    for ever. Simulated by reserving without settling, then moving the clock past the lease."""
    import asyncio

    from routegraph.app import ledger as ledger_module
    from routegraph.app.checkpoints import open_persistence

    async def scenario() -> tuple[float, float, float, tuple[float, float]]:
        async with open_persistence(tmp_path / "ledger.sqlite") as kept:
            ledger = kept.ledger
            dead = await ledger.reserve("k", 0.6, 1.0, "host/1/dead")  # never settled
            refused = await ledger.reserve("k", 0.6, 1.0, "host/2/a")  # only 0.4 left: granted
            await ledger.settle("k", refused, 0.1, "host/2/a")
            later = time.time() + ledger_module.LEASE_S + 1
            monkeypatch.setattr(ledger_module.time, "time", lambda: later)
            after = await ledger.reserve("k", 0.6, 1.0, "host/3/b")  # the dead 0.6 is back
            await ledger.settle("k", after, 0.2, "host/3/b")
            return dead, refused, after, await ledger.spend("k")

    dead, partial, after, (spent, reserved) = asyncio.run(scenario())
    assert (dead, after) == (0.6, 0.6)
    assert partial == pytest.approx(0.4)  # what the dead run's reservation left
    assert spent == pytest.approx(0.3) and reserved == pytest.approx(0.0)


def test_a_dead_runs_reservation_is_given_back_while_requests_still_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that fit the budget skip the look for expired reservations, but not for longer
    than RECLAIM_EVERY_S: the key's reserved total does not carry a dead run's share for ever."""
    import asyncio

    from routegraph.app import ledger as ledger_module
    from routegraph.app.checkpoints import open_persistence

    async def scenario() -> tuple[float, float]:
        async with open_persistence(tmp_path / "ledger.sqlite") as kept:
            ledger = kept.ledger
            await ledger.reserve("k", 0.5, 10.0, "host/1/dead")  # never settled
            wall, clock = time.time(), time.monotonic()
            monkeypatch.setattr(
                ledger_module.time, "time", lambda: wall + ledger_module.LEASE_S + 1
            )
            soon = await ledger.reserve("k", 0.1, 10.0, "host/2/a")  # fits: no look yet
            await ledger.settle("k", soon, 0.1, "host/2/a")
            held_soon = (await ledger.spend("k"))[1]
            later = clock + ledger_module.RECLAIM_EVERY_S + 1
            monkeypatch.setattr(ledger_module.time, "monotonic", lambda: later)
            await ledger.settle(
                "k", await ledger.reserve("k", 0.1, 10.0, "host/3/b"), 0.1, "host/3/b"
            )
            return held_soon, (await ledger.spend("k"))[1]

    held_soon, held_later = asyncio.run(scenario())
    assert held_soon == pytest.approx(0.5)  # the dead run's share, not yet looked for
    assert held_later == pytest.approx(0.0)  # given back by the periodic look


def test_the_ledger_waits_off_the_loop_while_another_writer_holds_the_file(tmp_path: Path) -> None:
    """Ledger statements run on the event loop when the SQLite file is free; when another
    writer (another process, the thread saver) holds it, they wait in a thread instead, so the
    loop keeps serving and the statement still lands."""
    import asyncio
    import sqlite3

    from routegraph.app.checkpoints import open_persistence

    async def scenario() -> tuple[float, float, int]:
        async with open_persistence(tmp_path / "ledger.sqlite") as kept:
            blocker = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # holds the file's write lock
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticking = asyncio.create_task(tick())
            asyncio.get_running_loop().call_later(0.4, blocker.execute, "COMMIT")
            started = time.monotonic()
            granted = await kept.ledger.reserve("k", 0.5, 1.0, "host/1/a")
            waited = time.monotonic() - started
            ticking.cancel()
            blocker.close()
            return granted, waited, ticks

    granted, waited, ticks = asyncio.run(scenario())
    assert granted == 0.5
    assert waited >= 0.3  # it waited for the lock ...
    assert ticks >= 10  # ... and the loop ran meanwhile


def test_the_ledger_answers_on_another_threads_loop(tmp_path: Path) -> None:
    """The inline connection belongs to the thread that opened the ledger; a call from another
    thread's event loop takes the thread-pool path instead of failing."""
    import asyncio

    from routegraph.app.checkpoints import open_persistence

    async def scenario() -> float:
        async with open_persistence(tmp_path / "ledger.sqlite") as kept:

            def elsewhere() -> float:
                return asyncio.run(kept.ledger.reserve("k", 0.5, 1.0, "host/1/a"))

            return await asyncio.to_thread(elsewhere)

    assert asyncio.run(scenario()) == 0.5

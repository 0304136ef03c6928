"""No runaway work and no broken threads, on a real ``routegraph serve`` and the real SmolLM2.

- a client that gives up is cancelled, model decoding included: the server's count of sampled
  tokens stops, and the next request is answered; also a streamed request whose graph judges
  before it streams (nothing is sent until its run ends);
- SIGTERM stops a server that is decoding a long answer (``--shutdown-timeout``);
- a server killed with SIGKILL in the middle of a turn leaves the thread at its last answered
  turn: after a restart the thread shows no unanswered question and the next turn is numbered
  as if the killed one had never started.

The tests that keep a thread run on a SQLite file and on PostgreSQL (the suite's own server).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import threading
import time
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

pytestmark = pytest.mark.slow

LOCAL = "router-heuristic-1.0"  # every turn on the embedded model
LONG = {
    "model": "routegraph-cascade",
    "max_tokens": 2000,
    "temperature": 0.8,
    "messages": [
        {
            "role": "user",
            "content": "Write a very long story about dragons, in many "
            "chapters, with every dragon named.",
        }
    ],  # fmt: skip
    "routegraph": {"evaluator": "self_consistency", "samples": 10, "models": ["smollm2-135m"]},
}


def start(launch_server: Launcher, name: str, *extra: str) -> ServerProcess:
    port = free_port()
    argv = [executable("routegraph"), "serve", "--port", str(port), *extra]
    server = launch_server(name, argv, port=port, drop_env=CLOUD_ENV_VARS)
    wait_for_http(server, "/healthz", timeout_s=120)
    return server


def metric(server: ServerProcess, name: str, labels: str = "") -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    found = re.search(rf"^{re.escape(name + labels)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def _quietly(url: str, body: dict[str, Any]) -> None:
    """Send a request whose server the test then stops (no reply is expected)."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url, json=body, timeout=600)


def wait_until(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def assert_left_and_stopped(server: ServerProcess, graph: str) -> None:
    """The request was counted as left by its client (499), and decoding stopped."""
    closed = f'{{graph="{graph}",key="none",status="499"}}'
    wait_until(lambda: metric(server, "routegraph_requests_total", closed) == 1.0, 30)
    time.sleep(0.5)  # the token being sampled when the event was set may still finish
    tokens = metric(server, "routegraph_local_sampled_tokens")
    time.sleep(2)  # an uncancelled run would sample hundreds of tokens meanwhile
    assert metric(server, "routegraph_local_sampled_tokens") == tokens


def test_an_abandoned_request_stops_decoding(launch_server: Launcher, smollm2_gguf: Path) -> None:
    server = start(launch_server, "serve-abandon")
    url = f"{server.url}/v1/chat/completions"
    with pytest.raises(httpx.TimeoutException):
        httpx.post(url, json=LONG, timeout=3)  # the client gives up after 3 s
    assert_left_and_stopped(server, "cascade")
    hello = {"model": LOCAL, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
    quick = httpx.post(url, json=hello, timeout=120)
    assert quick.status_code == 200, quick.text
    server.stop()


def test_an_abandoned_stream_stops_decoding_before_its_first_chunk(
    launch_server: Launcher, smollm2_gguf: Path
) -> None:
    server = start(launch_server, "serve-abandon-stream")
    body = json.dumps({**LONG, "stream": True}).encode()
    host, port = server.url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=30)  # a raw client: the
    client.sendall(  # cascade sends no header until its run ends, so it leaves before any
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    wait_until(lambda: metric(server, "routegraph_local_sampled_tokens") > 5, 120)
    client.close()
    assert_left_and_stopped(server, "cascade")
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``serve --db``: a new SQLite file, or the suite's PostgreSQL server (shared: each test
    uses a thread id of its own)."""
    if request.param == "sqlite":
        return str(tmp_path / "threads.sqlite")
    return str(request.getfixturevalue("postgres_url"))


def test_a_stream_left_midway_stops_decoding_and_frees_its_thread(
    launch_server: Launcher, smollm2_gguf: Path, database: str
) -> None:
    server = start(launch_server, "serve-leave-stream", "--db", database)
    story = {**LONG, "model": LOCAL, "stream": True, "thread_id": "left"}  # simple routing
    del story["routegraph"]  # streams its tokens live
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=story, timeout=120) as r:
        lines = r.iter_lines()
        for _ in range(10):  # some tokens, then the client leaves
            next(lines)
    assert_left_and_stopped(server, "simple")
    hello = {"model": LOCAL, "max_tokens": 8, "thread_id": "left",
             "multitask_strategy": "reject",
             "messages": [{"role": "user", "content": "Hi"}]}  # fmt: skip
    quick = httpx.post(f"{server.url}/v1/chat/completions", json=hello, timeout=120)
    assert quick.status_code == 200, quick.text  # the left turn holds no lease (else 409)
    assert quick.json()["routegraph"]["turn"] == 1  # and left no turn behind
    server.stop()


def test_sigterm_stops_a_decoding_server(launch_server: Launcher, smollm2_gguf: Path) -> None:
    server = start(launch_server, "serve-sigterm", "--shutdown-timeout", "2")
    sent = threading.Thread(
        target=lambda: _quietly(f"{server.url}/v1/chat/completions", LONG), daemon=True
    )
    sent.start()
    wait_until(lambda: metric(server, "routegraph_local_sampled_tokens") > 0, 60)
    server.process.send_signal(signal.SIGTERM)
    # the uncancelled run would decode for minutes (10 samples of up to 2,000 tokens)
    assert server.process.wait(timeout=60) is not None


def test_a_killed_turn_leaves_the_thread_at_its_last_answer(
    launch_server: Launcher, smollm2_gguf: Path, database: str
) -> None:
    db = database
    first = start(launch_server, "serve-kill-a", "--db", db)
    url = f"{first.url}/v1/chat/completions"
    turn1 = httpx.post(url, json={"model": LOCAL, "max_tokens": 16, "thread_id": "killed",
                                  "messages": [{"role": "user", "content": "Hello!"}]},
                       timeout=120)  # fmt: skip
    assert turn1.json()["routegraph"]["turn"] == 1
    long_turn = {**LONG, "thread_id": "killed"}
    threading.Thread(target=lambda: _quietly(url, long_turn), daemon=True).start()
    wait_until(lambda: metric(first, "routegraph_local_sampled_tokens") > 20, 60)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)

    second = start(launch_server, "serve-kill-b", "--db", db)
    kept = httpx.get(f"{second.url}/v1/threads/killed", timeout=30).json()
    assert kept["interrupted"] is True
    assert [h["turn"] for h in kept["history"]] == [1]
    assert [m["role"] for m in kept["messages"]] == ["user", "assistant"]
    turn2 = httpx.post(f"{second.url}/v1/chat/completions",
                       json={"model": LOCAL, "max_tokens": 16, "thread_id": "killed",
                             "messages": [{"role": "user", "content": "Name a colour."}]},
                       timeout=120)  # fmt: skip
    assert turn2.status_code == 200, turn2.text
    assert turn2.json()["routegraph"]["turn"] == 2
    kept = httpx.get(f"{second.url}/v1/threads/killed", timeout=30).json()
    assert [m["content"] for m in kept["messages"] if m["role"] == "user"] == [
        "Hello!",
        "Name a colour.",
    ]
    assert kept["interrupted"] is False
    second.stop()

"""``routegraph serve --workers N``: one port, N processes, one set of books.

A real ``serve --workers 2 --db FILE.sqlite --keys FILE`` in its own process group, ``cloud``
pointed at a local OpenAI-compatible server (``tests/fault_server.py``) that holds every
request open, so the admitted requests stay in flight while the others are refused:

- a key's budget holds across the workers: with room for three worst-case runs, three of eight
  concurrent requests are admitted and five get 429 ``insufficient_quota``;
- ``/metrics`` answered by any worker counts every worker's requests, and lists one
  ``routegraph_local_sampled_tokens`` series per live worker;
- several workers without ``--db`` are refused before anything starts, naming the flag;
- ``--model-threads`` sizes the pool that runs the blocking model calls of each process.
"""

from __future__ import annotations

import contextlib
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from routegraph.app.commands.serve import SETTINGS_VARIABLE
from tests.conftest import CLOUD_ENV_VARS, Launcher, executable, free_port, wait_for_http
from tests.fault_server import FaultServer

MODEL = "router-heuristic-0.0"  # the simple graph with threshold 0: every request to cloud
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_two_workers_share_a_keys_budget_and_one_metrics_view(
    launch_server: Launcher, tmp_path: Path
) -> None:
    from routegraph.app.server.keys import create_key

    upstream = FaultServer(default="hang").start()  # admitted requests stay in flight
    keys = tmp_path / "keys.json"
    key, _ = create_key(keys, "team", budget_usd=0.03, limits={"budget_usd": 0.01})
    port = free_port()
    argv = [executable("routegraph"), "serve", "--port", str(port), "--workers", "2",
            "--db", str(tmp_path / "gateway.sqlite"), "--keys", str(keys),
            "--log-level", "warning"]  # fmt: skip
    env = {"OPENAI_BASE_URL": upstream.url, "OPENAI_API_KEY": "test"}
    drop = [v for v in CLOUD_ENV_VARS if v not in env]
    server = launch_server("serve-workers", argv, port=port, env=env, drop_env=drop)
    try:
        wait_for_http(server, "/readyz", timeout_s=120)

        def send(_: int) -> httpx.Response:
            body = {"model": MODEL, "messages": QUESTION}
            with httpx.Client() as client:  # a connection of its own: any worker may take it
                return client.post(f"{server.url}/v1/chat/completions", json=body,
                                   headers={"authorization": f"Bearer {key}"},
                                   timeout=httpx.Timeout(60, read=8))  # fmt: skip

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, i) for i in range(8)]
            refused = []
            for future in futures:
                with contextlib.suppress(httpx.ReadTimeout):  # admitted: held open upstream
                    refused.append(future.result())
        assert [r.status_code for r in refused] == [429] * 5, [r.text for r in refused]
        assert {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}
        assert upstream.completions == 3

        text = httpx.get(f"{server.url}/metrics", timeout=30).text
        counted = re.findall(r'^routegraph_requests_total\{[^}]*status="429"\} ([0-9.]+)$', text,
                             re.M)  # fmt: skip
        assert [float(n) for n in counted] == [5.0], text
        workers = re.findall(r'^routegraph_local_sampled_tokens\{pid="(\d+)"\}', text, re.M)
        assert len(set(workers)) == 2, text
    finally:
        upstream.stop()
        server.stop()


def test_several_workers_need_a_shared_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from routegraph.app.cli import main

    monkeypatch.delenv("ROUTEGRAPH_DB", raising=False)
    monkeypatch.delenv(SETTINGS_VARIABLE, raising=False)
    assert main(["serve", "--workers", "2", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "error: --workers: 2 processes without --db" in err and "--db FILE.sqlite" in err
    assert main(["serve", "--workers", "0", "--port", str(free_port())]) == 2
    assert "error: --workers: 0; allowed: an integer >= 1" in capsys.readouterr().err


def test_model_threads_is_checked_and_sizes_each_processs_model_pool(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import threading

    from routegraph.app.cli import main
    from routegraph.app.commands.serve import DEFAULT_MODEL_THREADS, build_app

    monkeypatch.delenv("ROUTEGRAPH_DB", raising=False)
    assert main(["serve", "--model-threads", "0", "--port", str(free_port())]) == 2
    assert "error: --model-threads: 0; allowed: an integer >= 1" in capsys.readouterr().err
    settings = {"db": "", "router": None, "keys": None, "multitask": "reject",
                "queue_timeout": 1.0, "model_threads": DEFAULT_MODEL_THREADS}  # fmt: skip
    app = build_app(settings)

    async def pool_thread() -> str:
        async with app.router.lifespan_context(app):  # what a worker process does at start
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, lambda: threading.current_thread().name)

    assert asyncio.run(pool_thread()).startswith("routegraph-model")

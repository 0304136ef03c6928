"""Load: 100 concurrent requests through the OpenAI-compatible endpoint (``routegraph serve``),
mixed graphs, replayed models; all complete and no answer, cost or thread lands in the wrong
request (see ``tests/load_client.py`` for how each response is checked against its prompt)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.conftest import (
    CLOUD_ENV_VARS,
    Launcher,
    ServerProcess,
    free_port,
    shared_data,
    wait_for_http,
)
from tests.load_client import GRAPHS, check, run_load, warm_up

REQUESTS = 100


@pytest.fixture(scope="module")
def prompts() -> list[str]:
    shared_data("routellm")
    from routegraph.core.data import load_dataset

    return list(load_dataset("gsm8k").prompts[:REQUESTS])


def start_serve(launch: Launcher, *extra: str) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "routegraph.app.cli", "serve", "--port", str(port), *extra]
    server = launch("routegraph-serve", argv, port=port, drop_env=CLOUD_ENV_VARS)
    wait_for_http(server, "/v1/models", timeout_s=180)
    return server


@pytest.fixture(scope="module")
def stateless(launch_server: Launcher) -> Iterator[ServerProcess]:
    server = start_serve(launch_server)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def threaded(
    launch_server: Launcher, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("load") / "threads.sqlite"
    server = start_serve(launch_server, "--db", str(db))
    yield server
    server.stop()


def test_the_checker_catches_an_answer_that_belongs_to_another_prompt(prompts: list[str]) -> None:
    from routegraph.core.providers.replay import find_recording

    recording = find_recording("gpt-4-1106-preview", prompts[0])
    assert recording is not None
    body = {
        "choices": [{"message": {"content": recording.text}}],
        "routegraph": {
            "served_by": "gpt-4-1106-preview",
            "path": ["gpt-4-1106-preview"],
            "cost_usd": recording.cost_usd,
        },
    }
    assert check(0, prompts[0], body) == []
    assert check(1, prompts[1], body)  # the same response for another request: caught


@pytest.mark.slow
def test_100_concurrent_stateless_requests(stateless: ServerProcess, prompts: list[str]) -> None:
    url = f"{stateless.url}/v1"
    warm_up(url, prompts)
    result = run_load(url, prompts, timeout_s=300)
    assert result["problems"] == [], result["problems"][:5]
    assert result["completed"] == REQUESTS
    assert set(result["by_graph"]) == set(GRAPHS)
    assert stateless.process.poll() is None  # still serving


@pytest.mark.slow
def test_100_concurrent_requests_each_on_its_own_thread(
    threaded: ServerProcess, prompts: list[str]
) -> None:
    url = f"{threaded.url}/v1"
    warm_up(url, prompts)
    result = run_load(url, prompts, timeout_s=300, threads="load")
    assert result["problems"] == [], result["problems"][:5]
    assert result["completed"] == REQUESTS
    assert threaded.process.poll() is None

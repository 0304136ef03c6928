"""Abandoned work stops: a long request whose client gives up, then a quick one.

    python benchmarks/abandoned_request.py

Starts ``routegraph serve`` on a free port (embedded SmolLM2), sends a ``self_consistency``
request with ``samples=10`` and ``max_tokens=2000`` that the client abandons after 3 s, then a
quick request, and prints how long the quick one took (it waits for the model lock if the
abandoned run were still decoding). Writes ``benchmarks/results/abandoned_request.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results"
LONG = {
    "model": "routegraph-cascade", "max_tokens": 2000, "temperature": 0.8,
    "messages": [{"role": "user",
                  "content": "Write a very long story about dragons, in many chapters."}],
    "routegraph": {"evaluator": "self_consistency", "samples": 10, "models": ["smollm2-135m"]},
}  # fmt: skip
QUICK = {"model": "router-heuristic-1.0", "max_tokens": 16,
         "messages": [{"role": "user", "content": "Hi"}]}  # fmt: skip


def main() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "routegraph.app.cli", "serve", "--port", str(port),
         "--log-level", "warning"], env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        httpx.post(f"{url}/v1/chat/completions", json=QUICK, timeout=600)  # load the model
        with contextlib.suppress(httpx.TimeoutException):  # the client gives up after 3 s
            httpx.post(f"{url}/v1/chat/completions", json=LONG, timeout=3)
        started = time.perf_counter()
        reply = httpx.post(f"{url}/v1/chat/completions", json=QUICK, timeout=600)
        record = {
            "command": "python benchmarks/abandoned_request.py",
            "quick_request_after_abandonment_s": round(time.perf_counter() - started, 2),
            "status": reply.status_code,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "abandoned_request.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

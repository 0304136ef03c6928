"""The gateway's own cost: latency it adds over calling a model directly, and a burst of
concurrent clients with keys, budgets and threads on.

    nice -n 5 python benchmarks/gateway_overhead.py --rate 100 --seconds 15 --burst 100

1. A stub OpenAI-compatible upstream (``tests/fault_server.py`` in its own process) answers
   every completion at once (or after ``--upstream-delay`` seconds: a slow provider).
   ``routegraph serve`` runs with a keys file (budget and rate on), ``--db`` on a SQLite file
   (ledger, threads, outcome log) and ``cloud`` pointed at the stub.
2. Open loop at ``--rate`` requests per second for ``--seconds``: the same request sent to the
   stub directly, then through the gateway as ``router-heuristic-0.0`` (the simple graph, every
   request to ``cloud``). Added latency = gateway percentile - direct percentile, same run.
3. Burst: ``--burst`` clients at once, each on its own thread id; then every thread is read
   back: each 200 must have left exactly one turn (nothing lost, nothing doubled).
4. ``--sequential N``: N requests one after another through the gateway; the CPU time its
   processes spent (user + system, from ``/proc``) per request: what one request costs on an
   idle core, the figure that sets how many requests per second a process can serve.

Writes ``benchmarks/results/gateway_overhead.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
STUB = """
import asyncio, socket, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from tests.fault_server import completion_body, stream_chunks

DELAY_S = float(sys.argv[1])

async def complete(request):
    body = await request.json()
    if DELAY_S:
        await asyncio.sleep(DELAY_S)
    if body.get("stream"):  # a streamed request gets SSE chunks, as from OpenAI
        chunks = stream_chunks(body.get("model", "stub"), "Paris.")
        return StreamingResponse(iter(chunks), media_type="text/event-stream")
    return JSONResponse(completion_body(body.get("model", "stub"), "Paris."))

sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
print(f"http://127.0.0.1:{port}/v1", flush=True)
app = Starlette(routes=[Route("/v1/chat/completions", complete, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_stub(delay_s: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", STUB, str(delay_s)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def start_gateway(
    stub_url: str, folder: Path, workers: int = 1, model_threads: int | None = None
) -> tuple[subprocess.Popen[bytes], str, str]:
    from routegraph.app.server.keys import create_key

    key, _ = create_key(  # each run reserves its worst case, $0.01, of the key's budget
        folder / "keys.json", "bench", budget_usd=1000.0, requests_per_minute=10**6,
        limits={"budget_usd": 0.01},
    )  # fmt: skip
    port = free_port()
    env = {**os.environ, "LANGSMITH_TRACING": "false", "OPENAI_BASE_URL": stub_url,
           "OPENAI_API_KEY": "stub"}  # fmt: skip
    argv = [sys.executable, "-m", "routegraph.app.cli", "serve", "--port", str(port),
            "--keys", str(folder / "keys.json"), "--db", str(folder / "gateway.sqlite"),
            "--log-level", "warning", "--workers", str(workers)]  # fmt: skip
    if model_threads is not None:
        argv += ["--model-threads", str(model_threads)]
    process = subprocess.Popen(argv, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/readyz", timeout=2).read()
            return process, url, key
        except OSError:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("routegraph serve did not start")


async def open_loop(
    url: str, body: dict[str, Any], headers: dict[str, str], rate: float, seconds: float
) -> dict[str, Any]:
    """Send at a fixed rate regardless of replies (open loop); latency of each reply."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one() -> None:
            started = time.perf_counter()
            reply = await client.post(url, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1

        tasks = []
        begin = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "statuses": statuses,
        **{f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)},
    }


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid`` (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ... utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def sequential_cpu(url: str, body: dict[str, Any], auth: dict[str, str], n: int, pgid: int):
    """CPU milliseconds the gateway's processes spend per request, over ``n`` in a row."""
    with httpx.Client(timeout=60) as client:
        before, started = group_cpu_s(pgid), time.perf_counter()
        for _ in range(n):
            client.post(f"{url}/v1/chat/completions", json=body, headers=auth).raise_for_status()
        wall = time.perf_counter() - started
    return {
        "requests": n,
        "cpu_ms_per_request": round(1000 * (group_cpu_s(pgid) - before) / n, 2),
        "wall_ms_per_request": round(1000 * wall / n, 2),
    }


async def burst(url: str, key: str, clients: int) -> dict[str, Any]:
    """``clients`` requests at once, one thread each; then each thread is read back."""
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=clients)) as c:

        async def one(i: int) -> tuple[int, float]:
            started = time.perf_counter()
            body = {"model": "router-heuristic-0.0", "messages": QUESTION, "thread_id": f"b{i}"}
            reply = await c.post(f"{url}/v1/chat/completions", headers=headers, json=body)
            return reply.status_code, time.perf_counter() - started

        results = await asyncio.gather(*(one(i) for i in range(clients)))
        kept = []
        for i, (status, _) in enumerate(results):
            if status == 200:
                thread = await c.get(f"{url}/v1/threads/b{i}", headers=headers)
                kept.append(len(thread.json()["history"]))
    ms = np.array([t for _, t in results]) * 1000
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "clients": clients,
        "statuses": statuses,
        "turns_kept_per_answered_thread": sorted(set(kept)),
        "lost_or_doubled": sum(1 for k in kept if k != 1),
        **{f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 99)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds of open-loop load")
    parser.add_argument("--burst", type=int, default=100, help="concurrent clients in the burst")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers (processes)")
    parser.add_argument("--model-threads", type=int, help="serve --model-threads (default: its)")
    parser.add_argument(
        "--upstream-delay", type=float, default=0.0, help="seconds the stub waits per answer"
    )
    parser.add_argument(
        "--sequential", type=int, default=0, help="also N requests in a row: CPU per request"
    )
    parser.add_argument(
        "--stream", action="store_true", help="streamed requests (SSE), direct and through"
    )
    parser.add_argument("--out", default="gateway_overhead", help="results/<out>.json")
    args = parser.parse_args(argv)
    stub, stub_url = start_stub(args.upstream_delay)
    folder = Path(tempfile.mkdtemp(prefix="gateway-"))
    gateway, url, key = start_gateway(stub_url, folder, args.workers, args.model_threads)
    try:
        auth = {"authorization": f"Bearer {key}"}
        streamed = {"stream": True} if args.stream else {}
        warm = {"model": "router-heuristic-0.0", "messages": QUESTION, **streamed}
        for _ in range(20):  # compile graphs, open connections, load the catalog
            httpx.post(f"{url}/v1/chat/completions", json=warm, headers=auth, timeout=120)
        direct = asyncio.run(open_loop(f"{stub_url}/chat/completions",
                                       {"model": "gpt-4o-mini", "messages": QUESTION,
                                        **streamed}, {},
                                       args.rate, args.seconds))  # fmt: skip
        through = asyncio.run(open_loop(f"{url}/v1/chat/completions", warm, auth, args.rate,
                                        args.seconds))  # fmt: skip
        added = {f"added_p{q}_ms": round(through[f"p{q}_ms"] - direct[f"p{q}_ms"], 2)
                 for q in (50, 95, 99)}  # fmt: skip
        crowd = asyncio.run(burst(url, key, args.burst))
        sequential = (
            sequential_cpu(url, warm, auth, args.sequential, gateway.pid)
            if args.sequential
            else None
        )
    finally:
        for process in (gateway, stub):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    record = {
        "command": "python benchmarks/gateway_overhead.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "setup": f"serve --keys (budget + rate) --db SQLite --workers {args.workers}"
        + (f" --model-threads {args.model_threads}" if args.model_threads else "")
        + ("; streamed requests" if args.stream else "")
        + f"; cloud = stub upstream answering after {args.upstream_delay} s; model "
        "router-heuristic-0.0 (simple graph, every request to cloud)",
        "direct": direct,
        "gateway": through,
        **added,
        "burst": crowd,
        "sequential": sequential,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a provider fault costs a run: time to the answer, tries, and what the breaker saves.

    nice -n 5 python benchmarks/reliability_faults.py

The 'cloud' tier is a real ``ChatOpenAI`` (built by the catalog from ``OPENAI_BASE_URL``)
pointed at the fault-injecting OpenAI-compatible server of the test suite
(``tests/fault_server.py``, 127.0.0.1); the next tier is the embedded SmolLM2 run live by
llama.cpp. Each fault is served on every request. Per fault, with the default context
(``call_timeout_s`` 30, ``call_retries`` 2): the first call of 'cloud' (retries with real
backoff) and ``--follow-ups`` more calls (the endpoint cooling down) are timed with the requests
that reached the server, then one whole cascade run (cloud, then SmolLM2 live) with a fresh
breaker. The local model's share of a run depends on the machine's load. Writes
``benchmarks/results/reliability_faults.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fault_server

RESULTS = ROOT / "benchmarks" / "results"
FAULTS = ["ok", "connection", "rate_limited", "server_error", "malformed", "stream_cut", "hang"]
QUESTION = "What is the capital of France?"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_call(kit: Any, ctx: Any, server: Any) -> dict[str, Any]:
    """One ``call_model`` of 'cloud' (real client, real backoff): seconds, requests, faults."""
    from langchain_core.messages import HumanMessage

    from routegraph.nodes.calls import call_model

    before = server.completions
    started = time.perf_counter()
    call = call_model(kit, ctx, "cloud", [HumanMessage(QUESTION)])
    return {
        "seconds": time.perf_counter() - started,
        "requests": server.completions - before,
        "faults": [f["fault"] for f in call.faults if f["model"] == "cloud"],
        "ok": call.ok and call.spec is not None and call.spec.name == "cloud",
    }


def end_to_end(context: dict[str, Any]) -> dict[str, Any]:
    """A whole cascade run (cloud, then the live local model): seconds and who answered."""
    from langchain_core.messages import HumanMessage

    from routegraph.graphs.cascade import build_cascade_graph

    started = time.perf_counter()
    out = build_cascade_graph().invoke({"messages": [HumanMessage(QUESTION)]}, context=context)
    meta = out["messages"][-1].response_metadata["routegraph"]
    return {"seconds": time.perf_counter() - started, "answered_by": meta["served_by"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--follow-ups", type=int, default=5, help="calls after the first")
    parser.add_argument("--out", default="reliability_faults")
    args = parser.parse_args()

    from routegraph.core.catalog import _load_cached
    from routegraph.core.context import context_from_dict
    from routegraph.nodes.health import HEALTH
    from routegraph.nodes.resources import Toolkit
    from tests.fault_server import FaultServer

    server = FaultServer(retry_after_s=60).start()
    os.environ["OPENAI_API_KEY"] = "sk-benchmark-local"
    context = {
        "models": ["cloud", "smollm2-135m"],
        "router": "heuristic",
        "evaluator": "none",
        "max_tokens": 32,
    }
    rows = []
    try:
        for fault in FAULTS:
            base = server.url if fault != "connection" else f"http://127.0.0.1:{free_port()}/v1"
            os.environ["OPENAI_BASE_URL"] = base
            _load_cached.cache_clear()
            server.plan([], default="ok" if fault == "connection" else fault)
            HEALTH.reset()
            kit, ctx = Toolkit(), context_from_dict(context)
            first = time_call(kit, ctx, server)
            later = [time_call(kit, ctx, server) for _ in range(args.follow_ups)]
            HEALTH.reset()
            run = end_to_end(context)
            rows.append(
                {
                    "fault": fault,
                    "call_s": round(first["seconds"], 3),
                    "call_requests": first["requests"],
                    "call_faults": first["faults"],
                    "answered": first["ok"],
                    "later_calls_median_s": round(
                        statistics.median(x["seconds"] for x in later), 4
                    ),
                    "later_calls_requests": sum(x["requests"] for x in later),
                    "later_calls_faults": sorted({k for x in later for k in x["faults"]}),
                    "run_s": round(run["seconds"], 2),
                    "run_answered_by": run["answered_by"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.stop()
    RESULTS.mkdir(exist_ok=True)
    record = {
        "command": "python benchmarks/reliability_faults.py",
        "question": QUESTION,
        "context": context,
        "follow_ups": args.follow_ups,
        "rows": rows,
    }
    (RESULTS / f"{args.out}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(
        "| fault | 1st call s | requests | faults recorded | next calls: median s | requests "
        "| whole run s | answered by |"
    )
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r['fault']} | {r['call_s']:.2f} | {r['call_requests']} | "
            f"{', '.join(r['call_faults']) or '-'} | {r['later_calls_median_s']:.3f} | "
            f"{r['later_calls_requests']} | {r['run_s']:.1f} | {r['run_answered_by']} |"
        )


if __name__ == "__main__":
    main()

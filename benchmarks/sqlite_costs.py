"""What a SQLite-backed ``routegraph serve`` spends on its database per request (by hand).

    nice -n 5 python benchmarks/sqlite_costs.py --requests 2000

Each request of ``routegraph serve --keys ... --db FILE`` is counted against its key's rate,
reserves its worst case of the key's budget and settles it afterwards (the ledger), and its
graph writes one outcome record from the worker thread it runs on. This times exactly those
calls, in a row, each two ways:

- ledger ``inline`` (what ``serve`` does): statements run on the loop through a plain
  connection that never waits for the file's lock, falling back to the thread when another
  writer has it; ledger ``thread``: every statement through ``aiosqlite``'s thread;
- outcome ``sync store`` (what ``serve`` does: ``ThreadedSqliteStore``) and ``async store``
  (LangGraph's ``AsyncSqliteStore``, used before): one ``put`` from a worker thread.

Printed: CPU (process time) and wall time per request, in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def per_request(ledger: Any, requests: int) -> dict[str, float]:
    async def one(i: int, tag: str) -> None:
        await ledger.count_request("bench", 10**9)
        granted = await ledger.reserve("bench", 0.01, 1e9, f"host/1/{tag}{i}")
        await ledger.settle("bench", granted, 0.001, f"host/1/{tag}{i}")

    for i in range(200):  # warm-up: tables, pages, code paths
        await one(i, "warm")
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(requests):
        await one(i, "timed")
    return {
        "cpu_ms": 1000 * (time.process_time() - cpu) / requests,
        "wall_ms": 1000 * (time.perf_counter() - wall) / requests,
    }


async def measure(requests: int) -> dict[str, dict[str, float]]:
    import aiosqlite
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    from routegraph.app.checkpoints import open_persistence
    from routegraph.app.ledger import sqlite_ledger

    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        async with open_persistence(Path(folder) / "ledger.sqlite") as kept:
            out["ledger inline"] = await per_request(kept.ledger, requests)
            threaded = sqlite_ledger(kept.checkpointer.conn)  # type: ignore[attr-defined]
            out["ledger thread"] = await per_request(threaded, requests)
            out["outcome sync store"] = await puts(kept.store, requests)
        async with aiosqlite.connect(Path(folder) / "ledger.sqlite", isolation_level=None) as conn:
            out["outcome async store"] = await puts(AsyncSqliteStore(conn), requests)
    return out


RECORD = {"graph": "simple", "query": "What is 2 + 2?", "cost_usd": 0.001,
          "attempts": [{"model": "small", "confidence": 0.9, "cost_usd": 0.001}]}  # fmt: skip


async def puts(store: Any, requests: int) -> dict[str, float]:
    """One outcome record per request, written from a worker thread as a graph node does."""

    def write(n: int, tag: str) -> None:
        for i in range(n):
            store.put(("routegraph", "outcomes"), f"{tag}{i}", RECORD)

    await asyncio.to_thread(write, 200, "warm")
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.to_thread(write, requests, "timed")
    return {
        "cpu_ms": 1000 * (time.process_time() - cpu) / requests,
        "wall_ms": 1000 * (time.perf_counter() - wall) / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per mode")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    result = asyncio.run(measure(args.requests))
    for mode, figures in result.items():
        cpu, wall = figures["cpu_ms"], figures["wall_ms"]
        print(f"{mode:>19}: CPU {cpu:.3f} ms, wall {wall:.3f} ms a request")
    if args.out:
        args.out.write_text(json.dumps({"requests": args.requests, **result}, indent=2) + "\n")


if __name__ == "__main__":
    main()

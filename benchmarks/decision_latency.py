"""Per-decision latency of trained routers, embedding included, against a reference workload.

    nice -n 5 python benchmarks/decision_latency.py --router default --router runs/static/default

For each router (a shipped name or an artifact folder, each with the embedder its artifact names)
one new prompt per call is routed - P(strong needed), what the simple and hybrid graphs' route
node asks - over test prompts of GSM8K and MMLU (seed-0 bench split). MiniLM routers get an
EMPTY vector cache, so every timed prompt pays for its transformer pass. The calls of the
routers and of a fixed numpy reference workload are interleaved prompt by prompt, so load from
other processes hits them alike; the result reports p50 / p90 ms, p50 in reference units and
the ratio of each router's p50 to the first router's, and the p50 of the CPU time the process
used per decision (threads pinned to 1, so it is what the call takes on an idle core: wall time
on a shared machine also counts the wait for a core). Writes ``benchmarks/results/<out>.json``.

``--per-request`` times what one request asks its router instead: P(strong) to decide, the
novelty the decision records, and each model's predicted quality for the outcome record.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy starts its thread pool
os.environ.setdefault("ROUTEGRAPH_TORCH_THREADS", "1")

import numpy as np  # noqa: E402

from routegraph.core.data import load_dataset  # noqa: E402
from routegraph.core.data.splits import train_val_test_split  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call. CPU time does not count the
    time the process waited for a core, so it is close to the wall time on an idle machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def reference_workload() -> None:
    """A fixed numpy workload (256x384 @ 384x256 matmul + softmax): the machine's speed now."""
    rng = np.random.default_rng(0)
    a, b = rng.random((256, 384), np.float32), rng.random((384, 256), np.float32)
    m = a @ b
    e = np.exp(m - m.max(axis=1, keepdims=True))
    _ = e / e.sum(axis=1, keepdims=True)


def load(spec: str, tmp: str):
    """The router ``spec`` with its own embedder; MiniLM ones get an empty vector cache."""
    from routegraph.core.embeddings import LOCAL_EMBEDDER_NAME, EmbeddingCache, local_embeddings
    from routegraph.routers.registry import load_router

    router = load_router(spec)
    members = getattr(router, "routers_", None) or [router]
    fresh = EmbeddingCache(
        local_embeddings(), LOCAL_EMBEDDER_NAME, directory=tmp, show_progress=False
    )
    for member in members:
        if getattr(member, "meta_", {}).get("embedder") == LOCAL_EMBEDDER_NAME:
            member.embedder = fresh
    return router


def decision(router: Any, prompt: str) -> None:
    router.strong_probability([prompt])


def request(router: Any, prompt: str) -> None:
    """The router's share of one request of the simple graph with its outcome log on."""
    router.strong_probability([prompt])
    if hasattr(router, "novelty"):
        router.novelty([prompt])
    router.predict_quality([prompt])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", action="append", required=True, help="name or folder")
    parser.add_argument("--n", type=int, default=100, help="timed prompts per dataset")
    parser.add_argument("--out", default="decision_latency", help="results/<out>.json")
    parser.add_argument(
        "--per-request", action="store_true", help="a request's three questions, not one"
    )
    args = parser.parse_args(argv)
    call = request if args.per_request else decision

    prompts: list[str] = []
    for name in ("gsm8k", "mmlu"):
        ds = load_dataset(name)
        _, _, test = train_val_test_split(ds, seed=0)
        prompts += [ds.prompts[i] for i in test[: args.n]]
    with tempfile.TemporaryDirectory() as tmp:
        routers = {spec: load(spec, str(Path(tmp) / f"r{i}")) for i, spec in enumerate(args.router)}
        for router in routers.values():  # warm-up: load weights / tables, not timed
            router.strong_probability(["warm-up prompt " + str(time.time())])
        times: dict[str, list[float]] = {spec: [] for spec in routers}
        cpu: dict[str, list[float]] = {spec: [] for spec in routers}
        times["(reference workload)"], cpu["(reference workload)"] = [], []
        for prompt in prompts:
            wall, used = timed(reference_workload)
            times["(reference workload)"].append(wall)
            cpu["(reference workload)"].append(used)
            for spec, router in routers.items():
                wall, used = timed(call, router, prompt)
                times[spec].append(wall)
                cpu[spec].append(used)
    ref50 = statistics.median(times["(reference workload)"]) * 1e3
    first = statistics.median(times[args.router[0]]) * 1e3
    rows: list[dict[str, Any]] = []
    for spec, values in times.items():
        ms = np.asarray(values) * 1e3
        p50 = float(np.median(ms))
        rows.append(
            {
                "router": spec,
                "p50_ms": p50,
                "p90_ms": float(np.percentile(ms, 90)),
                "p50_in_reference_units": p50 / ref50,
                "p50_over_first_router": p50 / first,
                "p50_cpu_ms": float(np.median(cpu[spec]) * 1e3),
                "under_10ms_p50": p50 < 10.0,
                "cpu_under_10ms_p50": float(np.median(cpu[spec]) * 1e3) < 10.0,
            }
        )
    from os import getloadavg

    result = {
        "n_prompts": len(prompts),
        "per_request": args.per_request,
        "load_average": getloadavg(),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    print(f"{len(prompts)} prompts (GSM8K + MMLU test), load average {getloadavg()[0]:.1f}")
    for row in rows:
        print(
            f"{row['router']:<40} p50 {row['p50_ms']:8.2f} ms  p90 {row['p90_ms']:8.2f} ms  "
            f"{row['p50_in_reference_units']:7.2f} ref  {row['p50_over_first_router']:6.3f} x first"
            f"  CPU p50 {row['p50_cpu_ms']:7.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

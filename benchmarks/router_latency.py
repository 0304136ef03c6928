"""Router decision latency per prompt, embedding included (not a test: run it by hand).

    nice -n 10 python benchmarks/router_latency.py --dataset gsm8k --n 200

For every router: train it on the bench training split (cached embeddings make this quick), then
swap in an EMPTY embedding cache so every timed prompt is embedded from scratch, and time one
decision per test prompt, one prompt per call (what a graph's route node does): P(strong) for
two-model data, argmax of predicted quality for N models. Reports p50 / p99 / mean in ms, and,
because absolute times depend on the machine, two ratios: router p50 / bare-embedding p50 (what
the router adds on top of the embedder) and p50 in units of a fixed numpy reference workload
timed in the same process. A second pass over the same prompts (vectors now in memory) gives
the router's own compute without the embedder ("cached p50"). Target: p50 < 10 ms on this CPU.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import time_calls  # benchmarks/timing.py (script directory)

from routegraph.app.bench.baselines import is_two_model  # noqa: E402
from routegraph.app.bench.harness import bench_split, default_routers, obtain_router  # noqa: E402
from routegraph.core.data import load_any  # noqa: E402


def reference_ms(repeats: int = 50) -> float:
    """Median ms of a fixed numpy workload (256x384 @ 384x256 matmul + softmax): machine speed."""
    rng = np.random.default_rng(0)
    a, b = rng.random((256, 384), np.float32), rng.random((384, 256), np.float32)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = a @ b
        e = np.exp(m - m.max(axis=1, keepdims=True))
        _ = e / e.sum(axis=1, keepdims=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def fresh_embedder(folder: str):
    """An embedding cache over the bundled model with nothing cached (one per router)."""
    from routegraph.core.embeddings import LOCAL_EMBEDDER_NAME, EmbeddingCache, local_embeddings

    return EmbeddingCache(
        local_embeddings(), LOCAL_EMBEDDER_NAME, directory=folder, show_progress=False
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="gsm8k", help="benchmark name or RouterBench CSV")
    parser.add_argument("--router", action="append", help="router(s); default: the bench set")
    parser.add_argument("--router-dir", help="load artifacts DIR/<router> instead of training")
    parser.add_argument("--n", type=int, default=200, help="timed prompts per router")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(int(os.environ.get("ROUTEGRAPH_TORCH_THREADS", "2")))
    ds = load_any(args.dataset)
    train, test, _ = bench_split(ds, seed=0)
    prompts = test.prompts[: args.n]
    two = is_two_model(ds)
    names = args.router or default_routers()
    ref = reference_ms()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        bare = fresh_embedder(str(Path(tmp) / "bare"))
        embed_ms = time_calls(lambda p: bare.embed([p]), prompts, warmup_suffix=" (warm-up)")
        emb_p50 = percentile(embed_ms, 50)
        rows.append(
            {
                "router": "(embedding only)",
                "p50_ms": emb_p50,
                "p99_ms": percentile(embed_ms, 99),
                "mean_ms": float(np.mean(embed_ms)),
            }
        )
        for name in names:
            router_dir = Path(args.router_dir) if args.router_dir else None
            router, _source = obtain_router(name, train, router_dir, seed=0)
            if hasattr(router, "embedder"):
                router.embedder = fresh_embedder(str(Path(tmp) / name))
            if two:

                def decide(p, r=router):
                    return r.strong_probability([p], ds.strong_model, ds.weak_model)
            else:

                def decide(p, r=router):
                    return int(np.argmax(r.predict_quality([p])[0]))

            ms = time_calls(decide, prompts, warmup_suffix=" (warm-up)")
            cached = time_calls(decide, prompts, warmup=0)  # same prompts: vectors in memory
            rows.append(
                {
                    "router": name,
                    "p50_ms": percentile(ms, 50),
                    "p99_ms": percentile(ms, 99),
                    "mean_ms": float(np.mean(ms)),
                    "p50_cached_embedding_ms": percentile(cached, 50),
                }
            )
    for row in rows:
        row["p50_over_embedding"] = row["p50_ms"] / emb_p50
        row["p50_in_reference_units"] = row["p50_ms"] / ref
        row["meets_10ms_p50"] = row["p50_ms"] < 10.0
    result = {
        "dataset": ds.name,
        "n_prompts": len(prompts),
        "reference_workload_ms": ref,
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{ds.name}: {len(prompts)} prompts, one per call, uncached embeddings; "
        f"reference workload {ref:.3f} ms; torch threads {torch.get_num_threads()}"
    )
    header = ("router", "p50 ms", "p99 ms", "mean ms", "p50/emb", "p50/ref", "cached p50")
    print(f"{header[0]:<22}" + "".join(f"{h:>11}" for h in header[1:]))
    for r in rows:
        c50 = r.get("p50_cached_embedding_ms")
        print(
            f"{r['router']:<22}{r['p50_ms']:>11.2f}{r['p99_ms']:>11.2f}{r['mean_ms']:>11.2f}"
            f"{r['p50_over_embedding']:>11.2f}{r['p50_in_reference_units']:>11.1f}"
            + (f"{c50:>11.3f}" if c50 is not None else f"{'-':>11}")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

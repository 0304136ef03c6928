"""Peak resident memory (RSS) of a process that loads a router and routes prompts (not a test).

    nice -n 10 python benchmarks/peak_memory.py --dataset gsm8k --router knn --router random

Each measurement runs in a fresh child process (so imports and caches of one router do not count
for the next): it trains the router on the bench training split (cached embeddings), routes
``--n`` test prompts one at a time, and reports its own ``ru_maxrss``. A child that only imports
numpy gives the floor; results are printed in MiB and as a ratio to that floor, which transfers
across machines better than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys
sys.path.insert(0, {root!r})
import numpy as np
mode, dataset, name, n = {mode!r}, {dataset!r}, {name!r}, {n}
extra = {{}}
if mode == "route":
    from routegraph.app.bench.baselines import is_two_model
    from routegraph.app.bench.harness import bench_split, obtain_router
    from routegraph.core.data import load_any
    ds = load_any(dataset)
    train, test, _ = bench_split(ds, seed=0)
    router, _ = obtain_router(name, train, None, seed=0)
    if hasattr(router, "embedder"):  # new prompts must really be embedded: empty cache
        import tempfile
        from routegraph.core.embeddings import LOCAL_EMBEDDER_NAME, EmbeddingCache, local_embeddings
        router.embedder = EmbeddingCache(local_embeddings(), LOCAL_EMBEDDER_NAME,
                                         directory=tempfile.mkdtemp(), show_progress=False)
    for p in test.prompts[:n]:
        if is_two_model(ds):
            router.strong_probability([p], ds.strong_model, ds.weak_model)
        else:
            router.predict_quality([p])
    extra = {{"n_train": len(train), "n_routed": min(n, len(test))}}
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({{"peak_rss_mib": rss_kib / 1024, **extra}}))
"""


def measure(mode: str, dataset: str, name: str, n: int) -> dict:
    code = CHILD.format(root=str(ROOT), mode=mode, dataset=dataset, name=name, n=n)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name}: child failed\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="gsm8k", help="benchmark name or RouterBench CSV")
    parser.add_argument("--router", action="append", help="router(s) (default: random, knn)")
    parser.add_argument("--n", type=int, default=50, help="prompts routed one at a time")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    floor = measure("floor", args.dataset, "", 0)["peak_rss_mib"]
    rows = [{"router": "(python + numpy)", "peak_rss_mib": floor, "ratio_to_floor": 1.0}]
    for name in args.router or ["random", "knn"]:
        rec = measure("route", args.dataset, name, args.n)
        rows.append({"router": name, **rec, "ratio_to_floor": rec["peak_rss_mib"] / floor})
    if args.json:
        print(json.dumps({"dataset": args.dataset, "rows": rows}))
        return 0
    print(
        f"{args.dataset}: peak RSS of a process that trains the router and routes {args.n} "
        "prompts one at a time"
    )
    print(f"{'router':<22}{'peak MiB':>10}{'x floor':>9}")
    for r in rows:
        print(f"{r['router']:<22}{r['peak_rss_mib']:>10.0f}{r['ratio_to_floor']:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How often the calibrated and the guaranteed thresholds keep their promise, over random splits.

    nice -n 5 python benchmarks/guarantee_coverage.py --router /tmp/default --dataset mmlu

Population: the router's P(strong) and the recorded outcomes of every prompt of ``--dataset``
that the router did not train on (the seed-0 validation + test splits), or, without
``--router``, the synthetic population of ``tests/test_router_guarantee.py``. Each trial draws a
calibration set of ``--n-cal`` prompts, picks a threshold for the target (point estimate, and
guaranteed at ``--confidence``), and checks the target on the whole population. Writes
``benchmarks/results/guarantee_<dataset>.json`` with the failure rates.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from routegraph.routers.guarantee import calibration_record, guaranteed_threshold, point_threshold

RESULTS = Path(__file__).resolve().parent / "results"


def population(dataset: str | None, router_spec: str | None) -> dict[str, np.ndarray]:
    if router_spec is None or dataset is None:
        rng = np.random.default_rng(7)
        n = 100_000
        hard = rng.random(n)
        return {
            "p": np.clip(hard + rng.normal(0, 0.25, n), 0, 1),
            "qs": (rng.random(n) < 0.95 - 0.25 * hard).astype(float),
            "qw": (rng.random(n) < 0.92 - 0.6 * hard).astype(float),
        }
    from routegraph.core.data import load_dataset
    from routegraph.core.data.splits import train_val_test_split
    from routegraph.routers.registry import load_router

    ds = load_dataset(dataset)
    _, val, test = train_val_test_split(ds, seed=0)
    rows = np.sort(np.r_[val, test])
    sub = ds.subset(rows)
    keep = np.isfinite(sub.quality).all(axis=1)
    router = load_router(router_spec)
    s, w = sub.models.index(str(sub.strong_model)), sub.models.index(str(sub.weak_model))
    prompts = [p for p, k in zip(sub.prompts, keep, strict=True) if k]
    p = router.strong_probability(prompts, sub.strong_model, sub.weak_model)
    return {"p": np.asarray(p, float), "qs": sub.quality[keep, s], "qw": sub.quality[keep, w]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="shared benchmark (with --router)")
    parser.add_argument("--router", help="router artifact folder or shipped name")
    parser.add_argument("--fraction", type=float, default=0.95)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--n-cal", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args(argv)
    pop = population(args.dataset, args.router)
    n = len(pop["p"])
    goal = args.fraction

    def fraction_at(t: float) -> float:
        return float(np.where(pop["p"] >= t, pop["qs"], pop["qw"]).mean() / pop["qs"].mean())

    rng = np.random.default_rng(0)
    fails = {"point": 0, "guaranteed": 0}
    shares: dict[str, list[float]] = {"point": [], "guaranteed": []}
    ones = np.ones(args.n_cal)
    for _ in range(args.trials):
        rows = rng.choice(n, size=min(args.n_cal, n - 1), replace=False)
        record = calibration_record(
            pop["p"][rows], pop["qs"][rows], pop["qw"][rows], ones, ones, "s", "w"
        )
        chosen = {
            "point": point_threshold(record, "quality_fraction", goal),
            "guaranteed": guaranteed_threshold(record, "quality_fraction", goal, args.confidence)[
                "threshold"
            ],
        }
        for kind, t in chosen.items():
            fails[kind] += fraction_at(t) < goal
            shares[kind].append(float((pop["p"] >= t).mean()))
    result = {
        "population": args.dataset or "synthetic",
        "router": args.router,
        "n_population": n,
        "n_calibration": args.n_cal,
        "trials": args.trials,
        "quality_fraction": goal,
        "confidence": args.confidence,
        "allowed_failure_rate": 1 - args.confidence,
        "failure_rate": {k: v / args.trials for k, v in fails.items()},
        "mean_strong_share": {k: float(np.mean(v)) for k, v in shares.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"guarantee_{args.dataset or 'synthetic'}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How often ANY setting of a router meets ``no_harm`` on unseen tasks: the ceiling of selection.

    python benchmarks/no_harm_ceiling.py --data runs/routellm_rb.csv --seeds 5
    python benchmarks/no_harm_ceiling.py --dataset mmlu --seeds 5 --router knn
    python benchmarks/no_harm_ceiling.py --data runs/mmlu_pro_rb.csv --seeds 5 --hull-only

Why: ``no_harm`` (issue 16) asks the router chosen on validation to reach 95% of the best
model's quality on the test tasks at no more than what the zero router (the best random mix of
single models, read off the test tasks themselves) pays for it. When that is missed, is the
choice of router and setting to blame, or the router's ranking itself? This reads each router's
whole test curve with hindsight - every threshold (two models) or lambda (N models), chosen ON
THE TEST TASKS - and reports whether any of them meets ``no_harm`` and the best cost over the
zero router's for the floor, beside each model's mean quality on the test tasks as the router
predicts it from the unlabelled prompts and as it is. No selection rule, however good, can do
better than this, so a seed where it is not met cannot be won by choosing operating points; only
a better ranking on the new tasks can. On two-model files each record also gives the window of
strong-model shares that meet it (where a rule would have to land); ``--hull-only`` restricts an
N-model router to the models on the training split's cost-quality hull (the only ones a fixed
mix uses). Writes ``benchmarks/results/<out>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from routegraph.app.bench.baselines import references  # noqa: E402
from routegraph.app.bench.costs import decision_costs  # noqa: E402
from routegraph.app.bench.harness import (  # noqa: E402
    bench_splits,
    default_routers,
    load_bench_dataset,
    obtain_router,
    raw_scores,
)
from routegraph.app.bench.online import hull_models  # noqa: E402
from routegraph.app.bench.selection import TARGETS, ScoredSplit, zero_cost_to_reach  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def ceiling(split: ScoredSplit) -> dict[str, Any]:
    """The best ``no_harm`` standing any setting reaches on ``split`` (hindsight)."""
    floor = TARGETS["no_harm"]["quality_fraction"] * split.refs.strong_quality
    zero = zero_cost_to_reach(split.quality, split.cost, floor)
    points = split.points()
    reach = points.quality >= floor - 1e-9
    best = float(points.cost_usd[reach].min()) if reach.any() else float("nan")
    met = reach & (points.cost_usd <= zero + 1e-12)
    shares = points.strong_share[met]
    return {
        "settings": len(points),
        "settings_meeting": int(met.sum()),
        "met": bool(met.any()),
        "best_cost_over_zero": best / zero if zero > 0 and np.isfinite(best) else None,
        # where the window lies: the share of strong-model calls of the settings that meet it
        "strong_share_window": [float(shares.min()), float(shares.max())] if met.any() else None,
    }


def only_hull_models(scores: np.ndarray, train) -> np.ndarray:
    """``scores`` (n, m) with every model off the training split's cost-quality hull ruled out:
    the router then only chooses among the models a fixed mix would use."""
    keep = np.zeros(scores.shape[1], bool)
    keep[hull_models(train)] = True
    return np.where(keep[None, :], scores, -np.inf)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a RouterBench-format CSV")
    source.add_argument("--dataset", help="a bundled dataset name (mmlu, mmlu_pro ...)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 (default 5)")
    parser.add_argument("--router", action="append", help="routers (default: bench's, no random)")
    parser.add_argument(
        "--hull-only",
        action="store_true",
        help="N-model routers choose only among the training split's cost-quality hull models",
    )
    parser.add_argument("--out", default=None, help="results/<out>.json (default: derived)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    names = args.router or [r for r in default_routers() if r != "random"]
    ds = load_bench_dataset(args.dataset, args.data)
    rows = []
    for seed in range(args.seeds):
        train, _, test, _ = bench_splits(ds, seed=seed, mode="by-task")
        refs = references(test)
        row: dict[str, Any] = {"seed": seed, "n_test": len(test), "routers": {}}
        for name in names:
            router, _ = obtain_router(name, train, None, seed)
            scores = raw_scores(router, test, refs)
            if args.hull_only and scores.ndim == 2:
                scores = only_hull_models(scores, train)
            split = ScoredSplit(
                scores,
                test.quality,
                test.cost_usd,
                refs,
                decision_costs("mean", train, test),
            )
            row["routers"][name] = ceiling(split)
            # what the router itself expects of each model on the unlabelled test prompts
            predicted = np.asarray(router.predict_quality(test.prompts), float)
            columns = [router.models_.index(m) for m in test.models]
            row["routers"][name]["predicted_mean_quality"] = dict(
                zip(test.models, predicted[:, columns].mean(axis=0).round(4).tolist(), strict=True)
            )
        row["true_mean_quality"] = dict(
            zip(test.models, np.nanmean(test.quality, axis=0).round(4).tolist(), strict=True)
        )
        row["any_router_met"] = any(r["met"] for r in row["routers"].values())
        rows.append(row)
        cells = "  ".join(
            f"{n}: {'met' if r['met'] else '-'} x{r['best_cost_over_zero'] or float('nan'):.2f}"
            for n, r in row["routers"].items()
        )
        print(f"seed {seed}: {cells}", file=sys.stderr, flush=True)
    summary = {
        name: {
            "met": sum(r["routers"][name]["met"] for r in rows),
            "median_best_cost_over_zero": float(
                np.nanmedian([r["routers"][name]["best_cost_over_zero"] or np.nan for r in rows])
            ),
        }
        for name in names
    }
    summary["any_router"] = {"met": sum(r["any_router_met"] for r in rows)}
    stem = Path(args.data).stem if args.data else args.dataset
    out = RESULTS / f"{args.out or f'issue16/no_harm_ceiling_{stem}'}.json"
    record = {"source": args.data or args.dataset, "split": "by-task", "seeds": args.seeds,
              "hull_only": args.hull_only}  # fmt: skip
    record.update({"rows": rows, "summary": summary})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(json.dumps(summary))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How often the router ``bench`` selects on validation meets each target on test, over seeds.

    python benchmarks/target_seeds.py --data runs/mmlu_pro_rb.csv --seeds 5
    python benchmarks/target_seeds.py --dataset mmlu_pro --split by-task --seeds 3

Why: one seed's verdict is one draw. A validation split of a few hundred prompts measures a
target's quality floor with a noise of a few points, so "met on seed 0" says little about what a
user's next split will give. This runs ``routegraph bench`` (its default routers and embedder,
or the ``--router`` ones) on ``--seeds`` different random splits and counts, per target, how
often the router selected for that target on validation met it on test, how often it met
everything but the zero-router bound where that bound is infeasible (no router can pay less than
the cheapest single model). ``no_harm`` is met where the router reached 95% of the best model's
quality at no more than the zero router's cost for it. Writes ``benchmarks/results/<out>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from routegraph.app.bench import run_bench  # noqa: E402
from routegraph.app.bench.selection import TARGETS, bounds_met  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def seed_row(result: dict[str, Any]) -> dict[str, Any]:
    """What one seed's run says of each target: the router selected for it and its verdict."""
    row: dict[str, Any] = {"seed": result["split"]["seed"], "n_test": result["n_test"]}
    for target in TARGETS:
        name = result["selected"]["by_target"].get(target)
        rec = result["routers"][name]["validated"][target] if name else {}
        bounds_but_zero = bounds_met(
            target, rec.get("test_quality_fraction"), rec.get("test_cost_ratio")
        )
        row[target] = {
            "router": name,
            "quality_fraction": rec.get("test_quality_fraction"),
            "cost_ratio": rec.get("test_cost_ratio"),
            "zero_ratio": rec.get("zero_ratio"),
            "zero_bound_feasible": rec.get("zero_bound_feasible"),
            "val_met_rate": rec.get("val_met_rate"),
            "met": bool(rec.get("met")),
            "met_but_infeasible_zero_bound": bounds_but_zero
            and rec.get("zero_bound_feasible") is False,
        }
    row["routers"] = {name: router_row(rec) for name, rec in result["routers"].items()}
    return row


PER_ROUTER = (
    "apgr",
    "quality_at_half_strong_cost",
    "cost_ratio_at_95pct_strong",
    "cost_vs_zero_at_95pct_strong",
    "cost_ratio_at_strong_quality",
)
"""Each router's own test-curve figures per seed (not only the one selected): how a router's
settings hold up by task, whatever the selection picks."""


def router_row(rec: dict[str, Any]) -> dict[str, Any]:
    if "error" in rec:
        return {"error": rec["error"]}
    row = {key: rec.get(key) for key in PER_ROUTER}
    for target, verdict in rec.get("validated", {}).items():
        row[f"{target}_met"] = bool(verdict.get("met"))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a RouterBench-format CSV")
    source.add_argument("--dataset", help="a bundled dataset name (mmlu, gsm8k, mmlu_pro ...)")
    parser.add_argument("--split", choices=("random", "by-task"), default="random")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 (default 5)")
    parser.add_argument("--router", action="append", help="routers to run (default: bench's)")
    parser.add_argument(
        "--select",
        choices=("validation", "tasks"),
        help="how operating points are chosen (default: bench's for the split)",
    )
    parser.add_argument("--out", default=None, help="results/<out>.json (default: derived)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    rows = []
    for seed in range(args.seeds):
        result = run_bench(
            dataset=args.dataset,
            data=args.data,
            routers=args.router,
            seed=seed,
            split=args.split,
            progress=False,
            random_seeds=2,
            select=args.select,
        )
        rows.append(seed_row(result))
        cells = "  ".join(
            f"{t}: {r['router']} {r['quality_fraction'] or 0:.3f} / {r['cost_ratio'] or 0:.2f}"
            f" (zero x{r['zero_ratio'] or 0:.2f})"
            f" {'met' if r['met'] else ('met*' if r['met_but_infeasible_zero_bound'] else '-')}"
            for t, r in ((t, rows[-1][t]) for t in TARGETS)
        )
        print(f"seed {seed}: {cells}", file=sys.stderr, flush=True)
    summary = {
        t: {
            "met": sum(r[t]["met"] for r in rows),
            "met_but_infeasible_zero_bound": sum(
                r[t]["met_but_infeasible_zero_bound"] for r in rows
            ),
            "seeds": len(rows),
        }
        for t in TARGETS
    }
    for name in rows[0]["routers"]:
        cells = [r["routers"].get(name, {}) for r in rows]
        figures = "  ".join(
            f"{key} {np.nanmedian([c.get(key) or np.nan for c in cells]):.3f}" for key in PER_ROUTER
        )
        print(f"{name} (median over seeds): {figures}", file=sys.stderr)
    stem = Path(args.data).stem if args.data else args.dataset
    out = RESULTS / f"{args.out or f'target_seeds_{stem}_{args.split}'}.json"
    record = {"source": args.data or args.dataset, "split": args.split, "rows": rows}
    record["summary"] = summary
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(json.dumps(summary))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

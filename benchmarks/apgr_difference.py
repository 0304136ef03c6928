"""Is a change in the shipped default's in-distribution APGR more than noise? A paired bootstrap.

    python benchmarks/apgr_difference.py --baseline OLD_DIR            # shipped default vs OLD_DIR
    python benchmarks/apgr_difference.py --router NEW_DIR --baseline OLD_DIR --resamples 2000

Why: some of the test splits the shipped ``default`` is scored on are small (GSM8K 264 prompts,
Arena-Bench 54, MT-Bench 32), and an APGR moves by a few hundredths when a router is retrained on
slightly different data. Per source, on the training script's own seed-0 test splits
(``scripts/train_default_routers.py``): both routers' APGR, the difference, and its 95% interval
from resampling the test prompts with replacement, the same draw for both routers (a paired
bootstrap: what the two share cancels). Writes ``benchmarks/results/<out>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))  # the shipped routers' own sources and splits

from train_default_routers import PAIR, split, two_model_sources  # noqa: E402

from routegraph.routers.evaluation import apgr_from_scores  # noqa: E402
from routegraph.routers.registry import load_router  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def paired_bootstrap(
    p_new: np.ndarray,
    p_old: np.ndarray,
    q_strong: np.ndarray,
    q_weak: np.ndarray,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Both APGRs on the prompts given, their difference, and its 2.5-97.5% bootstrap range."""
    rng = np.random.default_rng(seed)
    n = len(q_strong)
    diffs = np.empty(resamples)
    for i in range(resamples):
        rows = rng.integers(0, n, n)
        diffs[i] = apgr_from_scores(p_new[rows], q_strong[rows], q_weak[rows]) - apgr_from_scores(
            p_old[rows], q_strong[rows], q_weak[rows]
        )
    new = apgr_from_scores(p_new, q_strong, q_weak)
    old = apgr_from_scores(p_old, q_strong, q_weak)
    # a draw where both models score the same on average has no APGR (PGR divides by the gap)
    low, high = (float(v) for v in np.nanquantile(diffs, [0.025, 0.975]))
    return {
        "n": n,
        "apgr_router": new,
        "apgr_baseline": old,
        "difference": new - old,
        "interval_95": [low, high],
        "distinguishable_from_zero": bool(low > 0 or high < 0),
        "undefined_draws": int(np.isnan(diffs).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    parser.add_argument(
        "--router", default="default", help="router name or folder (default: the shipped default)"
    )
    parser.add_argument("--baseline", required=True, help="the router folder to compare with")
    parser.add_argument(
        "--resamples", type=int, default=2000, help="bootstrap draws (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    parser.add_argument("--out", default="apgr_difference", help="results/<out>.json")
    args = parser.parse_args(argv)
    if args.resamples < 100:
        parser.error("--resamples: at least 100 draws are needed for a 95% interval")
    new, old = load_router(args.router), load_router(args.baseline)
    record: dict[str, Any] = {
        "router": args.router,
        "baseline": args.baseline,
        "resamples": args.resamples,
        "sources": {},
    }
    print("| source | test prompts | APGR router | APGR baseline | difference | 95% interval |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, ds in two_model_sources().items():
        test = split(ds)[2]
        quality = np.asarray(test.quality, float)
        keep = np.isfinite(quality).all(axis=1)
        prompts = [p for p, k in zip(test.prompts, keep, strict=True) if k]
        weak, strong = (test.models.index(m) for m in PAIR)
        q_strong, q_weak = quality[keep, strong], quality[keep, weak]
        p_new = np.asarray(new.strong_probability(prompts, PAIR[1], PAIR[0]), float)
        p_old = np.asarray(old.strong_probability(prompts, PAIR[1], PAIR[0]), float)
        row = paired_bootstrap(p_new, p_old, q_strong, q_weak, args.resamples, args.seed)
        record["sources"][name] = row
        low, high = row["interval_95"]
        print(
            f"| {name} | {row['n']} | {row['apgr_router']:.4f} | {row['apgr_baseline']:.4f} | "
            f"{row['difference']:+.4f} | [{low:+.3f}, {high:+.3f}]"
            f"{'' if row['distinguishable_from_zero'] else ' (includes 0)'} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.out}.json"
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does a router tell easy everyday requests from hard ones? ROC AUC on the everyday prompt set.

    python benchmarks/everyday_auc.py                      # shipped default, its parts, baselines
    python benchmarks/everyday_auc.py --router runs/knn    # any trained two-model router too

Why: the benchmarks a router trains on are exam questions and word problems; users send
greetings, one-line facts, proofs and system designs. ``tests/data/everyday_prompts.jsonl``
holds 240 hand-written requests, clearly easy or clearly hard (``tests/data/EVERYDAY_PROMPTS.md``
says how they were made); its ``dev`` half may be used to fit things (the shipped default fits
its region floors there), the ``test`` half is reported. Per router and half: ROC AUC of
P(strong needed) with hard as positive, the share of easy prompts below the default threshold
0.5 and of hard ones at or above it, and the highest score among the quarter of prompts it
scores lowest (below 0.5: the easiest quarter goes to the weak model). Writes
``benchmarks/results/everyday_auc.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from routegraph.routers.heuristic import difficulty
from routegraph.routers.registry import load_router

ROOT = Path(__file__).resolve().parents[1]
EVERYDAY = ROOT / "tests" / "data" / "everyday_prompts.jsonl"
RESULTS = ROOT / "benchmarks" / "results"
THRESHOLD = 0.5


def summary(p: np.ndarray, hard: np.ndarray) -> dict[str, float]:
    lowest = np.sort(p)[: max(1, len(p) // 4)]
    return {
        "auc": float(roc_auc_score(hard, p)),
        "easy_below_threshold": float(np.mean(p[~hard] < THRESHOLD)),
        "hard_at_or_above_threshold": float(np.mean(p[hard] >= THRESHOLD)),
        "easiest_quarter_max": float(lowest.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    parser.add_argument("--router", action="append", default=[], help="more router folders")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in EVERYDAY.read_text().splitlines() if line.strip()]
    prompts = [r["prompt"] for r in rows]
    hard = np.array([r["label"] == "hard" for r in rows])
    half = np.array([r["split"] for r in rows])
    default = load_router("default")
    scores: dict[str, np.ndarray] = {
        "default (shipped)": default.strong_probability(prompts),
        "heuristic": np.array([difficulty(p) for p in prompts]),
        "prompt length (characters)": np.array([len(p) for p in prompts], float),
    }
    inner = getattr(default, "router_", None)
    if inner is not None:  # the learned part alone, without the novelty guard
        scores["default without its guard"] = inner.strong_probability(prompts)
    for path in args.router:
        scores[path] = load_router(path).strong_probability(prompts)
    record: dict[str, Any] = {"n": len(rows), "threshold": THRESHOLD, "routers": {}}
    for name, p in scores.items():
        record["routers"][name] = {
            part: summary(p[mask], hard[mask])
            for part, mask in (
                ("test", half == "test"),
                ("dev", half == "dev"),
                ("all", half != ""),
            )
        }
    print(
        "| router | AUC test | AUC dev | AUC all | easy < 0.5 (test) | hard >= 0.5 (test) "
        "| easiest quarter max (test) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, parts in record["routers"].items():
        t = parts["test"]
        scale = "n/a" if "length" in name else None
        print(
            f"| {name} | {t['auc']:.3f} | {parts['dev']['auc']:.3f} | {parts['all']['auc']:.3f} | "
            f"{scale or format(t['easy_below_threshold'], '.0%')} | "
            f"{scale or format(t['hard_at_or_above_threshold'], '.0%')} | "
            f"{scale or format(t['easiest_quarter_max'], '.3f')} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "everyday_auc.json"
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

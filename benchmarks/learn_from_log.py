"""Does ``routegraph learn`` help, and can its off-policy report be trusted? Checked on files
with every model's outcome known, so the truth is at hand.

    python benchmarks/learn_from_log.py --data runs/routellm_rb.csv --seeds 5
    python benchmarks/learn_from_log.py --dataset mmlu --seeds 5

Per seed: hold whole tasks out (``--split by-task``: train tasks, validation tasks, test tasks),
take the file's cheapest model as weak and its best on the training split as strong, train the
``--router`` on the training tasks, and set the threshold so half of the validation prompts go
to the strong model. Then play a deployment on half of the test prompts (the *log* half): the
router decides, the chosen model's recorded outcome is revealed, and with probability
``--explore`` the other model's too (propensity logged) - written as outcome records in the
format ``finalize`` writes, and given to the same ``learn()`` that ``routegraph learn`` runs. It
reports:

* **report vs truth** on the log half: the off-policy estimate of the new version's quality and
  cost, against its true quality and cost there (every outcome is recorded in the file);
* **future half**: the true quality and cost of the base router and the learned version on the
  other half of the test prompts (traffic neither saw), at the same threshold, beside the zero
  router's cost for that quality (a random mix of the two models).

Writes ``benchmarks/results/learn_from_log_<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from routegraph.app.learning import learn, promotion_verdict  # noqa: E402
from routegraph.core.data.dataset import RoutingDataset  # noqa: E402
from routegraph.core.data.loaders import load_any  # noqa: E402
from routegraph.core.data.splits import task_split  # noqa: E402
from routegraph.routers.registry import make_router  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
START = datetime(2026, 1, 1, tzinfo=UTC)


def pair_of(train: RoutingDataset) -> tuple[str, str]:
    """(weak, strong): the cheapest model, and the best one on the training split."""
    cost = np.nanmean(train.cost_usd, axis=0)
    quality = np.nanmean(train.quality, axis=0)
    weak = train.models[int(np.nanargmin(cost))]
    strong = train.models[int(np.nanargmax(quality))]
    if weak == strong:
        raise SystemExit(f"{train.name}: the cheapest model is also the best; nothing to route")
    return weak, strong


def log_records(
    data: RoutingDataset,
    router: Any,
    weak: str,
    strong: str,
    threshold: float,
    explore: float,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """The outcome records a deployment of ``router`` on ``data`` would leave (see module doc)."""
    prior = router.predict_quality(data.prompts)
    p = router.strong_probability(data.prompts, strong, weak)
    cols = {m: data.models.index(m) for m in (weak, strong)}
    out = []
    for i in range(len(data)):
        chosen = strong if p[i] >= threshold else weak
        other = weak if chosen == strong else strong
        calls = [(chosen, 1.0, True)]
        if rng.random() < explore:
            calls.append((other, explore, False))
        out.append(
            {
                "id": f"r{i}",
                "prompt": data.prompts[i],
                "created_at": (START + timedelta(minutes=i)).isoformat(),
                "router": "base",
                "router_version": None,
                "candidates": [weak, strong],
                "prior": {m: float(prior[i, router.models_.index(m)]) for m in (weak, strong)},
                "columns": {weak: weak, strong: strong},
                "p_strong": float(p[i]),
                "threshold": threshold,
                "calls": [
                    {
                        "model": m,
                        "served_by": m,
                        "chosen": is_chosen,
                        "explored": not is_chosen,
                        "propensity": prop,
                        "confidence": float(data.quality[i, cols[m]]),
                        "cost_usd": float(data.cost_usd[i, cols[m]]),
                    }
                    for m, prop, is_chosen in calls
                ],
                "feedback": None,
            }
        )
    return out


def policy_truth(
    data: RoutingDataset, router: Any, weak: str, strong: str, threshold: float
) -> dict[str, float]:
    """True mean quality and cost of routing ``data`` with ``router`` at ``threshold``."""
    p = router.strong_probability(data.prompts, strong, weak)
    pick = np.where(p >= threshold, data.models.index(strong), data.models.index(weak))
    rows = np.arange(len(data))
    return {
        "quality": round(float(np.mean(data.quality[rows, pick])), 4),
        "cost_usd": round(float(np.mean(data.cost_usd[rows, pick])), 8),
        "strong_share": round(float(np.mean(p >= threshold)), 4),
    }


def zero_cost(data: RoutingDataset, weak: str, strong: str, quality: float) -> float | None:
    """The cost a random weak/strong mix needs for ``quality`` (None if out of its reach)."""
    w, s = data.models.index(weak), data.models.index(strong)
    qw, qs = np.nanmean(data.quality[:, w]), np.nanmean(data.quality[:, s])
    cw, cs = np.nanmean(data.cost_usd[:, w]), np.nanmean(data.cost_usd[:, s])
    if quality <= qw:
        return float(cw)
    if quality > qs or qs <= qw:
        return None
    share = (quality - qw) / (qs - qw)
    return float(cw + share * (cs - cw))


def with_zero_ratio(
    row: dict[str, Any], data: RoutingDataset, weak: str, strong: str
) -> dict[str, Any]:
    """``row`` (from :func:`policy_truth`) with the zero router's cost for its quality on
    ``data`` and its own cost over that."""
    zc = zero_cost(data, weak, strong, row["quality"])
    row["zero_cost_usd"] = None if zc is None else round(zc, 8)
    row["zero_ratio"] = None if not zc else round(row["cost_usd"] / zc, 4)
    return row


def calibrated_on_future(
    future: RoutingDataset,
    base: Any,
    val: RoutingDataset,
    learned: Any,
    weak: str,
    strong: str,
    target: tuple[str, float],
    log_half: RoutingDataset,
    reported: dict[str, Any],
) -> dict[str, Any]:
    """The target's threshold calibrated two ways - the base router on validation (the training
    tasks), the learned version on the log (``learn --calibrate``) - and what each gives on the
    future half: quality over the strong model's there, cost over the zero router's. For the
    log's threshold also the report's interval of the quality share it keeps, and whether it
    covers the truth on the log half (the records it was estimated from) and on the future
    half."""
    from routegraph.routers.calibration import calibrate

    kind, value = target
    strong_quality = float(np.nanmean(future.quality[:, future.models.index(strong)]))
    out: dict[str, Any] = {"target": f"{kind}={value:g}"}
    thresholds = {
        "base_on_validation": (base, calibrate(base, val, kind, value)),
        "learned_on_log": (learned, learned.meta_["thresholds"][f"{kind}={value:g}"]["threshold"]),
    }
    for label, (router, threshold) in thresholds.items():
        row = with_zero_ratio(
            policy_truth(future, router, weak, strong, threshold), future, weak, strong
        )
        row["quality_fraction"] = round(row["quality"] / strong_quality, 4)
        row["met"] = (
            bool(row["quality_fraction"] >= value - 1e-9) if kind == "quality_fraction" else None
        )
        out[label] = row
    key = out["target"]
    interval = reported["targets"][key]["quality_fraction_interval"]
    log_truth = policy_truth(
        log_half, learned, weak, strong, learned.meta_["thresholds"][key]["threshold"]
    )
    log_strong = float(np.nanmean(log_half.quality[:, log_half.models.index(strong)]))
    truth = {
        "log_half": round(log_truth["quality"] / log_strong, 4),
        "future_half": out["learned_on_log"]["quality_fraction"],
    }
    out["report_interval"] = {
        "quality_fraction": reported["targets"][key]["quality_fraction"],
        "interval": interval,
        "truth": truth,
        "covers": {k: bool(interval[0] <= v <= interval[1]) for k, v in truth.items()},
    }
    return out


def one_seed(
    ds: RoutingDataset,
    seed: int,
    router_name: str,
    explore: float,
    target: tuple[str, float] | None = None,
) -> dict[str, Any]:
    train_rows, val_rows, test_rows = task_split(ds, seed, val_frac=0.1, test_frac=0.4)
    weak, strong = pair_of(ds.subset(train_rows))
    pair = [weak, strong]
    cols = [ds.models.index(m) for m in pair]
    known = np.isfinite(ds.quality[:, cols]).all(axis=1) & np.isfinite(ds.cost_usd[:, cols]).all(
        axis=1
    )  # prompts where both models have a recorded outcome
    train_rows, val_rows, test_rows = (r[known[r]] for r in (train_rows, val_rows, test_rows))
    train = ds.subset(train_rows)
    base = make_router(router_name).fit(train.with_models(pair))
    val = ds.subset(val_rows).with_models(pair)
    threshold = float(np.median(base.strong_probability(val.prompts, strong, weak)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(test_rows)
    half = len(order) // 2
    log_half = ds.subset(np.sort(order[:half])).with_models(pair)
    future = ds.subset(np.sort(order[half:])).with_models(pair)
    records = log_records(log_half, base, weak, strong, threshold, explore, rng)
    learned, report = learn(records, base, "base", None, targets=[target] if target else None)
    truth_log = policy_truth(log_half, learned, weak, strong, threshold)
    base_future = policy_truth(future, base, weak, strong, threshold)
    new_future = policy_truth(future, learned, weak, strong, threshold)
    for row in (base_future, new_future):
        with_zero_ratio(row, future, weak, strong)
    calibrated = (
        calibrated_on_future(
            future,
            base,
            val,
            learned,
            weak,
            strong,
            target,
            log_half,
            report["calibrated_on_log"],
        )
        if target
        else None
    )
    return {
        "seed": seed,
        "calibrated": calibrated,
        "weak": weak,
        "strong": strong,
        "threshold": round(threshold, 4),
        "n_log": len(log_half),
        "n_future": len(future),
        "report": {
            "current": report["policy"]["current"],
            "new_estimate": report["policy"]["new"],
            "change": report["policy"]["change"],
            "records_to_settle": report["policy"]["records_to_settle"],
            "explored_records": report["explored_records"],
            "switched_share": report["policy"]["switched_share"],
            "support": report["policy"]["support"],
            "mse": {m["column"]: [m["mse_current"], m["mse_new"]] for m in report["models"]},
        },
        "promotion": dict(zip(("promote", "why"), promotion_verdict(report), strict=True)),
        "beyond_mix_truth": {
            "log_half": round(
                truth_log["quality"]
                - report["policy"]["current"]["quality"]
                - exchange_rate(log_half, weak, strong)
                * (truth_log["cost_usd"] - report["policy"]["current"]["cost_usd"]),
                4,
            ),
            "future_half": round(
                new_future["quality"]
                - base_future["quality"]
                - exchange_rate(future, weak, strong)
                * (new_future["cost_usd"] - base_future["cost_usd"]),
                4,
            ),
        },
        "new_truth_on_log": truth_log,
        "interval_covers_truth": bool(
            report["policy"]["new"]["quality_interval"][0]
            <= truth_log["quality"]
            <= report["policy"]["new"]["quality_interval"][1]
        ),
        "future": {"base": base_future, "learned": new_future},
    }


def exchange_rate(data: RoutingDataset, weak: str, strong: str) -> float:
    """Quality per USD of sending one more request to the strong model instead of the weak."""
    w, s = data.models.index(weak), data.models.index(strong)
    spread = float(np.mean(data.cost_usd[:, s]) - np.mean(data.cost_usd[:, w]))
    gap = float(np.mean(data.quality[:, s]) - np.mean(data.quality[:, w]))
    return gap / spread if spread > 0 else 0.0


def true_change(row: dict[str, Any]) -> dict[str, Any]:
    """What promoting the learned version truly changed, on the log half (where the report
    estimated it) and on the future half (traffic neither router saw)."""

    def diff(new: dict[str, float], old: dict[str, float]) -> dict[str, float]:
        return {
            "quality": round(new["quality"] - old["quality"], 4),
            "cost_usd": round(new["cost_usd"] - old["cost_usd"], 8),
        }

    return {
        "seed": row["seed"],
        "log_half": diff(row["new_truth_on_log"], row["report"]["current"]),
        "future_half": diff(row["future"]["learned"], row["future"]["base"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a RouterBench-format CSV with an eval_name column")
    source.add_argument("--dataset", help="a bundled dataset name (mmlu, mmlu_pro ...)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--router", default="knn", help="router to train (default knn)")
    parser.add_argument("--explore", type=float, default=0.1, help="explore share (default 0.1)")
    parser.add_argument(
        "--calibrate",
        metavar="KIND=VALUE",
        help="also calibrate this target on validation (base) and on the log (learn "
        "--calibrate) and score both thresholds on the future half",
    )
    parser.add_argument("--out", help="result name (default: from the data)")
    args = parser.parse_args(argv)
    target = None
    if args.calibrate:
        from routegraph.app.commands.learn import calibration_target

        target = calibration_target(args.calibrate)
    ds = load_any(args.data or args.dataset)
    name = args.out or Path(args.data or args.dataset).stem
    rows = []
    for seed in range(args.seeds):
        row = one_seed(ds, seed, args.router, args.explore, target)
        rows.append(row)
        if row["calibrated"]:
            cal = row["calibrated"]
            print(
                f"seed {seed}: {cal['target']} on the future half: base calibrated on validation "
                f"{cal['base_on_validation']['quality_fraction']:.3f} "
                f"x{cal['base_on_validation']['zero_ratio']}; learned, calibrated on the log "
                f"{cal['learned_on_log']['quality_fraction']:.3f} "
                f"x{cal['learned_on_log']['zero_ratio']}",
                flush=True,
            )
        est, truth = row["report"]["new_estimate"], row["new_truth_on_log"]
        base, new = row["future"]["base"], row["future"]["learned"]
        low, high = est["quality_interval"]
        print(
            f"seed {seed}: estimate {est['quality']:.3f} [{low:.3f}, {high:.3f}] / truth "
            f"{truth['quality']:.3f} "
            f"(log half); future: base q {base['quality']:.3f} c {base['cost_usd']:.6f} "
            f"zero x{base['zero_ratio']} | learned q {new['quality']:.3f} "
            f"c {new['cost_usd']:.6f} zero x{new['zero_ratio']}",
            flush=True,
        )
    summary = {
        "estimate_error_quality": round(
            float(np.mean([abs(r["report"]["new_estimate"]["quality"]
                               - r["new_truth_on_log"]["quality"]) for r in rows])), 4
        ),
        "future_quality_change": round(
            float(np.mean([r["future"]["learned"]["quality"] - r["future"]["base"]["quality"]
                           for r in rows])), 4
        ),
        "interval_coverage": f"{sum(r['interval_covers_truth'] for r in rows)} of {len(rows)}",
        "future_cost_ratio": round(
            float(np.mean([r["future"]["learned"]["cost_usd"]
                           / max(r["future"]["base"]["cost_usd"], 1e-12) for r in rows])), 4
        ),
    }  # fmt: skip
    promoted = [r for r in rows if r["promotion"]["promote"]]
    summary["promoted_if_better"] = f"{len(promoted)} of {len(rows)}"
    summary["promoted_true_change"] = [true_change(r) for r in promoted]
    calibrated = [r["calibrated"]["report_interval"] for r in rows if r["calibrated"]]
    if calibrated:
        summary["calibration_interval_coverage"] = {
            half: f"{sum(c['covers'][half] for c in calibrated)} of {len(calibrated)}"
            for half in ("log_half", "future_half")
        }
        summary["calibration_interval_mean_width"] = round(
            float(np.mean([c["interval"][1] - c["interval"][0] for c in calibrated])), 4
        )
    result = {
        "command": "python benchmarks/learn_from_log.py " + " ".join(argv or sys.argv[1:]),
        "router": args.router,
        "explore": args.explore,
        "seeds": rows,
        "summary": summary,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"learn_from_log_{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary), f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

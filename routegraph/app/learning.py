"""``routegraph learn``: refit a router from its own outcome log, with an off-policy report.

The log (:mod:`routegraph.core.outcomes`) knows, per routed request, the router's predicted
quality of every candidate (``prior``) and the outcome of the models that were actually called:
the user's feedback where given (for the answer they saw), else the evaluator's verdict, with
the probability each call had of being made. :class:`~routegraph.routers.corrected.CorrectedRouter`
turns that into a per-model correction of the router.

Before anything is promoted the report answers "would the new router be better here?" from the
log alone (off-policy: the new router's choices were often not made):

* **prediction error**: IPS-weighted mean squared error of each router's predicted quality
  against the observed labels, the new router's predictions *cross-fitted* (each record scored
  by a correction fitted without it, 5 blocks in time order), so the figure is out of sample;
* **policy value** for weak/strong routing (records with ``p_strong`` and a threshold): the
  quality and cost of the first model each router would call, the new router's by a doubly
  robust estimate (its cross-fitted prediction, corrected by the observed label weighted by one
  over the propensity where the log observed that model), with the share of switched decisions
  the log can back up (``support``: there only exploration tells).

Every policy figure comes with a bootstrap interval over records (:mod:`log_intervals`): the
report says when the log cannot tell whether the new version is better, and how many records
would settle it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.app.log_intervals import (
    LEVEL,
    TOLERANCE,
    direction,
    interval,
    records_to_settle,
    resampled_means,
)
from routegraph.core.errors import InvalidInputError
from routegraph.routers.base import Router
from routegraph.routers.corrected import (
    CorrectedRouter,
    apply_corrections,
    doubly_robust,
    ridge_corrections,
    shifted_p_strong,
)

FOLDS = 5
MIN_RECORDS = 20


@dataclass
class LogTable:
    """The log as arrays over the base router's columns (one row per usable record)."""

    columns: list[str]
    records: list[dict[str, Any]]
    prior: np.ndarray
    outcomes: np.ndarray
    propensity: np.ndarray
    cost: np.ndarray
    """USD of each observed call (NaN where not observed)."""
    labels: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    names: dict[str, set[str]] = field(default_factory=dict)
    """Router column -> the catalog names the log mapped onto it (what users call them)."""


def label_of(record: dict[str, Any], call: dict[str, Any]) -> tuple[float | None, str]:
    """The quality label of one call: the user's feedback for the answer they were given,
    else the evaluator's confidence; None when neither exists."""
    feedback = record.get("feedback") or {}
    if call.get("chosen") and feedback.get("score") is not None:
        return float(feedback["score"]), "feedback"
    if call.get("confidence") is not None:
        return float(call["confidence"]), "evaluator"
    return None, ""


def base_router_name(records: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The (router, version) most of the log was routed with: what a refit corrects."""
    used = Counter((r.get("router"), r.get("router_version")) for r in records if r.get("prior"))
    if not used:
        raise InvalidInputError(
            "--db", "its outcome log has no routed records", "a log to learn from"
        )
    (name, version), _ = used.most_common(1)[0]
    return str(name), version


def log_table(
    records: list[dict[str, Any]], router: Router, name: str, version: str | None
) -> LogTable:
    """Rows for the records routed by ``name`` at ``version``, in time order."""
    columns = list(router.models_)
    rows: list[tuple[Any, ...]] = []
    labels: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    names: dict[str, set[str]] = {}
    for record in sorted(records, key=lambda r: str(r.get("created_at", ""))):
        if record.get("router") != name or record.get("router_version") != version:
            skipped["routed by another router or version"] += 1
            continue
        prior, outcome = np.full(len(columns), np.nan), np.full(len(columns), np.nan)
        propensity, cost = np.ones(len(columns)), np.full(len(columns), np.nan)
        mapping = record.get("columns") or {}
        for model, q in (record.get("prior") or {}).items():
            column = mapping.get(model, model)
            if column in columns:
                prior[columns.index(column)] = float(q)
                names.setdefault(column, set()).add(model)
        for call in record.get("calls", []):
            answered_by = call.get("served_by") or call["model"]  # a fallback's answer is its own
            column = mapping.get(answered_by, answered_by)
            y, source = label_of(record, call)
            if column not in columns or y is None:
                continue
            j = columns.index(column)
            outcome[j], propensity[j] = y, max(float(call.get("propensity", 1.0)), 1e-3)
            cost[j] = float(call.get("cost_usd", 0.0))
            labels[source] += 1
        if not np.isfinite(outcome).any():
            skipped["no labelled call"] += 1
            continue
        rows.append((record, prior, outcome, propensity, cost))
    if not rows:
        empty = np.zeros((0, len(columns)))
        return LogTable(columns, [], empty, empty, empty, empty, labels, skipped, names)
    records_, priors, outcomes, propensities, costs = zip(*rows, strict=True)
    return LogTable(
        columns,
        list(records_),
        np.array(priors),
        np.array(outcomes),
        np.array(propensities),
        np.array(costs),
        labels,
        skipped,
        names,
    )


def cross_fitted(table: LogTable, ridge: float) -> np.ndarray:
    """Each record's corrected prediction from a correction fitted on the other time blocks."""
    n = len(table.records)
    out = np.array(table.prior, copy=True)
    blocks = np.array_split(np.arange(n), min(FOLDS, n)) if n else []
    for block in blocks:
        rest = np.setdiff1d(np.arange(n), block)
        theta = ridge_corrections(
            table.outcomes[rest], table.propensity[rest], table.prior[rest], ridge
        )
        out[block] = apply_corrections(table.prior[block], theta)
    return out


def weighted_mse(pred: np.ndarray, table: LogTable) -> list[float | None]:
    """Per column, the IPS-weighted mean squared error against observed labels."""
    out: list[float | None] = []
    for j in range(len(table.columns)):
        seen = np.isfinite(table.outcomes[:, j]) & np.isfinite(pred[:, j])
        if not seen.any():
            out.append(None)
            continue
        w = 1.0 / table.propensity[seen, j]
        err = (pred[seen, j] - table.outcomes[seen, j]) ** 2
        out.append(round(float((w * err).sum() / w.sum()), 5))
    return out


def mean_costs(table: LogTable) -> np.ndarray:
    """Each column's mean USD per observed call (0 where the log never called it): the price
    of a call the log did not make."""
    return np.array([float(np.nanmean(c)) if np.isfinite(c).any() else 0.0 for c in table.cost.T])


def pair_policy(table: LogTable, corrected: np.ndarray) -> dict[str, Any] | None:
    """Current vs new weak/strong policy on the records that logged ``p_strong`` (see the
    module doc), each figure with its interval over records (:mod:`log_intervals`); None when
    the log has no such records."""
    rows = [
        i
        for i, r in enumerate(table.records)
        if r.get("p_strong") is not None
        and r.get("threshold") is not None
        and len(r.get("candidates", [])) == 2
    ]
    used: list[int] = []
    logged_column: list[int] = []
    new_column: list[int] = []
    pair_columns: list[tuple[int, int]] = []
    for i in rows:
        record = table.records[i]
        mapping = record.get("columns") or {}
        weak, strong = (table.columns.index(mapping.get(m, m)) for m in record["candidates"])
        first = next((c for c in record["calls"] if not c.get("explored")), None)
        if first is None:  # nothing routed answered; only an exploratory call did
            continue
        shift = corrected[i] - table.prior[i]
        p_new = float(shifted_p_strong(np.float64(record["p_strong"]), shift, strong, weak))
        used.append(i)
        logged_column.append(table.columns.index(mapping.get(first["model"], first["model"])))
        new_column.append(strong if p_new >= record["threshold"] else weak)
        pair_columns.append((weak, strong))
    if not used:
        return None
    index, logged, choice = (np.array(v) for v in (used, logged_column, new_column))
    weak_column, strong_column = np.array(pair_columns).T
    # not clipped: unbiased, so the interval can cover the truth (clipped estimates are closer
    # on average, but their intervals missed it far more often: BENCHMARKS.md, "How sure")
    estimate = doubly_robust(corrected, table.outcomes, table.propensity)
    observed = table.outcomes[index, logged]
    current_q = np.where(np.isfinite(observed), observed, corrected[index, logged])
    current_c = np.nan_to_num(table.cost[index, logged], nan=0.0)
    new_q = estimate[index, choice]
    price = mean_costs(table)

    def cost_of(column: np.ndarray) -> np.ndarray:  # as observed, else the model's mean
        paid = table.cost[index, column]
        return np.where(np.isfinite(paid), paid, price[column])

    new_c = cost_of(choice)
    switched = choice != logged
    backed = switched & np.isfinite(table.outcomes[index, choice])
    columns = [current_q, new_q, current_c, new_c]
    columns += [estimate[index, strong_column], estimate[index, weak_column]]
    columns += [cost_of(strong_column), cost_of(weak_column)]
    per_record = np.column_stack(columns)
    means = per_record.mean(axis=0)
    draws = resampled_means(per_record)
    quality_change = interval(draws[:, 1] - draws[:, 0])
    cost_change = interval(draws[:, 3] - draws[:, 2], digits=8)
    beyond = beyond_mix(means[None, :])[0]
    beyond_interval = interval(beyond_mix(draws))
    return {
        "records": int(index.size),
        "current": {"quality": _r(current_q.mean()), "cost_usd": _r(current_c.mean(), 8)},
        "new": {
            "quality": _r(new_q.mean()),
            "cost_usd": _r(new_c.mean(), 8),
            "quality_interval": interval(draws[:, 1]),
            "cost_interval": interval(draws[:, 3], digits=8),
        },
        "change": {
            "quality": _r(new_q.mean() - current_q.mean()),
            "quality_interval": quality_change,
            "quality_says": direction(quality_change, "higher", "lower"),
            "cost_usd": _r(new_c.mean() - current_c.mean(), 8),
            "cost_interval": cost_change,
            "cost_says": direction(cost_change, "higher", "lower"),
            "beyond_mix": _r(beyond),
            "beyond_mix_interval": beyond_interval,
            "beyond_mix_says": direction(beyond_interval, "higher", "lower"),
        },
        "records_to_settle": records_to_settle(quality_change, int(index.size)),
        "switched_share": _r(switched.mean()),
        "support": _r(backed.sum() / switched.sum()) if switched.any() else None,
    }


def beyond_mix(means: np.ndarray) -> np.ndarray:
    """Quality the new version gains beyond what its change in cost would buy by sending more
    requests (or fewer) to the strong model at random, from ``means`` (draws, 8) of: current
    quality, new quality, current cost, new cost, then the strong and the weak model's quality
    and cost. Why: learning often moves the operating point (more quality for more money, or
    less for less) without ranking better; the weak/strong exchange rate says whether the move
    beats that, i.e. whether the new version is on a better cost-quality curve."""
    dq, dc = means[:, 1] - means[:, 0], means[:, 3] - means[:, 2]
    spread = means[:, 6] - means[:, 7]
    rate = np.where(spread > 0, (means[:, 4] - means[:, 5]) / np.where(spread > 0, spread, 1), 0)
    return dq - rate * dc


def _r(value: Any, digits: int = 4) -> float:
    return round(float(value), digits)


def log_calibration(
    table: LogTable,
    router: CorrectedRouter,
    corrected: np.ndarray,
    targets: list[tuple[str, float]],
) -> dict[str, Any] | None:
    """Thresholds for ``targets`` chosen on the deployment's own log, stored in the new
    router's calibrations (``meta_["thresholds"]``, what ``target=KIND=VALUE`` resolves).

    Why: an operating point calibrated on benchmark validation data does not carry over to
    traffic of other tasks (BENCHMARKS.md, "The ceiling"); the log is that traffic. Per
    weak/strong record of the most common pair: the new router's P(strong) (recomputed from the
    prompt where the log kept it, else the logged one moved by the fitted correction, as the
    router moves it when serving) and each model's
    outcome estimated doubly robustly (the cross-fitted prediction, plus the observed label's
    error over the call's propensity where the log has it; clipped to [0, 1]), at the call's
    cost where observed, else the model's mean. Each target also gets the share of the strong
    model's quality its threshold keeps, with intervals over records and, where the quality
    interval is wider than +/- two points, the records that would settle it: from the unclipped
    estimates (unbiased, so the interval can cover the truth), while the threshold is chosen on
    the clipped ones (steadier; ``quality`` is what the choice saw). None when no record is a
    weak/strong decision.
    """
    from routegraph.core.data.dataset import RoutingDataset
    from routegraph.routers.calibration import calibrate

    pairs: Counter[tuple[int, int]] = Counter()
    rows: list[tuple[int, int, int]] = []
    for i, record in enumerate(table.records):
        if record.get("p_strong") is None or len(record.get("candidates", [])) != 2:
            continue
        mapping = record.get("columns") or {}
        weak, strong = (table.columns.index(mapping.get(m, m)) for m in record["candidates"])
        pairs[(weak, strong)] += 1
        rows.append((i, weak, strong))
    if not rows:
        return None
    (weak, strong), _ = pairs.most_common(1)[0]
    index = [i for i, w, s in rows if (w, s) == (weak, strong)]
    texts = [table.records[i].get("prompt") for i in index]
    if all(isinstance(t, str) for t in texts):  # the router's own scores, exactly as served
        pair = (table.columns[strong], table.columns[weak])
        p_new = np.asarray(router.strong_probability([str(t) for t in texts], *pair), float)
    else:  # prompts not kept (outcome_log=embedding): the logged score, moved as served
        final = apply_corrections(table.prior[index], router.theta_)
        logged = np.array([float(table.records[i]["p_strong"]) for i in index])
        p_new = shifted_p_strong(logged, final - table.prior[index], strong, weak)
    pick = [strong, weak]
    estimate = doubly_robust(
        corrected[index][:, pick],
        table.outcomes[index][:, pick],
        table.propensity[index][:, pick],
    )
    mean_cost = mean_costs(table)
    cost = table.cost[index][:, pick]
    cost = np.where(np.isfinite(cost), cost, mean_cost[pick])
    names = [table.columns[strong], table.columns[weak]]
    log = RoutingDataset(
        "outcome log",
        [str(table.records[i].get("id", i)) for i in index],
        names,
        np.clip(estimate, 0.0, 1.0),
        cost,
        strong_model=names[0],
        weak_model=names[1],
    )
    strong_q, weak_q = estimate.T  # unclipped: unbiased, so the interval can cover
    targets_out: dict[str, Any] = {}
    for kind, value in targets:
        calibrate(router, log, kind, value, p_strong=p_new)
        key = f"{kind}={value:g}"
        chosen = router.meta_["thresholds"][key]
        to_strong = p_new >= chosen["threshold"]
        routed_q = np.where(to_strong, strong_q, weak_q)
        routed_c = np.where(to_strong, cost[:, 0], cost[:, 1])
        draws = resampled_means(np.column_stack([routed_q, strong_q, routed_c]))
        fraction = interval(draws[:, 0] / np.maximum(draws[:, 1], 1e-12))
        met = None  # a share or a price: the log knows exactly what the threshold gives
        if kind == "quality_fraction":
            met = direction([bound - value for bound in fraction], "yes", "no")
        targets_out[key] = {
            "threshold": _r(chosen["threshold"]),
            "strong_share": _r(chosen["val_strong_share"]),
            "quality": _r(chosen["val_quality"]),
            "quality_fraction": _r(routed_q.mean() / max(strong_q.mean(), 1e-12)),
            "quality_fraction_interval": fraction,
            "cost_per_1k": _r(chosen["val_cost_per_1k"], 6),
            "cost_per_1k_interval": interval(draws[:, 2] * 1000, digits=6),
            "meets_target": met,
            "records_to_settle": None
            if met in ("yes", "no")
            else records_to_settle(fraction, len(index)),
        }
    return {"records": len(index), "strong": names[0], "weak": names[1], "targets": targets_out}


def learn(
    records: list[dict[str, Any]],
    base: Router,
    name: str,
    version: str | None,
    ridge: float = 5.0,
    min_records: int = MIN_RECORDS,
    targets: list[tuple[str, float]] | None = None,
) -> tuple[CorrectedRouter, dict[str, Any]]:
    """The corrected router fitted on every usable record, and the off-policy report; with
    ``targets`` (``[(kind, value)]``, e.g. ``("quality_fraction", 0.95)``) also thresholds
    for them calibrated on the log (:func:`log_calibration`)."""
    router = CorrectedRouter.around(base, ridge)
    table = log_table(records, router, name, version)
    n = len(table.records)
    if n < min_records:
        raise InvalidInputError(
            "--db",
            f"only {n} usable records for router {name!r}"
            + (f" version {version}" if version else "")
            + f" (skipped: {dict(table.skipped) or 'none'})",
            f"at least {min_records} (--min-records)",
        )
    corrected = cross_fitted(table, ridge)
    router.fit_outcomes(table.outcomes, table.propensity, table.prior)
    observed = np.isfinite(table.outcomes)
    report = {
        "base_router": name,
        "base_version": version,
        "records": n,
        "skipped": dict(table.skipped),
        "labels": dict(table.labels),
        "explored_records": sum(
            any(call.get("explored") for call in r.get("calls", [])) for r in table.records
        ),
        "interval_level": LEVEL,
        "models": [
            {
                "column": column,
                "models": sorted(table.names.get(column, ())),
                "observed": int(observed[:, j].sum()),
                "mean_label": _r(np.nanmean(table.outcomes[:, j]))
                if observed[:, j].any()
                else None,
                "mse_current": cur,
                "mse_new": new,
                "correction": [_r(v) for v in router.theta_[j]],
            }
            for j, (column, cur, new) in enumerate(
                zip(
                    table.columns,
                    weighted_mse(table.prior, table),
                    weighted_mse(corrected, table),
                    strict=True,
                )
            )
        ],
        "policy": pair_policy(table, corrected),
    }
    if targets:
        report["calibrated_on_log"] = log_calibration(table, router, corrected, targets)
    router.meta_["learned"] = {k: report[k] for k in ("base_router", "base_version", "records")}
    return router, report


def promotion_verdict(report: dict[str, Any]) -> tuple[bool, str]:
    """Whether the log shows the new version better, by the report's intervals: for
    ``learn --promote-if-better``, a loop that can run unattended.

    Promote when quality is higher beyond doubt and cost not higher beyond doubt, or cost is
    lower beyond doubt and quality at most :data:`~routegraph.app.log_intervals.TOLERANCE`
    lower at the interval's worst, or quality is higher for more money at a rate beyond doubt
    better than the weak/strong exchange rate (:func:`beyond_mix`: a better curve, not just
    another point on it). Never when quality is lower beyond doubt, on a log with no
    weak/strong decision to judge by, or when it cannot tell.
    """
    policy = report.get("policy")
    if not policy:
        return False, "the log has no weak/strong decision to judge the new version by"
    change = policy["change"]
    quality, cost = change["quality_says"], change["cost_says"]
    worst = change["quality_interval"][0]
    if quality == "lower":
        return False, f"quality is lower beyond doubt ({change['quality']:+.3f})"
    if quality == "higher" and cost == "higher":
        if change["beyond_mix_says"] == "higher":
            return True, (
                f"quality is higher ({change['quality']:+.3f}) for more money, beyond doubt at "
                "a better rate than sending more requests to the strong model"
            )
        return False, (
            "it buys quality with money at a rate the log cannot tell from sending more "
            "requests to the strong model: promote by hand if the trade is wanted"
        )
    if cost == "higher":
        return False, "cost is higher beyond doubt and quality is not"
    if quality == "higher":
        return True, f"quality is higher beyond doubt ({change['quality']:+.3f})"
    if cost == "lower" and worst >= -TOLERANCE:
        return True, f"cost is lower beyond doubt, quality at worst {worst:+.3f}"
    if cost == "lower":
        return False, f"cost is lower, but the log cannot rule out quality {worst:+.3f}"
    return False, "the log cannot tell whether it is better; log more (explore)"


def write_version(router: CorrectedRouter, report: dict[str, Any], out: Path) -> Path:
    """Save ``router`` as the next version of ``out`` with its report; nothing is promoted."""
    from routegraph.routers.versions import write_version as write

    return write(router, report, out, "learn_report.json")

"""Operating points chosen on the validation split, then measured on test; the zero router.

Why: reading a router's best threshold off the test curve flatters it (the test set picks its
own operating point). Here every router's threshold (two models) or cost weight lambda (N
models) is chosen on validation prompts for a target - the cheapest setting reaching a fraction
of the best single model's quality there - and only then applied to the test prompts. The
curve stays in the record for plots; the numbers that claim a target come from here.

The zero router is RouterBench's baseline with no prompt-level routing: the best random mix of
single models (their cost-quality convex hull). It is reported beside every router, as a curve
summary on test and, like a router, as a mix chosen on validation and measured on test.

Targets (issue 11): ``q95`` = 95% of the best single model's quality at <= 30% of its cost and
at <= half of what the zero router pays for that quality; ``q100`` = the best single model's
quality at <= 60% of its cost. "Best single model" is the strong reference of each split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from routegraph.app.bench.baselines import References
from routegraph.core import metrics

TARGETS: dict[str, dict[str, float]] = {
    "q95": {"quality_fraction": 0.95, "max_cost_ratio": 0.30, "max_zero_ratio": 0.5},
    "q100": {"quality_fraction": 1.0, "max_cost_ratio": 0.60},
}
"""The quality fraction each target asks for and the cost bounds that make it met."""


@dataclass(frozen=True)
class ScoredSplit:
    """A router's scores on one split with that split's recorded outcomes.

    ``scores`` is P(strong) per prompt (two models, shape ``(n,)``) or predicted quality per
    model (``(n, m)``); ``decision_cost`` is what the router knows of each call's price at
    decision time: ``(m,)`` mean USD per call on the training split, or ``(n, m)`` per prompt
    (see :mod:`routegraph.app.bench.costs`).
    """

    scores: np.ndarray
    quality: np.ndarray
    cost: np.ndarray
    refs: References
    decision_cost: np.ndarray

    @property
    def two_model(self) -> bool:
        return self.scores.ndim == 1

    def choose(self, setting: float) -> np.ndarray:
        """Model column per prompt at ``setting`` (threshold on P(strong), or lambda)."""
        if self.two_model:
            return np.where(self.scores >= setting, self.refs.strong_index, self.refs.weak_index)
        cost = self.decision_cost if self.decision_cost.ndim == 2 else self.decision_cost[None, :]
        return np.argmax(self.scores - setting * cost, axis=1)

    def outcome(self, setting: float) -> dict[str, float]:
        """Mean quality, mean cost and share of strong calls at ``setting``."""
        pick = self.choose(setting)
        rows = np.arange(len(pick))
        return {
            "quality": float(self.quality[rows, pick].mean()),
            "cost_usd": float(self.cost[rows, pick].mean()),
            "strong_share": float((pick == self.refs.strong_index).mean()),
        }

    def points(self) -> metrics.OperatingPoints:
        """Every distinct operating point (threshold sweep or lambda sweep)."""
        q, c, r = self.quality, self.cost, self.refs
        if self.two_model:
            s, w = r.strong_index, r.weak_index
            return metrics.threshold_curve(self.scores, q[:, s], q[:, w], c[:, s], c[:, w])
        points, _ = metrics.lambda_curve(
            self.scores, self.decision_cost, q, c, strong_index=r.strong_index
        )
        return points


def cheapest_reaching(points: metrics.OperatingPoints, goal: float) -> tuple[int, bool]:
    """Index of the cheapest point with quality >= ``goal`` (else the best one) and whether the
    goal was reached."""
    ok = np.flatnonzero(points.quality >= goal - 1e-12)
    if ok.size == 0:
        return int(np.argmax(points.quality)), False
    return int(ok[np.argmin(points.cost_usd[ok])]), True


# -- zero router -------------------------------------------------------------------------------
def single_points(quality: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean cost, mean quality) of always calling each model."""
    return np.asarray(cost, float).mean(axis=0), np.asarray(quality, float).mean(axis=0)


def zero_cost_to_reach(quality: np.ndarray, cost: np.ndarray, goal: float) -> float:
    """What the best mix of single models pays per query to reach ``goal`` (NaN if never)."""
    c, q = single_points(quality, cost)
    return metrics.cost_to_reach(c, q, goal)


def zero_mix(quality: np.ndarray, cost: np.ndarray, goal: float) -> dict[int, float]:
    """The cheapest random mix of single models reaching ``goal``: ``{model column: weight}``
    (two neighbouring hull vertices; the best model alone when the goal is out of reach)."""
    c, q = single_points(quality, cost)
    hc, hq = metrics.nondecreasing_hull(c, q)
    vertex = [int(np.flatnonzero((c == hc[i]) & (q == hq[i]))[0]) for i in range(len(hc))]
    hits = np.flatnonzero(hq >= goal - 1e-12)
    if hits.size == 0:
        return {vertex[-1]: 1.0}
    j = int(hits[0])
    if j == 0:
        return {vertex[0]: 1.0}
    share = float((goal - hq[j - 1]) / (hq[j] - hq[j - 1]))
    return {vertex[j - 1]: 1.0 - share, vertex[j]: share}


def zero_router_record(test_q: np.ndarray, test_c: np.ndarray, refs: References) -> dict[str, Any]:
    """The zero router's curve summary on test: single models as operating points."""
    c, q = single_points(test_q, test_c)
    share = np.array([1.0 if j == refs.strong_index else 0.0 for j in range(len(c))])
    points = metrics.OperatingPoints(np.full(len(c), np.nan), share, q, c)
    strong = (refs.strong_quality, refs.strong_cost)
    weak = (refs.weak_quality, refs.weak_cost)
    return metrics.summarize_curve(points, strong, weak, refs.cost_range)


# -- validation-chosen, test-measured ------------------------------------------------------------
def _verdict(
    name: str, quality: float, cost: float, test_q: np.ndarray, test_c: np.ndarray, refs: References
) -> dict[str, Any]:
    goal = TARGETS[name]
    fraction = quality / refs.strong_quality if refs.strong_quality > 0 else float("nan")
    ratio = cost / refs.strong_cost if refs.strong_cost > 0 else float("nan")
    out: dict[str, Any] = {
        "test_quality": quality,
        "test_cost_usd": cost,
        "test_quality_fraction": fraction,
        "test_cost_ratio": ratio,
    }
    met = fraction >= goal["quality_fraction"] - 1e-9 and ratio <= goal["max_cost_ratio"]
    if "max_zero_ratio" in goal:
        zero = zero_cost_to_reach(test_q, test_c, goal["quality_fraction"] * refs.strong_quality)
        out["zero_cost_usd"] = zero
        out["zero_ratio"] = cost / zero if zero > 0 else float("nan")
        # no router pays less than the cheapest model: below that, the bound cannot be met
        floor = float(np.asarray(test_c, float).mean(axis=0).min())
        out["zero_bound_feasible"] = bool(floor <= goal["max_zero_ratio"] * zero)
        met = met and bool(out["zero_ratio"] <= goal["max_zero_ratio"])
    out["met"] = bool(met)
    return out


def validated_targets(val: ScoredSplit, test: ScoredSplit) -> dict[str, dict[str, Any]]:
    """For each target: the setting chosen on ``val`` and what it gives on ``test``."""
    points = val.points()
    out: dict[str, dict[str, Any]] = {}
    for name, goal in TARGETS.items():
        i, reached = cheapest_reaching(points, goal["quality_fraction"] * val.refs.strong_quality)
        setting = float(points.threshold[i])
        result = test.outcome(setting)
        record: dict[str, Any] = {
            "setting": setting,
            "setting_kind": "threshold" if val.two_model else "lambda",
            "val_quality": float(points.quality[i]),
            "val_cost_usd": float(points.cost_usd[i]),
            "val_reached": reached,
            "test_strong_share": result["strong_share"],
        }
        record.update(_verdict(name, result["quality"], result["cost_usd"], *_qc(test)))
        out[name] = _clean(record)
    return out


def validated_zero(
    val_q: np.ndarray,
    val_c: np.ndarray,
    val_refs: References,
    test_q: np.ndarray,
    test_c: np.ndarray,
    test_refs: References,
) -> dict[str, dict[str, Any]]:
    """The zero router treated like a router: its mix chosen on validation, measured on test."""
    out: dict[str, dict[str, Any]] = {}
    tc, tq = single_points(test_q, test_c)
    for name, goal in TARGETS.items():
        mix = zero_mix(val_q, val_c, goal["quality_fraction"] * val_refs.strong_quality)
        quality = float(sum(w * tq[j] for j, w in mix.items()))
        cost = float(sum(w * tc[j] for j, w in mix.items()))
        record: dict[str, Any] = {"mix": {str(j): w for j, w in mix.items()}}
        record.update(_verdict(name, quality, cost, test_q, test_c, test_refs))
        out[name] = _clean(record)
    return out


def _qc(split: ScoredSplit) -> tuple[np.ndarray, np.ndarray, References]:
    return split.quality, split.cost, split.refs


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: NaN / inf -> None, numpy scalars -> Python."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, float | np.floating):
            value = float(value)
            out[key] = value if np.isfinite(value) else None
        elif isinstance(value, np.bool_):
            out[key] = bool(value)
        else:
            out[key] = value
    return out


def select_router(records: dict[str, dict[str, Any]], target: str = "q95") -> str | None:
    """The router a user would deploy, picked on VALIDATION only: the cheapest validation cost
    at ``target`` among routers that reached it there (else the best validation quality)."""
    best: tuple[int, float, str] | None = None
    for name, record in records.items():
        chosen = record.get("validated", {}).get(target)
        if not chosen or name == "random":
            continue
        reached = 0 if chosen["val_reached"] else 1
        key = chosen["val_cost_usd"] if reached == 0 else -chosen["val_quality"]
        if best is None or (reached, key) < best[:2]:
            best = (reached, key, name)
    return None if best is None else best[2]

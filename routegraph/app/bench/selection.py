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
quality at <= 60% of its cost; (issue 16) ``no_harm`` = 95% of its quality at no more than the
zero router pays for it. "Best single model" is the strong reference of each split.

How a setting is chosen for a target (:func:`balanced_setting`): a target is a quality floor AND
a cost cap, and a validation split of a few hundred prompts measures both with noise of a few
points. The cheapest setting that just reaches the floor on validation is, by construction,
about as likely to land below it on test as above. Instead, each candidate
setting gets a paired z-score per bound - mean slack over its standard error, per prompt against
the best single model (quality) and against the cap (cost) - and the setting with the largest
*smaller* z wins: the one whose weaker bound is surest. Where the cap leaves room, that buys
quality margin; where it does not, it stays near the cheapest setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from routegraph.app.bench.baselines import References
from routegraph.core import metrics
from routegraph.core.errors import InvalidInputError

TARGETS: dict[str, dict[str, float]] = {
    "q95": {"quality_fraction": 0.95, "max_cost_ratio": 0.30, "max_zero_ratio": 0.5},
    "q100": {"quality_fraction": 1.0, "max_cost_ratio": 0.60},
    "no_harm": {"quality_fraction": 0.95, "zero_ratio_cap": 1.0},
}
"""The quality fraction each target asks for and the cost bounds that make it met.

``max_cost_ratio`` caps cost against the best single model; ``max_zero_ratio`` against the zero
router's cost for the floor, pursued only where validation holds it with margin; and
``zero_ratio_cap`` against the same, as a bound every setting is chosen for. ``no_harm``
(issue 16) is q95's quality floor at no more than a fixed mix of models pays for it: a router
that costs more than the zero router for the same quality does harm.
"""


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

    def rows(self, index: np.ndarray) -> ScoredSplit:
        """The same router on a subset of the prompts (references re-measured on them)."""
        q, c = self.quality[index], self.cost[index]
        s, w = self.refs.strong_index, self.refs.weak_index
        refs = replace(
            self.refs,
            strong_quality=float(q[:, s].mean()),
            strong_cost=float(c[:, s].mean()),
            weak_quality=float(q[:, w].mean()),
            weak_cost=float(c[:, w].mean()),
        )
        cost = self.decision_cost[index] if self.decision_cost.ndim == 2 else self.decision_cost
        return ScoredSplit(self.scores[index], q, c, refs, cost)

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


# -- zero router -------------------------------------------------------------------------------
def single_points(quality: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean cost, mean quality) of always calling each model."""
    return np.asarray(cost, float).mean(axis=0), np.asarray(quality, float).mean(axis=0)


def zero_cost_to_reach(quality: np.ndarray, cost: np.ndarray, goal: float) -> float:
    """What the best mix of single models pays per query to reach ``goal`` (NaN if never)."""
    c, q = single_points(quality, cost)
    return metrics.cost_to_reach(c, q, goal)


def hull_vertices(cost: np.ndarray, quality: np.ndarray) -> list[int]:
    """Indices of the single models (mean ``cost``, mean ``quality`` each) on their
    non-decreasing cost-quality hull, cheapest first: the only models a zero router mixes."""
    c, q = np.asarray(cost, float), np.asarray(quality, float)
    hc, hq = metrics.nondecreasing_hull(c, q)
    return [int(np.flatnonzero((c == hc[i]) & (q == hq[i]))[0]) for i in range(len(hc))]


def zero_mix(quality: np.ndarray, cost: np.ndarray, goal: float) -> dict[int, float]:
    """The cheapest random mix of single models reaching ``goal``: ``{model column: weight}``
    (two neighbouring hull vertices; the best model alone when the goal is out of reach)."""
    c, q = single_points(quality, cost)
    hc, hq = metrics.nondecreasing_hull(c, q)
    vertex = hull_vertices(c, q)
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
def target_verdict(
    name: str, quality: float, cost: float, test_q: np.ndarray, test_c: np.ndarray, refs: References
) -> dict[str, Any]:
    """Whether a policy's mean ``quality`` and ``cost`` on a test split (its outcomes
    ``test_q`` / ``test_c``, its references ``refs``) meet target ``name``, with the figures."""
    goal = TARGETS[name]
    fraction = quality / refs.strong_quality if refs.strong_quality > 0 else float("nan")
    ratio = cost / refs.strong_cost if refs.strong_cost > 0 else float("nan")
    out: dict[str, Any] = {
        "test_quality": quality,
        "test_cost_usd": cost,
        "test_quality_fraction": fraction,
        "test_cost_ratio": ratio,
    }
    met = bounds_met(name, fraction, ratio)
    zero_limit = goal.get("max_zero_ratio", goal.get("zero_ratio_cap"))
    if zero_limit is not None:
        zero, feasible = zero_bound(test_q, test_c, refs.strong_quality, name)
        out["zero_cost_usd"] = zero
        out["zero_ratio"] = cost / zero if zero > 0 else float("nan")
        out["zero_bound_feasible"] = feasible
        met = met and bool(out["zero_ratio"] <= zero_limit + 1e-9)
    out["met"] = bool(met)
    return out


def _z(slack: np.ndarray) -> float:
    """Mean per-prompt slack over its standard error (paired; large when every prompt agrees)."""
    n = slack.size
    se = float(slack.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    return float(slack.mean() / max(se, 1e-9))


SECONDARY_MIN_Z = 1.0
"""The zero-router bound is pursued only where validation holds EVERY bound with at least this
margin (one standard error); otherwise the setting serves the quality floor and the cost-ratio
cap alone. Without this, a zero-router cap that validation can barely meet drags the setting to
the cheapest model and the quality floor is lost on test (0.80 of the best model's quality:
``benchmarks/target_seeds.py --data runs/mmlu_pro_rb.csv`` at commit e40c7e2, seed 1)."""


def zero_bound(
    quality: np.ndarray, cost: np.ndarray, strong_quality: float, name: str
) -> tuple[float, bool]:
    """(what the zero router pays for target ``name``'s quality floor, whether any router could
    pay its ``max_zero_ratio`` share of that): no router pays less than the cheapest model."""
    goal = TARGETS[name]
    zero = zero_cost_to_reach(quality, cost, goal["quality_fraction"] * strong_quality)
    floor = float(np.asarray(cost, float).mean(axis=0).min())
    limit = goal.get("max_zero_ratio", goal.get("zero_ratio_cap", 1.0))
    return zero, bool(np.isfinite(zero) and floor <= limit * zero)


def _zero_cap(split: ScoredSplit, name: str) -> float | None:
    """Target ``name``'s cap on mean cost from the zero router, where any router could meet it
    on ``split``; else None."""
    goal = TARGETS[name]
    if "max_zero_ratio" not in goal:
        return None
    zero, feasible = zero_bound(split.quality, split.cost, split.refs.strong_quality, name)
    return goal["max_zero_ratio"] * zero if feasible else None


def bounds_met(name: str, quality_fraction: float | None, cost_ratio: float | None) -> bool:
    """Whether target ``name``'s quality floor and cost-ratio cap both hold (the zero-router
    bound aside)."""
    goal = TARGETS[name]
    return (
        quality_fraction is not None
        and cost_ratio is not None
        and quality_fraction >= goal["quality_fraction"] - 1e-9
        and cost_ratio <= goal.get("max_cost_ratio", np.inf)
    )


def _picked(split: ScoredSplit, setting: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt quality and cost of the model chosen at ``setting``."""
    rows = np.arange(split.quality.shape[0])
    pick = split.choose(setting)
    return split.quality[rows, pick], split.cost[rows, pick]


def _core_slack(
    split: ScoredSplit, name: str, quality: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per-prompt slack of target ``name``'s core bounds for the picked ``quality`` and
    ``cost``: quality - floor, then cap - cost for its cost-ratio cap and its zero-router cap
    where it has them (against the best single model and the zero router of ``split``)."""
    goal = TARGETS[name]
    strong = split.refs.strong_index
    floor = goal["quality_fraction"] * split.quality[:, strong]
    slacks: tuple[np.ndarray, ...] = (quality - floor,)
    if "max_cost_ratio" in goal:
        slacks += (goal["max_cost_ratio"] * split.cost[:, strong] - cost,)
    if "zero_ratio_cap" in goal:
        zero = zero_cost_to_reach(
            split.quality, split.cost, goal["quality_fraction"] * split.refs.strong_quality
        )
        # unreachable by any mix: the cap is the best single model's cost
        cap = zero if np.isfinite(zero) else float(split.cost[:, strong].mean())
        slacks += (goal["zero_ratio_cap"] * cap - cost,)
    return slacks


class _Candidate(NamedTuple):
    """One setting's standing on a split: z of the core bounds, z with the zero-router bound,
    mean slack of each bound (core first), mean quality and cost."""

    setting: float
    core_z: float
    full_z: float
    slack: tuple[float, ...]
    quality: float
    cost: float


def balanced_setting(
    split: ScoredSplit, name: str, max_candidates: int = 400
) -> tuple[float, dict[str, Any]]:
    """The setting of target ``name`` whose weakest bound is surest on ``split`` (see module doc).

    Bounds: the quality floor and the target's caps (cost-ratio, and for ``no_harm`` the zero
    router's cost for the floor), plus q95's half-the-zero-router cap where it is feasible and
    validation holds all bounds by :data:`SECONDARY_MIN_Z`. Returns ``(setting,
    facts)``: ``facts`` holds the split's quality, cost, whether the bounds used hold there
    (``reached``), the winning smaller z (``margin_z``) and whether the zero-router bound was
    used. Ties go to the cheaper setting.
    """
    points = split.points()
    settings = np.unique(points.threshold[np.isfinite(points.threshold)])
    if settings.size == 0:
        raise InvalidInputError("scores", "give no operating point", "finite router scores")
    if settings.size > max_candidates:  # evenly spaced real operating points
        settings = settings[np.linspace(0, settings.size - 1, max_candidates).round().astype(int)]
    zero_cap = _zero_cap(split, name)
    candidates = []
    n_core = 0
    for setting in map(float, settings):
        quality, cost = _picked(split, setting)
        core_slacks = _core_slack(split, name, quality, cost)
        n_core = len(core_slacks)
        core = min(_z(x) for x in core_slacks)
        full = core
        slack: tuple[float, ...] = tuple(float(x.mean()) for x in core_slacks)
        if zero_cap is not None:
            full = min(core, _z(zero_cap - cost))
            slack = (*slack, float(zero_cap - cost.mean()))
        candidates.append(
            _Candidate(setting, core, full, slack, float(quality.mean()), float(cost.mean()))
        )
    use_zero = zero_cap is not None and max(c.full_z for c in candidates) >= SECONDARY_MIN_Z
    best = max(candidates, key=lambda c: (c.full_z if use_zero else c.core_z, -c.cost))
    rule = "balanced margin"
    if not all(v >= -1e-12 for v in best.slack[:n_core]):
        # floor and caps cannot all hold here: keep the quality floor (cheapest setting reaching
        # it; else the best quality) rather than a compromise that misses both
        rule = "quality floor (floor and cost caps not all reachable on validation)"
        best = max(candidates, key=lambda c: (min(c.slack[0], 0.0), -c.cost))
    slacks = best.slack if use_zero else best.slack[:n_core]
    facts = {
        "quality": best.quality,
        "cost_usd": best.cost,
        "reached": all(v >= -1e-12 for v in slacks),
        "margin_z": best.full_z if use_zero else best.core_z,
        "zero_bound_used": use_zero,
        "rule": rule,
    }
    return best.setting, facts


def held_out_margin(split: ScoredSplit, name: str, seed: int = 0, repeats: int = 5) -> float:
    """The margin of target ``name`` measured on prompts that did NOT choose the setting: the
    split is halved, the setting chosen on each half and its core bounds' smaller z measured on
    the other, averaged over both halves of ``repeats`` random halvings (5x2 cross-validation:
    one halving's luck would decide between close routers). Why: the in-sample margin of the
    chosen setting is optimistic (it is the best of hundreds of settings), and more so for
    noisier routers; comparing routers by it picks the luckiest, not the best."""
    n = split.quality.shape[0]
    if n < 20:
        return float("nan")
    rng = np.random.default_rng(seed)
    margins = []
    for _ in range(repeats):
        order = rng.permutation(n)
        halves = (order[: n // 2], order[n // 2 :])
        for fit, check in (halves, halves[::-1]):
            setting, _ = balanced_setting(split.rows(fit), name)
            other = split.rows(check)
            slacks = _core_slack(other, name, *_picked(other, setting))
            margins.append(min(_z(slack) for slack in slacks))
    return float(np.mean(margins))


Chooser = Callable[[str], tuple[float, dict[str, Any]]]
"""Target name -> (setting, facts): how a setting is chosen (default: balanced margin on
validation; with ``--split by-task``, across held-out tasks: :mod:`.task_folds`)."""


def validated_targets(
    val: ScoredSplit, test: ScoredSplit, chooser: Chooser | None = None
) -> dict[str, dict[str, Any]]:
    """For each target: the setting chosen on ``val`` (:func:`balanced_setting`, or
    ``chooser``) and what it gives on ``test``."""
    out: dict[str, dict[str, Any]] = {}
    for name in TARGETS:
        held_out: float | None
        if chooser is None:
            setting, facts = balanced_setting(val, name)
            held_out = held_out_margin(val, name)
        else:
            setting, facts = chooser(name)
            held_out = facts.get("met_rate")
        result = test.outcome(setting)
        record: dict[str, Any] = {
            "setting": setting,
            "setting_kind": "threshold" if val.two_model else "lambda",
            "rule": facts["rule"],
            "val_quality": facts["quality"],
            "val_cost_usd": facts["cost_usd"],
            "val_reached": facts["reached"],
            "val_margin_z": facts["margin_z"],
            "val_held_out_z": held_out,
            "val_zero_bound_used": facts["zero_bound_used"],
            "test_strong_share": result["strong_share"],
        }
        if "met_rate" in facts:
            record["val_met_rate"] = facts["met_rate"]
        record.update(target_verdict(name, result["quality"], result["cost_usd"], *_qc(test)))
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
        record.update(target_verdict(name, quality, cost, test_q, test_c, test_refs))
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
    """The router a user would deploy, picked on VALIDATION only: among routers whose chosen
    setting met every bound of ``target`` there, the surest by the held-out margin
    (:func:`held_out_margin`; the in-sample one where that is missing), then the cheapest; else
    the one closest to meeting it. ``random`` is a baseline, never selected."""
    best: tuple[int, float, float, str] | None = None
    for name, record in records.items():
        chosen = record.get("validated", {}).get(target)
        if not chosen or name == "random":
            continue
        missed = 0 if chosen["val_reached"] else 1
        margin = chosen.get("val_held_out_z")
        if margin is None:
            margin = chosen.get("val_margin_z")
        margin = -np.inf if margin is None else float(margin)
        key = (missed, -margin, float(chosen["val_cost_usd"]), name)
        if best is None or key < best:
            best = key
    return None if best is None else best[3]

"""Thresholds for business targets from the calibration set stored with a router, with an
optional statistical guarantee.

Why: a graph user asks for "95% of the strong model's quality" or "at most 30% strong calls",
not for a raw threshold on P(strong). :func:`routegraph.routers.calibration.calibrate` stores the
validation split's scores and outcomes in the artifact (``meta_["calibration_set"]``), so any
target can be turned into a threshold at run time, without the data.

Two forms:

* **point** (``confidence=None``): the threshold that meets the target ON the calibration set -
  on new prompts it lands on either side of the target about half the time;
* **guaranteed** (``confidence=0.9``): the threshold is chosen so that, with probability at
  least ``confidence`` over the draw of the calibration set, the target holds on the whole
  distribution the calibration prompts came from:

  - ``quality_fraction=a``: Learn-then-Test (Angelopoulos et al. 2021) with fixed-sequence
    testing. Per prompt, ``Z(t) = a * q_strong - q_routed(t)``; the target holds iff
    ``E[Z(t)] <= 0``. Thresholds are tested from "all strong" upwards; each is accepted when an
    empirical-Bernstein upper confidence bound (Maurer & Pontil 2009) on ``E[Z(t)]`` is <= 0, and
    the walk stops at the first rejection. Fixed-sequence testing needs no multiplicity
    correction, so the chosen threshold fails with probability at most ``1 - confidence``.
  - ``strong_share=s``: the share of strong calls at ``t`` is a binomial proportion; the highest
    share whose exact (Clopper-Pearson) upper bound stays <= ``s`` is chosen, walking from "all
    weak" downwards, again by fixed sequence.

  ``cost_per_1k`` has no guaranteed form (its per-call cost has no known bound before the call).

Both assume the new prompts come from the calibration prompts' distribution: a guarantee does
not survive a shift in traffic (``routegraph bench --split by-task`` shows how far it moves).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from routegraph.core.errors import InvalidInputError

GUARANTEED_KINDS = ("quality_fraction", "strong_share")
MAX_TESTS = 400
"""Thresholds tried on the fixed sequence (quantiles of the calibration scores)."""


def calibration_record(
    p: np.ndarray,
    q_strong: np.ndarray,
    q_weak: np.ndarray,
    c_strong: np.ndarray,
    c_weak: np.ndarray,
    strong: str,
    weak: str,
) -> dict[str, Any]:
    """The plain-data calibration set stored in ``router.meta_["calibration_set"]``."""

    def as_list(values: np.ndarray) -> list[float]:
        return [round(float(v), 6) for v in np.asarray(values, float)]

    return {
        "strong_model": strong,
        "weak_model": weak,
        "n": int(len(p)),
        # scores exactly as the router gives them: a threshold just above the top score (all
        # weak) must stay above it, and rounded scores put it below tied top scores
        "p_strong": [float(v) for v in np.asarray(p, float)],
        "q_strong": as_list(q_strong),
        "q_weak": as_list(q_weak),
        "c_strong": as_list(c_strong),
        "c_weak": as_list(c_weak),
    }


def _arrays(record: dict[str, Any]) -> tuple[np.ndarray, ...]:
    keys = ("p_strong", "q_strong", "q_weak", "c_strong", "c_weak")
    try:
        arrays = tuple(np.asarray(record[k], dtype=float) for k in keys)
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError(
            "calibration_set", "is incomplete", f"a record with {', '.join(keys)}"
        ) from None
    if len({len(a) for a in arrays}) != 1 or len(arrays[0]) < 2:
        raise InvalidInputError("calibration_set", "has mismatched or too few rows", ">= 2 rows")
    return arrays


def candidate_thresholds(p: np.ndarray) -> np.ndarray:
    """Ascending thresholds: the lowest score (all strong), quantiles, and above the highest."""
    qs = np.quantile(p, np.linspace(0.0, 1.0, min(MAX_TESTS, len(p))))
    return np.unique(np.r_[p.min(), qs, np.nextafter(p.max(), np.inf)])


def bernstein_upper(z: np.ndarray, low: float, high: float, delta: float) -> float:
    """Maurer-Pontil empirical-Bernstein upper bound on E[z] for z in [low, high], level delta."""
    n = len(z)
    span = high - low
    log_term = math.log(2.0 / delta)
    var = float(np.var(z, ddof=1)) if n > 1 else span**2
    return float(
        z.mean() + math.sqrt(2.0 * var * log_term / n) + 7.0 * span * log_term / (3 * (n - 1))
    )


def clopper_pearson_upper(k: int, n: int, delta: float) -> float:
    """Exact one-sided (1 - delta) upper bound on a binomial proportion with k of n."""
    if k >= n:
        return 1.0
    i = np.arange(k + 1)
    log_choose = (
        math.lgamma(n + 1)
        - np.array([math.lgamma(x + 1) for x in i])
        - np.array([math.lgamma(n - x + 1) for x in i])
    )

    def log_cdf(u: float) -> float:  # log P(Binomial(n, u) <= k)
        terms = log_choose + i * math.log(u) + (n - i) * math.log1p(-u)
        top = float(terms.max())
        return top + math.log(float(np.exp(terms - top).sum()))

    lo, hi, target = k / n, 1.0, math.log(delta)
    for _ in range(50):  # the cdf falls as u grows: bisect for cdf = delta
        mid = (lo + hi) / 2
        if mid <= 0.0 or log_cdf(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def _largest_certified_count(n: int, share: float, delta: float) -> int:
    """The most strong calls k (of n) whose exact upper bound stays <= ``share`` (-1: none)."""
    lo, hi = -1, n  # the bound grows with k: bisect on k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if clopper_pearson_upper(mid, n, delta) <= share:
            lo = mid
        else:
            hi = mid - 1
    return lo


def guaranteed_threshold(
    record: dict[str, Any], kind: str, value: float, confidence: float
) -> dict[str, Any]:
    """The threshold meeting ``kind=value`` with probability >= ``confidence`` (see module doc).

    Returns ``{"threshold", "calibration_strong_share", "calibration_quality", "bound", ...}``.
    Raises :class:`InvalidInputError` when even the safest threshold cannot be certified.
    """
    if kind not in GUARANTEED_KINDS:
        raise InvalidInputError("target", f"{kind!r} has no guaranteed form", GUARANTEED_KINDS)
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError("target_confidence", f"{confidence} is outside (0, 1)", "e.g. 0.9")
    p, qs, qw, _cs, _cw = _arrays(record)
    delta = 1.0 - confidence
    n = len(p)
    thresholds = candidate_thresholds(p)
    chosen: float | None = None
    bound = float("nan")
    if kind == "quality_fraction":
        if not 0.0 < value <= 1.0:
            raise InvalidInputError(kind, f"{value} is outside (0, 1]", "a fraction in (0, 1]")
        low, high = -(1.0 - value) - 1.0, 1.0  # Z = a*q_s - q_r with q in [0, 1]
        for t in thresholds:  # all strong first; stop at the first threshold not certified
            routed = np.where(p >= t, qs, qw)
            ucb = bernstein_upper(value * qs - routed, low, high, delta)
            if ucb > 0:
                break
            chosen, bound = float(t), ucb
    else:
        if not 0.0 <= value <= 1.0:
            raise InvalidInputError(kind, f"{value} is outside [0, 1]", "a share in [0, 1]")
        # Walking from "all weak" to more strong calls, the bound grows with the count, so the
        # fixed sequence stops exactly after the largest certified count.
        k_max = _largest_certified_count(n, value, delta)
        counts = (p[None, :] >= thresholds[:, None]).sum(axis=1)
        ok = np.flatnonzero(counts <= k_max)
        if ok.size:
            j = int(ok[0])  # thresholds ascend: the first certified one has the most strong calls
            chosen, bound = float(thresholds[j]), clopper_pearson_upper(int(counts[j]), n, delta)
    if chosen is None:
        raise InvalidInputError(
            "target",
            f"{kind}={value:g} cannot be certified at confidence {confidence:g} with "
            f"{n} calibration prompts",
            "a looser target, a lower confidence, or a larger calibration split",
        )
    went = p >= chosen
    return {
        "threshold": chosen,
        "target_kind": kind,
        "value": float(value),
        "confidence": float(confidence),
        "bound": bound,
        "calibration_strong_share": float(went.mean()),
        "calibration_quality_fraction": float(
            np.where(went, qs, qw).mean() / max(qs.mean(), 1e-12)
        ),
        "n_calibration": n,
        "method": "learn-then-test, empirical Bernstein"
        if kind == "quality_fraction"
        else "exact binomial (Clopper-Pearson), fixed sequence",
    }


def point_threshold(record: dict[str, Any], kind: str, value: float) -> float:
    """The threshold meeting ``kind=value`` on the calibration set itself (no guarantee):
    strong share nearest ``value``; the cheapest routing within ``cost_per_1k``; the fewest
    strong calls reaching ``quality_fraction`` of the strong model's quality."""
    p, qs, qw, cs, cw = _arrays(record)
    thresholds = candidate_thresholds(p)
    went = p[None, :] >= thresholds[:, None]
    share = went.mean(axis=1)
    quality = np.where(went, qs, qw).mean(axis=1)
    cost = np.where(went, cs, cw).mean(axis=1) * 1000
    if kind == "strong_share":
        return float(thresholds[int(np.argmin(np.abs(share - value)))])
    if kind == "cost_per_1k":
        ok = np.flatnonzero(cost <= value + 1e-12)
        if ok.size == 0:
            raise InvalidInputError(
                kind, f"{value} USD is below the cheapest routing", f">= {cost.min():.4g}"
            )
        return float(thresholds[ok[np.argmax(share[ok])]])
    if kind == "quality_fraction":
        ok = np.flatnonzero(quality >= value * qs.mean() - 1e-12)
        if ok.size == 0:
            raise InvalidInputError(kind, f"{value} is never reached", "a lower fraction")
        return float(thresholds[ok[np.argmin(share[ok])]])
    raise InvalidInputError(
        "target", f"unknown target {kind!r}", ("strong_share", "cost_per_1k", "quality_fraction")
    )

"""Routing metrics as RouteLLM and RouterBench define them (pure, vectorised numpy).

Why this module exists: every router and every graph is judged by the same few numbers, so they
are computed in one place from plain arrays, with no knowledge of routers or datasets.

Two models (RouteLLM: a strong and a weak model, a router gives P(strong is needed))
    * :func:`threshold_curve` - the operating point (strong share, mean quality, mean USD per
      query) for every distinct threshold, computed in one sort + cumulative sum.
    * PGR(q) = (q - q_weak) / (q_strong - q_weak): the share of the quality gap recovered.
    * APGR = area under PGR as a function of the strong-call share, over [0, 1] (trapezoids
      between operating points, i.e. exact for a threshold curve; random routing gives 0.5).
    * CPT(x%) = the smallest strong-call share at which PGR >= x (interpolated between the two
      operating points around the crossing, like RouteLLM's calibrated thresholds).
    * cost to reach 95% of the strong model's quality: read off the cost-quality hull below.

N models (RouterBench)
    * :func:`lambda_curve` - sweep a cost weight lambda in ``argmax(q_hat - lambda * cost)`` and
      record the realised (quality, cost) of every distinct routing.
    * AIQ = area under the non-decreasing convex hull of the (cost, quality) points, divided by
      the width of the cost range ``[c_lo, c_hi]``; by default that range is the cheapest to the
      most expensive single model on the same prompts, so AIQ is a mean quality level across the
      whole price range and comparable between routers on one dataset. Above the router's most
      expensive point the hull stays flat; below its cheapest point quality counts as 0.
    * For N models the "strong" reference is the best single model (highest mean quality, the
      cheaper one on ties) and ``strong_share`` is the share of calls sent to it; the "weak"
      reference is the cheapest single model. PGR/APGR/CPT then use these two references.

Baselines: every single model, random routing between the weak and strong references (mean and
standard deviation over seeds, as a curve over the mixing share) and the oracle (per prompt, the
cheapest model reaching that prompt's best quality: the cheapest correct model, or the cheapest
model when none is correct).

Costs are mean USD per query everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routegraph.core.errors import InvalidInputError

CPT_LEVELS = (0.5, 0.8)
"""The PGR levels reported as CPT(50%) and CPT(80%)."""


@dataclass(frozen=True)
class OperatingPoints:
    """Operating points of a router or graph, one entry per threshold / setting.

    All arrays have the same length; ``strong_share`` is the share of calls sent to the strong
    reference model, ``quality`` the mean quality and ``cost_usd`` the mean USD per query.
    """

    threshold: np.ndarray
    strong_share: np.ndarray
    quality: np.ndarray
    cost_usd: np.ndarray

    def __len__(self) -> int:
        return len(self.quality)

    def as_records(self) -> list[dict[str, float | None]]:
        """JSON-ready list of ``{"threshold", "strong_share", "quality", "cost_usd"}``."""
        return [
            {
                "threshold": _finite(t),
                "strong_share": float(s),
                "quality": float(q),
                "cost_usd": float(c),
            }
            for t, s, q, c in zip(
                self.threshold, self.strong_share, self.quality, self.cost_usd, strict=True
            )
        ]

    @classmethod
    def from_records(
        cls, points: Iterable[Mapping[str, float] | Sequence[float]]
    ) -> OperatingPoints:
        """Build from dicts (``strong_share``, ``quality``, ``cost_usd``, optional ``threshold``)
        or from ``(strong_share, quality, cost_usd)`` tuples - the shape graph runs produce."""
        rows: list[tuple[float, ...]] = []
        for i, point in enumerate(points):
            if isinstance(point, Mapping):
                missing = {"strong_share", "quality", "cost_usd"} - set(point)
                if missing:
                    raise InvalidInputError(
                        f"points[{i}]",
                        f"missing keys {sorted(missing)}",
                        "strong_share, quality, cost_usd, threshold (optional)",
                    )
                threshold = point.get("threshold")
                rows.append(
                    (
                        np.nan if threshold is None else float(threshold),
                        float(point["strong_share"]),
                        float(point["quality"]),
                        float(point["cost_usd"]),
                    )
                )
            else:
                values = tuple(float(v) for v in point)
                if len(values) not in (3, 4):
                    raise InvalidInputError(
                        f"points[{i}]",
                        f"has {len(values)} values",
                        "(strong_share, quality, cost_usd[, threshold])",
                    )
                threshold = values[3] if len(values) == 4 else np.nan
                rows.append((threshold, *values[:3]))
        if not rows:
            raise InvalidInputError("points", "is empty", "at least one operating point")
        arr = np.asarray(rows, dtype=float)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def _finite(value: float) -> float | None:
    """JSON has no NaN/inf: map them to ``None`` (null)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _as_1d(name: str, values: np.ndarray | Sequence[float], n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if n is not None and arr.shape[0] != n:
        raise InvalidInputError(name, f"has {arr.shape[0]} entries", f"{n} (one per prompt)")
    if np.isnan(arr).any():
        raise InvalidInputError(name, "contains NaN", "finite numbers (drop missing rows first)")
    return arr


# -- two models ------------------------------------------------------------------------------
def threshold_curve(
    p_strong: np.ndarray,
    q_strong: np.ndarray,
    q_weak: np.ndarray,
    c_strong: np.ndarray,
    c_weak: np.ndarray,
) -> OperatingPoints:
    """Operating points for every threshold ``t``: prompts with ``p_strong >= t`` go strong.

    Prompts are sorted by score once; the quality and cost gains of sending each prompt to the
    strong model are summed cumulatively, and only the last index of every group of tied scores
    is kept (a threshold cannot split ties). The first point is "all weak" (threshold just above
    the highest score), the last "all strong" (threshold = lowest score).
    """
    p = _as_1d("p_strong", p_strong)
    n = p.shape[0]
    if n == 0:
        raise InvalidInputError("p_strong", "is empty", "at least one prompt")
    qs, qw = _as_1d("q_strong", q_strong, n), _as_1d("q_weak", q_weak, n)
    cs, cw = _as_1d("c_strong", c_strong, n), _as_1d("c_weak", c_weak, n)
    order = np.argsort(-p, kind="stable")
    p_sorted = p[order]
    dq = np.cumsum((qs - qw)[order])
    dc = np.cumsum((cs - cw)[order])
    # keep k = index+1 where the next score differs (end of a tie group)
    ends = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True])
    k = np.r_[0, ends + 1]
    top = float(p_sorted[0])
    above = np.nextafter(top, np.inf)
    thresholds = np.r_[above, p_sorted[ends]]
    quality = qw.mean() + np.r_[0.0, dq[ends]] / n
    cost = cw.mean() + np.r_[0.0, dc[ends]] / n
    return OperatingPoints(thresholds, k / n, quality, cost)


def pgr(quality: np.ndarray | float, q_strong: float, q_weak: float) -> np.ndarray:
    """Performance gap recovered: 0 at the weak model's quality, 1 at the strong model's.

    NaN when both references have the same quality (the gap is undefined).
    """
    gap = float(q_strong) - float(q_weak)
    q = np.asarray(quality, dtype=float)
    if gap == 0:
        return np.full_like(q, np.nan)
    return (q - float(q_weak)) / gap


def escalation_pgr(
    confidence: np.ndarray, weak_quality: np.ndarray, strong_quality: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(strong share, PGR) of a weak -> strong cascade that escalates the least confident first.

    The cascade's gate is a router whose P(strong needed) falls as ``confidence`` rises, so this
    is :func:`threshold_curve` on ``-confidence`` (tied confidences move together) read as PGR;
    :func:`cpt` on the result gives the strong share needed for a PGR level.
    """
    conf = _as_1d("confidence", confidence)
    zeros = np.zeros(conf.shape[0])
    weak, strong = _as_1d("weak_quality", weak_quality), _as_1d("strong_quality", strong_quality)
    points = threshold_curve(-conf, strong, weak, zeros, zeros)
    return points.strong_share, pgr(points.quality, strong.mean(), weak.mean())


def _share_curve(
    points: OperatingPoints, strong: tuple[float, float], weak: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points sorted by strong share, one per distinct share (the best quality there), with the
    all-weak (share 0) and all-strong (share 1) policies added when missing - both are always
    available, and any mix of two operating points is achievable by randomising between them."""
    share = np.clip(points.strong_share, 0.0, 1.0)
    q, c = points.quality, points.cost_usd
    if share.min() > 0:
        share, q, c = np.r_[0.0, share], np.r_[weak[0], q], np.r_[weak[1], c]
    if share.max() < 1:
        share, q, c = np.r_[share, 1.0], np.r_[q, strong[0]], np.r_[c, strong[1]]
    order = np.lexsort((-q, share))  # by share, best quality first within a share
    share, q, c = share[order], q[order], c[order]
    first = np.r_[True, share[1:] != share[:-1]]
    return share[first], q[first], c[first]


def apgr(share: np.ndarray, pgr_values: np.ndarray) -> float:
    """Area under PGR(strong share) over [0, 1], by trapezoids between operating points."""
    s, g = np.asarray(share, float), np.asarray(pgr_values, float)
    if np.isnan(g).any():
        return float("nan")
    return float(np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(s)))


def cpt(share: np.ndarray, pgr_values: np.ndarray, level: float) -> float:
    """Smallest strong share with PGR >= ``level`` on the piecewise-linear curve (NaN if never).

    ``share`` must be sorted ascending. Between the last point below the level and the first
    point reaching it the share is interpolated linearly.
    """
    s, g = np.asarray(share, float), np.asarray(pgr_values, float)
    hits = np.flatnonzero(g >= level)
    if hits.size == 0:
        return float("nan")
    j = int(hits[0])
    if j == 0:
        return float(s[0])
    g0, g1, s0, s1 = g[j - 1], g[j], s[j - 1], s[j]
    return float(s0 + (level - g0) / (g1 - g0) * (s1 - s0))


# -- cost-quality hull (RouterBench) -----------------------------------------------------------
def nondecreasing_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the non-decreasing upper convex hull of (cost, quality) points.

    Every point on it is achievable by randomising between two operating points; it is what
    RouterBench integrates for AIQ. Returned sorted by cost, ending at the best quality.
    """
    c, q = np.asarray(cost, float), np.asarray(quality, float)
    order = np.lexsort((-q, c))
    c, q = c[order], q[order]
    keep = np.r_[True, c[1:] != c[:-1]]  # best quality at each cost
    c, q = c[keep], q[keep]
    best = int(np.argmax(q))
    c, q = c[: best + 1], q[: best + 1]
    # drop points dominated by a cheaper one with higher quality (running max)
    keep = q >= np.maximum.accumulate(q)
    c, q = c[keep], q[keep]
    hull: list[int] = []
    for i in range(len(c)):  # Andrew's monotone chain, upper part
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (c[b] - c[a]) * (q[i] - q[a]) - (q[b] - q[a]) * (c[i] - c[a])
            if cross >= 0:  # b lies on or below the segment a-i
                hull.pop()
            else:
                break
        hull.append(i)
    idx = np.asarray(hull, dtype=int)
    return c[idx], q[idx]


def hull_quality_at(
    hull_cost: np.ndarray, hull_quality: np.ndarray, cost: np.ndarray
) -> np.ndarray:
    """Best achievable quality at each budget ``cost`` (0 below the cheapest point, flat above
    the best one)."""
    x = np.asarray(cost, dtype=float)
    out = np.interp(x, hull_cost, hull_quality)
    return np.where(x < hull_cost[0], 0.0, out)


def aiq(cost: np.ndarray, quality: np.ndarray, cost_range: tuple[float, float]) -> float:
    """Average quality of the non-decreasing convex hull over ``cost_range`` (RouterBench AIQ)."""
    lo, hi = float(cost_range[0]), float(cost_range[1])
    hc, hq = nondecreasing_hull(cost, quality)
    if hi <= lo:
        return float(hull_quality_at(hc, hq, np.array([lo]))[0])
    knots = np.unique(np.clip(np.r_[lo, hi, hc, np.nextafter(hc[0], -np.inf)], lo, hi))
    values = hull_quality_at(hc, hq, knots)
    return float(np.sum(0.5 * (values[1:] + values[:-1]) * np.diff(knots)) / (hi - lo))


def cost_to_reach(cost: np.ndarray, quality: np.ndarray, target: float) -> float:
    """Smallest mean cost at which the cost-quality hull reaches ``target`` (NaN if never)."""
    hc, hq = nondecreasing_hull(cost, quality)
    hits = np.flatnonzero(hq >= target)
    if hits.size == 0:
        return float("nan")
    j = int(hits[0])
    if j == 0:
        return float(hc[0])
    return float(hc[j - 1] + (target - hq[j - 1]) / (hq[j] - hq[j - 1]) * (hc[j] - hc[j - 1]))


# -- one summary record for routers and graphs -------------------------------------------------
def summarize_curve(
    points: OperatingPoints,
    strong: tuple[float, float],
    weak: tuple[float, float],
    cost_range: tuple[float, float] | None = None,
    quality_target: float = 0.95,
) -> dict[str, object]:
    """The record the benchmark reports for a router or a graph.

    ``strong`` and ``weak`` are the (mean quality, mean cost) of the two reference models on the
    same prompts; ``cost_range`` defaults to ``(weak cost, strong cost)``. APGR and CPT use the
    curve over strong share with the all-weak / all-strong policies added at shares 0 and 1 when
    the points do not reach them; AIQ and the cost/quality read-outs use the router's own points
    only (a router that never reaches 95% of the strong quality gets ``None``). Keys: ``apgr``,
    ``cpt50``, ``cpt80`` (strong shares), ``aiq``, ``cost_at_95pct_strong`` (USD per query),
    ``cost_ratio_at_95pct_strong`` (that cost / the strong model's),
    ``cost_ratio_at_strong_quality`` (the cost of matching the strong model's quality / its
    cost: what a router saves at no loss), ``quality_at_half_strong_cost``, ``max_quality``
    and ``curve`` (the points as given). NaN values become ``None``.
    """
    share, q, c = _share_curve(points, strong, weak)
    g = pgr(q, strong[0], weak[0])
    lo_hi = cost_range or (min(weak[1], strong[1]), max(weak[1], strong[1]))
    target = quality_target * strong[0]
    cost95 = cost_to_reach(points.cost_usd, points.quality, target)
    hc, hq = nondecreasing_hull(points.cost_usd, points.quality)
    record: dict[str, object] = {
        "apgr": apgr(share, g),
        "cpt50": cpt(share, g, CPT_LEVELS[0]),
        "cpt80": cpt(share, g, CPT_LEVELS[1]),
        "aiq": aiq(points.cost_usd, points.quality, lo_hi),
        "cost_at_95pct_strong": cost95,
        "cost_ratio_at_95pct_strong": cost95 / strong[1] if strong[1] > 0 else float("nan"),
        "cost_ratio_at_strong_quality": (
            cost_to_reach(points.cost_usd, points.quality, strong[0]) / strong[1]
            if strong[1] > 0
            else float("nan")
        ),
        "quality_at_half_strong_cost": float(hull_quality_at(hc, hq, np.array([strong[1] / 2]))[0]),
        "max_quality": float(points.quality.max()),
    }
    out: dict[str, object] = {k: _finite(v) for k, v in record.items()}  # type: ignore[arg-type]
    out["curve"] = points.as_records()
    return out


# -- N models ----------------------------------------------------------------------------------
def lambda_curve(
    q_hat: np.ndarray,
    decision_cost: np.ndarray,
    quality: np.ndarray,
    cost: np.ndarray,
    strong_index: int,
    lambdas: np.ndarray | None = None,
) -> tuple[OperatingPoints, np.ndarray]:
    """Route every prompt to ``argmax(q_hat - lambda * decision_cost)`` for a sweep of lambda.

    ``q_hat``/``quality``/``cost`` are (n_prompts, n_models); ``decision_cost`` is what the
    router knows at decision time, (n_models,) or (n_prompts, n_models) - e.g. each model's mean
    cost on the training split, since output length is unknown before the call. The realised
    quality and cost come from the recorded ``quality`` / ``cost``. The default lambda grid is 0
    plus 200 log-spaced values spanning 1e-3..1e4 quality units per the spread of model costs,
    plus a value large enough that every prompt goes to its cheapest model. Returns the distinct
    operating points (``threshold`` = lambda) and the chosen model index per (lambda, prompt).
    """
    qh = np.asarray(q_hat, dtype=float)
    qr, cr = np.asarray(quality, dtype=float), np.asarray(cost, dtype=float)
    if qh.ndim != 2 or qh.shape != qr.shape or qr.shape != cr.shape:
        raise InvalidInputError(
            "q_hat",
            f"shape {qh.shape} vs quality {qr.shape} / cost {cr.shape}",
            "three (n_prompts, n_models) arrays of one shape",
        )
    dc = np.broadcast_to(np.asarray(decision_cost, dtype=float), qh.shape)
    if lambdas is None:
        per_model = dc.mean(axis=0)
        spread = float(per_model.max() - per_model.min()) or float(per_model.max()) or 1.0
        scale = 1.0 / spread
        lambdas = np.r_[0.0, scale * np.logspace(-3, 4, 200), scale * 1e9]
    lam = np.asarray(lambdas, dtype=float)
    # (L, n, m) utilities; chunked over lambda to bound memory
    n, _ = qh.shape
    choices = np.empty((lam.size, n), dtype=np.int64)
    chunk = max(1, int(4e7 // max(qh.size, 1)))
    for start in range(0, lam.size, chunk):
        part = lam[start : start + chunk, None, None]
        choices[start : start + chunk] = np.argmax(qh[None] - part * dc[None], axis=2)
    rows = np.arange(n)[None, :]
    q_mean = qr[rows, choices].mean(axis=1)
    c_mean = cr[rows, choices].mean(axis=1)
    share = (choices == strong_index).mean(axis=1)
    _, first = np.unique(np.c_[share, q_mean, c_mean].round(12), axis=0, return_index=True)
    keep = np.sort(first)
    return OperatingPoints(lam[keep], share[keep], q_mean[keep], c_mean[keep]), choices[keep]


# -- baselines ---------------------------------------------------------------------------------
def single_models(quality: np.ndarray, cost: np.ndarray, models: Sequence[str]) -> dict[str, dict]:
    """Mean quality and mean USD per query of always calling each model."""
    q, c = np.asarray(quality, float), np.asarray(cost, float)
    return {
        m: {"quality": float(q[:, j].mean()), "cost_usd": float(c[:, j].mean())}
        for j, m in enumerate(models)
    }


def reference_models(quality: np.ndarray, cost: np.ndarray) -> tuple[int, int]:
    """(strong, weak) column indices for N models: the best model (cheaper on ties) and the
    cheapest model (better on ties)."""
    qm, cm = np.asarray(quality, float).mean(axis=0), np.asarray(cost, float).mean(axis=0)
    strong = int(np.lexsort((cm, -qm))[0])
    weak = int(np.lexsort((-qm, cm))[0])
    return strong, weak


def oracle_choice(quality: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per prompt, the cheapest model reaching that prompt's best quality (for 0/1 quality: the
    cheapest correct model, or the cheapest model when none is correct)."""
    q, c = np.asarray(quality, float), np.asarray(cost, float)
    best = q >= q.max(axis=1, keepdims=True)
    return np.argmin(np.where(best, c, np.inf), axis=1)


def oracle(quality: np.ndarray, cost: np.ndarray) -> dict[str, float]:
    """Mean quality and cost of the oracle router (an upper bound no router can beat)."""
    q, c = np.asarray(quality, float), np.asarray(cost, float)
    pick = oracle_choice(q, c)
    rows = np.arange(q.shape[0])
    return {"quality": float(q[rows, pick].mean()), "cost_usd": float(c[rows, pick].mean())}


def random_routing(
    q_strong: np.ndarray,
    q_weak: np.ndarray,
    c_strong: np.ndarray,
    c_weak: np.ndarray,
    shares: np.ndarray | None = None,
    seeds: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Random routing: each prompt goes strong with probability ``share``; mean and std over
    ``seeds`` runs, as a curve over the mixing share, plus the APGR of random scores
    (mean, std over the same seeds; close to 0.5 by construction)."""
    qs, qw = np.asarray(q_strong, float), np.asarray(q_weak, float)
    cs, cw = np.asarray(c_strong, float), np.asarray(c_weak, float)
    grid = np.linspace(0.0, 1.0, 11) if shares is None else np.asarray(shares, float)
    rng = np.random.default_rng(seed)
    draws = rng.random((seeds, qs.shape[0]))  # (S, n), shared across shares: monotone in share
    strong = draws[:, None, :] < grid[None, :, None]  # (S, G, n)
    qual = np.where(strong, qs, qw).mean(axis=2)
    cost = np.where(strong, cs, cw).mean(axis=2)
    apgrs = []
    for s in range(seeds):
        pts = threshold_curve(draws[s], qs, qw, cs, cw)
        g = pgr(pts.quality, qs.mean(), qw.mean())
        apgrs.append(apgr(pts.strong_share, g))
    curve = [
        {
            "strong_share": float(grid[i]),
            "quality": float(qual[:, i].mean()),
            "quality_std": float(qual[:, i].std()),
            "cost_usd": float(cost[:, i].mean()),
            "cost_std": float(cost[:, i].std()),
        }
        for i in range(grid.size)
    ]
    return {
        "seeds": seeds,
        "apgr": _finite(float(np.mean(apgrs))),
        "apgr_std": _finite(float(np.std(apgrs))),
        "curve": curve,
    }

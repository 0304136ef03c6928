"""Held-out scores of a router, for training summaries, calibration reports and tests.

Thin glue over :mod:`routegraph.core.metrics` (which owns the definitions): for two models the
threshold sweep of ``strong_probability`` gives APGR; for N models the router's argmax choice
gives a mean quality next to the best single model and the oracle.
"""

from __future__ import annotations

import numpy as np

from routegraph.core import metrics
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.routers.base import Router


def strong_weak(router: Router, data: RoutingDataset) -> tuple[str, str]:
    """The (strong, weak) pair to evaluate: the data's own, else the router's record."""
    strong = data.strong_model or router.meta_.get("strong_model") or router.models_[-1]
    weak = data.weak_model or router.meta_.get("weak_model") or router.models_[0]
    for field, name in (("strong model", strong), ("weak model", weak)):
        if name not in data.models or name not in router.models_:
            raise InvalidInputError(
                field,
                f"{name!r} is not in both the data and the router",
                sorted(set(data.models) & set(router.models_)),
            )
    return strong, weak


def apgr_from_scores(p_strong: np.ndarray, q_strong: np.ndarray, q_weak: np.ndarray) -> float:
    """APGR of a score vector: threshold sweep, PGR per strong share, area over [0, 1]."""
    qs, qw = np.asarray(q_strong, float), np.asarray(q_weak, float)
    zeros = np.zeros_like(qs)
    points = metrics.threshold_curve(np.asarray(p_strong, float), qs, qw, zeros, zeros)
    g = metrics.pgr(points.quality, qs.mean(), qw.mean())
    return metrics.apgr(points.strong_share, g)


def evaluate(
    router: Router, data: RoutingDataset, p_strong: np.ndarray | None = None
) -> dict[str, float]:
    """Held-out metrics of ``router`` on ``data`` (rows with a missing cell are skipped).

    Keys: ``apgr`` (strong vs weak), ``n``, ``quality_argmax`` (mean quality of the model with the
    highest predicted quality), ``best_single`` and ``oracle`` (mean quality).
    """
    strong, weak = strong_weak(router, data)
    cols = [data.models.index(m) for m in router.models_]
    quality = np.asarray(data.quality, float)[:, cols]
    keep = np.isfinite(quality).all(axis=1)
    prompts = [p for p, k in zip(data.prompts, keep, strict=True) if k]
    quality = quality[keep]
    if len(prompts) == 0:
        raise InvalidInputError("data", "no prompt has every model's outcome", "complete rows")
    s, w = router.models_.index(strong), router.models_.index(weak)
    predicted = router.predict_quality(prompts)
    if p_strong is None:
        p_strong = router.strong_probability(prompts, strong, weak)
    else:
        p_strong = np.asarray(p_strong)[keep]
    rows = np.arange(len(prompts))
    return {
        "n": len(prompts),
        "apgr": apgr_from_scores(p_strong, quality[:, s], quality[:, w]),
        "quality_argmax": float(quality[rows, predicted.argmax(axis=1)].mean()),
        "best_single": float(quality.mean(axis=0).max()),
        "oracle": float(quality.max(axis=1).mean()),
    }

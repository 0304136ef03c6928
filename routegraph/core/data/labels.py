"""Training labels derived from recorded outcomes, in the forms routing papers use.

* :func:`pairwise_outcomes`: strong-vs-weak preference (RouteLLM's win/tie/loss), ties kept.
* :func:`quality_labels_1_to_5`: RouteLLM's causal-LLM classifier target, a 1-5 grade of the weak
  model's answer.
* :func:`best_model_labels`: the index of the cheapest model reaching the row's best quality,
  the target of N-model (specialist) classifiers.

Missing cells never become a silent label: rows without data get the documented sentinel.
"""

from __future__ import annotations

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError


def _column(ds: RoutingDataset, model: str | None, role: str) -> int:
    chosen = model if model is not None else getattr(ds, f"{role}_model")
    if chosen is None:
        raise InvalidInputError(
            role, f"dataset {ds.name!r} names no {role} model; pass one", ds.models
        )
    if chosen not in ds.models:
        raise InvalidInputError(role, f"{chosen!r} is not a model of {ds.name!r}", ds.models)
    return ds.models.index(chosen)


def pairwise_outcomes(
    ds: RoutingDataset, strong: str | None = None, weak: str | None = None, tie_margin: float = 0.0
) -> np.ndarray:
    """Per row: 1 if ``strong`` scored higher than ``weak``, -1 if lower, 0 for a tie.

    Defaults to ``ds.strong_model`` / ``ds.weak_model``. Quality gaps within ``tie_margin`` are
    ties. Rows where either model has no result are 0 as well; use :func:`pairwise_mask` to drop
    them.
    """
    s, w = _column(ds, strong, "strong"), _column(ds, weak, "weak")
    gap = ds.quality[:, s] - ds.quality[:, w]
    out = np.zeros(len(ds), dtype=np.int8)
    valid = ~np.isnan(gap)
    out[valid & (gap > tie_margin)] = 1
    out[valid & (gap < -tie_margin)] = -1
    return out


def pairwise_mask(
    ds: RoutingDataset, strong: str | None = None, weak: str | None = None
) -> np.ndarray:
    """Rows where both models have a recorded result (where :func:`pairwise_outcomes` is real)."""
    s, w = _column(ds, strong, "strong"), _column(ds, weak, "weak")
    return ~np.isnan(ds.quality[:, s]) & ~np.isnan(ds.quality[:, w])


def quality_labels_1_to_5(ds: RoutingDataset, model: str | None = None) -> np.ndarray:
    """1-5 grade of ``model``'s answer (default: the weak model) per row; -1 where it has none.

    Quality q in [0, 1] is binned as ``ceil(5 q)`` clipped to 1..5: correctness 0/1 gives 1 or 5,
    and MT-Bench judge scores 1-10 (q = score/10) give 1-2 -> 1, 3-4 -> 2, ..., 9-10 -> 5.
    """
    q = ds.quality[:, _column(ds, model, "weak")]
    labels = np.full(len(ds), -1, dtype=np.int8)
    valid = ~np.isnan(q)
    labels[valid] = np.clip(np.ceil(np.round(q[valid] * 5, 6)), 1, 5).astype(np.int8)
    return labels


def best_model_labels(ds: RoutingDataset) -> np.ndarray:
    """Per row: column index of the cheapest model with the row's highest quality; -1 if no data.

    Costs that are unknown (NaN) count as more expensive than any known cost.
    """
    quality = ds.quality
    labels = np.full(len(ds), -1, dtype=np.int64)
    has_data = ~np.all(np.isnan(quality), axis=1)
    if not has_data.any():
        return labels
    q = np.where(np.isnan(quality), -np.inf, quality)[has_data]
    best = q.max(axis=1, keepdims=True)
    cost = np.where(np.isnan(ds.cost_usd), np.inf, ds.cost_usd)[has_data]
    candidate_cost = np.where(q >= best, cost, np.inf)
    # argmin picks the first column on equal (or all-infinite) costs: deterministic.
    chosen = np.argmin(candidate_cost, axis=1)
    all_inf = np.isinf(candidate_cost).all(axis=1)
    chosen[all_inf] = np.argmax(q[all_inf] >= best[all_inf], axis=1)
    labels[has_data] = chosen
    return labels

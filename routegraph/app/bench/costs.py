"""What a router can know of each call's cost before making it.

Why: per-call costs vary by orders of magnitude between prompts (a one-letter multiple-choice
answer vs a long chain of thought or a code listing), and the same prompts are long or short for
every model. Deciding with each model's MEAN cost prices a cheap prompt like an expensive one;
the neighbours estimate prices each prompt like the training prompts most similar to it, which
lets a cost weight save where calls are dear and spend where they are cheap. Only the prompt is
used, never the recorded cost of the prompt being routed.
"""

from __future__ import annotations

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError

COST_MODELS = ("mean", "neighbours")
NEIGHBOURS = 20


def mean_costs(train: RoutingDataset, fallback: np.ndarray) -> np.ndarray:
    """Each model's mean recorded cost on the training split, ``(m,)`` (NaN: ``fallback``)."""
    mean = np.nanmean(np.where(np.isfinite(train.cost_usd), train.cost_usd, np.nan), axis=0)
    return np.where(np.isnan(mean), fallback, mean)


def neighbour_costs(train: RoutingDataset, target: RoutingDataset, k: int = NEIGHBOURS):
    """``(len(target), m)``: per prompt, each model's mean recorded cost on the ``k`` most
    similar training prompts (static MiniLM vectors, cosine), the model's mean where none."""
    from routegraph.routers.knn import top_k_similar
    from routegraph.routers.static_embedder import static_embedder

    embed = static_embedder().embed
    keys, queries = embed(list(train.prompts)), embed(list(target.prompts))
    idx, _ = top_k_similar(queries, keys, k)
    costs = np.asarray(train.cost_usd, float)[idx]  # (n, k, m)
    finite = np.isfinite(costs)
    total = np.where(finite, costs, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    fallback = mean_costs(train, np.nanmean(target.cost_usd, axis=0))
    return np.where(count > 0, total / np.maximum(count, 1), fallback[None, :])


def decision_costs(model: str, train: RoutingDataset, target: RoutingDataset) -> np.ndarray:
    """The costs a router decides with on ``target``: ``(m,)`` or ``(len(target), m)``."""
    if model == "mean":
        return mean_costs(train, np.nanmean(target.cost_usd, axis=0))
    if model == "neighbours":
        return neighbour_costs(train, target)
    raise InvalidInputError("decision_cost", f"unknown cost model {model!r}", COST_MODELS)

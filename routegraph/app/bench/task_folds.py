"""Operating points for traffic from tasks nobody trained on: chosen across held-out tasks.

Why: with ``--split by-task`` the test prompts come from tasks the router never saw, and so do
the validation prompts - but they are one or two other tasks. What validation says (how hard
the traffic is, which single model is best, what the zero router pays) does not carry over to
the test tasks, so a setting chosen there for a margin of a few standard errors misses its
target on most seeds (BENCHMARKS.md, issue 16). What varies is the *task*, so the choice must
see many tasks:

1. :func:`out_of_task_scores`: the training tasks are dealt into ``folds``; a fresh router is
   fitted on the other folds and scores this fold's prompts. Every training prompt gets a score
   from a router that never saw its task - the situation of the test prompts.
2. Those prompts and the validation prompts (scored by the router fitted on all training tasks)
   form a pool of many held-out tasks. :func:`task_resampled_setting` draws, many times, a set
   of whole tasks about the size of the test split and asks, for every setting, whether the
   target would be met on that draw - against *that draw's* best single model and zero router,
   exactly as the test verdict is made. The setting met on the most draws wins (then the one
   whose weaker bound is least short on average; then the cheaper).

The share of draws met (``val_met_rate``) is an honest forecast of how often the target holds
on new tasks; ``bench`` selects the router with the highest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from routegraph.app.bench.selection import TARGETS, ScoredSplit
from routegraph.core import metrics
from routegraph.core.data.dataset import RoutingDataset

FOLDS = 4
DRAWS = 400
MAX_SETTINGS = 200


def task_folds(tasks: list[str], folds: int = FOLDS, seed: int = 0) -> list[np.ndarray]:
    """Row indices per fold, whole tasks dealt round-robin in a seeded random order."""
    names = sorted(set(tasks))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[t]: i % folds for i, t in enumerate(order)}
    rows = np.array([fold_of[t] for t in tasks])
    return [np.flatnonzero(rows == f) for f in range(min(folds, len(names)))]


def out_of_task_scores(make, train: RoutingDataset, score, folds: int = FOLDS, seed: int = 0):
    """Scores of every training prompt by a router fitted without its task's fold.

    ``make()`` returns a fresh untrained router; ``score(router, dataset)`` returns its scores
    on ``dataset`` (P(strong) per prompt, or predicted quality per model). Returns None when
    the training data has fewer than two tasks (nothing to hold out).
    """
    tasks = [str(c) for c in (train.categories or [])]
    if len(set(tasks)) < 2:
        return None
    parts = task_folds(tasks, folds, seed)
    out: np.ndarray | None = None
    for held in parts:
        keep = np.setdiff1d(np.arange(len(train)), held)
        router = make().fit(train.subset(keep))
        scores = np.asarray(score(router, train.subset(held)), float)
        if out is None:
            out = np.zeros((len(train), *scores.shape[1:]))
        out[held] = scores
    return out


def _setting_grid(split: ScoredSplit) -> np.ndarray:
    points = split.points()
    settings = np.unique(points.threshold[np.isfinite(points.threshold)])
    if settings.size > MAX_SETTINGS:
        settings = settings[np.linspace(0, settings.size - 1, MAX_SETTINGS).round().astype(int)]
    return settings


def _draws(tasks: np.ndarray, rows_per_draw: int, draws: int, seed: int) -> np.ndarray:
    """(draws, n_tasks) 0/1 matrix: each row a random set of whole tasks with at least
    ``rows_per_draw`` prompts (tasks taken in random order until the size is reached)."""
    names, counts = np.unique(tasks, return_counts=True)
    rng = np.random.default_rng(seed)
    out = np.zeros((draws, len(names)))
    for b in range(draws):
        total = 0
        for t in rng.permutation(len(names)):
            out[b, t] = 1.0
            total += counts[t]
            if total >= rows_per_draw:
                break
    return out


def task_resampled_setting(
    split: ScoredSplit,
    tasks: np.ndarray,
    name: str,
    rows_per_draw: int,
    draws: int = DRAWS,
    seed: int = 0,
) -> tuple[float, dict[str, Any]]:
    """The setting of target ``name`` met on the most draws of whole tasks (see module doc).

    Returns ``(setting, facts)`` like :func:`~routegraph.app.bench.selection.balanced_setting`,
    with ``met_rate`` (share of draws met) and ``n_tasks``.
    """
    goal = TARGETS[name]
    tasks = np.asarray(tasks)
    names, task_index = np.unique(tasks, return_inverse=True)
    settings = _setting_grid(split)
    n_t, n = len(names), len(tasks)
    count = np.bincount(task_index, minlength=n_t).astype(float)
    # per task: sums of each model's quality / cost, and of the picked model's at each setting
    model_q = np.zeros((n_t, split.quality.shape[1]))
    model_c = np.zeros_like(model_q)
    np.add.at(model_q, task_index, split.quality)
    np.add.at(model_c, task_index, split.cost)
    rows = np.arange(n)
    picked_q = np.zeros((n_t, settings.size))
    picked_c = np.zeros_like(picked_q)
    for k, setting in enumerate(settings):
        pick = split.choose(float(setting))
        np.add.at(picked_q[:, k], task_index, split.quality[rows, pick])
        np.add.at(picked_c[:, k], task_index, split.cost[rows, pick])
    weights = _draws(tasks, rows_per_draw, draws, seed)
    size = weights @ count
    q = (weights @ picked_q) / size[:, None]  # (draws, settings)
    c = (weights @ picked_c) / size[:, None]
    mq = (weights @ model_q) / size[:, None]  # (draws, models)
    mc = (weights @ model_c) / size[:, None]
    if split.two_model:
        strong = np.full(len(weights), split.refs.strong_index)
    else:  # the best single model of each draw (the cheaper one on ties), like the test refs
        best = mq.max(axis=1, keepdims=True)
        strong = np.where(mq >= best - 1e-12, -mc, -np.inf).argmax(axis=1)
    draw = np.arange(len(weights))
    floor = goal["quality_fraction"] * mq[draw, strong]
    caps = []  # each cost cap per draw; the verdict's bounds
    if "max_cost_ratio" in goal:
        caps.append(goal["max_cost_ratio"] * mc[draw, strong])
    zero_limit = goal.get("max_zero_ratio", goal.get("zero_ratio_cap"))
    if zero_limit is not None:
        zero = np.array([metrics.cost_to_reach(mc[b], mq[b], floor[b]) for b in draw])
        caps.append(np.where(np.isfinite(zero), zero_limit * zero, -np.inf))
    met = q >= floor[:, None] - 1e-9
    short = q / np.maximum(floor[:, None], 1e-12) - 1.0  # relative slack of the floor
    for cap in caps:
        met &= c <= cap[:, None] + 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(np.isfinite(cap)[:, None], 1.0 - c / cap[:, None], -1.0)
        short = np.minimum(short, rel)
    rate = met.mean(axis=0)
    soft = np.clip(short, -1.0, 1.0).mean(axis=0)
    cost = c.mean(axis=0)
    best = max(range(settings.size), key=lambda k: (rate[k], soft[k], -cost[k]))
    facts = {
        "quality": float(q[:, best].mean()),
        "cost_usd": float(cost[best]),
        "reached": bool(rate[best] >= 0.5),
        "margin_z": float(rate[best]),
        "met_rate": float(rate[best]),
        "zero_bound_used": zero_limit is not None,
        "rule": f"task resampling ({n_t} held-out tasks, {len(weights)} draws)",
        "n_tasks": int(n_t),
    }
    return float(settings[best]), facts

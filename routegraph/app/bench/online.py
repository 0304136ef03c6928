"""Learning from deployment, simulated: the test prompts as a stream with partial feedback.

Why: in production only the models a request called have outcomes; nobody labels every model
on every prompt. This replays the test prompts of a split (``bench --online``) in a seeded
random order and compares three policies that all start from the same router fitted on the
training split and route by ``argmax(q_hat - lambda x cost)`` with ``lambda`` chosen on
validation for the ``q95`` target:

* ``offline``: the trained router alone, never updated (what a deployment gets today);
* ``bandit``: every ``update_every`` prompts it refits on what the stream revealed so far -
  the outcome of the ONE model it called per prompt (with probability ``epsilon`` a random
  model of the training split's cost-quality hull - a model no mix would ever use is not worth
  exploring - and each record keeps its propensity);
* ``full``: the same learner shown every model's outcome on every streamed prompt (the
  full-information reference a labelled benchmark would give);
* ``mix``: the zero router's mix chosen on validation for ``q95`` (each prompt to one of two
  single models at random, never updated): the fixed mix the issue asks never to be worse
  than, streamed like the others, so a window's "worse than the zero router" can be read
  against how often the mix itself is, by the window's chance alone.

The learner (:class:`OnlineLearner`) keeps the router's prediction as a prior and fits, per
model, a ridge correction of it from the outcomes revealed so far, each weighted by one over
the propensity of the call that revealed it: what a deployment would refit from its outcome
log. Reported per
window of ``window`` prompts: mean quality and cost of each policy, the zero router's cost for
that quality on the window (a fixed mix of single models), and the cumulative regret of the
bandit policy against the full-information one in ``quality - lambda x cost``.

With ``holdout`` > 0 a share of the test prompts is kept out of the stream, and the three
policies as they stand at its end are scored on it for every target, beside the zero router's
mix chosen on validation: ``offline`` at each target's lambda chosen on validation (as ``bench``
does), the learners at the lambda each re-chose on what the stream revealed to it (and, for
comparison, at the validation lambdas). Whether what a deployment learned from its own traffic
meets the targets on more of that traffic, which no operating point fixed before it can
(BENCHMARKS.md, "The ceiling").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from routegraph.app.bench.baselines import references
from routegraph.app.bench.costs import decision_costs
from routegraph.app.bench.selection import (
    TARGETS,
    ScoredSplit,
    balanced_setting,
    hull_vertices,
    target_verdict,
    validated_zero,
    zero_cost_to_reach,
    zero_mix,
)
from routegraph.app.log_intervals import interval, resampled_means
from routegraph.core import metrics
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.routers.corrected import apply_corrections, doubly_robust, ridge_corrections

POLICIES = ("offline", "bandit", "full", "mix")


class OnlineLearner:
    """Per model, a ridge regression of how far the router's prior is off on this traffic
    (the correction ``routegraph learn`` fits from a real outcome log, see
    :mod:`routegraph.routers.corrected`).

    Features are ``[1, prior]``: an intercept (a model that is better or worse here than the
    router thought) and the router's own prior (a negative weight shrinks per-prompt differences
    the router cannot back up on this traffic). Each model's fit uses only the prompts where it
    was called, weighted by one over the call's propensity (so rare exploratory calls are not
    under-counted), and ``ridge`` pseudo-observations at zero correction, so a model with
    little evidence keeps the router's prior.
    """

    def __init__(self, ridge: float = 5.0) -> None:
        self.ridge = ridge
        self.theta: np.ndarray | None = None

    def refit(self, outcomes: np.ndarray, propensity: np.ndarray, prior: np.ndarray) -> None:
        """Learn from the log: outcomes (t, m) with NaN where a model was not called, the
        propensities (t, m) of those calls, the router's prior (t, m)."""
        self.theta = ridge_corrections(outcomes, propensity, prior, self.ridge)

    def predict(self, prior: np.ndarray) -> np.ndarray:
        """Corrected quality (n, m) of new prompts whose router prior is ``prior`` (n, m)."""
        if self.theta is None:
            return prior
        return apply_corrections(prior, self.theta, clip=False)


def hull_models(train: RoutingDataset) -> np.ndarray:
    """Columns of the models on the training split's non-decreasing cost-quality hull (the
    only single models a zero router ever mixes)."""
    cost = np.nanmean(train.cost_usd, axis=0)
    quality = np.nanmean(train.quality, axis=0)
    return np.array(sorted(hull_vertices(cost, quality)))


def check_settings(window: int, update_every: int, epsilon: float, holdout: float = 0.0) -> None:
    """Refuse out-of-range stream settings before any work, naming the flag."""
    for field, value, ok, allowed in (
        ("--window", window, window >= 1, "an integer >= 1"),
        ("--update-every", update_every, update_every >= 1, "an integer >= 1"),
        ("--epsilon", epsilon, 0.0 <= epsilon <= 1.0, "a share in [0, 1]"),
        ("--final-holdout", holdout, 0.0 <= holdout <= 0.9, "a share in [0, 0.9]"),
    ):
        if not ok:
            raise InvalidInputError(field, f"{value} is out of range", allowed)


def simulate_online(
    router,
    train: RoutingDataset,
    val: RoutingDataset,
    test: RoutingDataset,
    window: int = 100,
    update_every: int = 50,
    epsilon: float = 0.05,
    seed: int = 0,
    max_prompts: int | None = None,
    lam: float | None = None,
    holdout: float = 0.0,
) -> dict[str, Any]:
    """Stream ``test`` through the three policies (module doc); ``router`` is fitted on
    ``train``; ``lam`` (default: chosen on ``val`` for the ``q95`` target) weighs cost against
    quality; a ``holdout`` share of ``test`` is kept out of the stream to score the policies
    as they end it."""
    check_settings(window, update_every, epsilon, holdout)
    models = list(test.models)
    m = len(models)
    columns = [router.models_.index(x) for x in models]
    val_split = ScoredSplit(
        np.asarray(router.predict_quality(val.prompts), float)[:, columns],
        val.quality,
        val.cost_usd,
        references(val),
        decision_costs("mean", train, val),
    )
    if lam is None:
        lam, _ = balanced_setting(val_split, "q95")
    cost_known = decision_costs("mean", train, test)
    order = np.random.default_rng(seed).permutation(len(test))
    kept_out = order[len(order) - int(round(holdout * len(order))) :] if holdout else order[:0]
    order = order[: len(order) - kept_out.size]
    if max_prompts is not None:
        order = order[:max_prompts]
    prompts = [test.prompts[i] for i in order]
    quality, cost = test.quality[order], test.cost_usd[order]
    prior = np.asarray(router.predict_quality(prompts), float)[:, columns]
    rng = np.random.default_rng(seed + 1)
    hull = hull_models(train.with_models(models))
    n = len(prompts)
    picks = {p: np.zeros(n, int) for p in POLICIES}
    mix = zero_mix(
        val.quality,
        val.cost_usd,
        TARGETS["q95"]["quality_fraction"] * val_split.refs.strong_quality,
    )
    picks["mix"] = np.random.default_rng(seed + 2).choice(
        list(mix), size=n, p=np.array(list(mix.values())) / sum(mix.values())
    )
    learners = {"bandit": OnlineLearner(), "full": OnlineLearner()}
    seen = {"bandit": np.full((n, m), np.nan), "full": np.full((n, m), np.nan)}
    propensity = {"bandit": np.ones((n, m)), "full": np.ones((n, m))}
    for start in range(0, n, update_every):
        block = np.arange(start, min(n, start + update_every))
        for policy in ("bandit", "full"):
            learners[policy].refit(seen[policy][:start], propensity[policy][:start], prior[:start])
        picks["offline"][block] = np.argmax(prior[block] - lam * cost_known, axis=1)
        for policy, learner in learners.items():
            q_hat = learner.predict(prior[block])
            greedy = np.argmax(q_hat - lam * cost_known, axis=1)
            chosen = greedy.copy()
            if policy == "bandit" and epsilon > 0:
                explore = rng.random(block.size) < epsilon
                chosen[explore] = rng.choice(hull, int(explore.sum()))
                p = np.zeros((block.size, m))
                p[:, hull] = epsilon / hull.size
                p[np.arange(block.size), greedy] += 1.0 - epsilon
                propensity[policy][block] = p
            picks[policy][block] = chosen
            if policy == "full":
                seen[policy][block] = quality[block]
            else:
                seen[policy][block, chosen] = quality[block, chosen]
    record = _report(picks, quality, cost, lam, window, models, seed)
    if kept_out.size:
        streamed = test.subset(order)
        settings = {"validation": {name: balanced_setting(val_split, name)[0] for name in TARGETS}}
        for policy, learner in learners.items():  # what each knows once the stream has ended
            learner.refit(seen[policy], propensity[policy], prior)
            revealed = revealed_split(
                streamed, learner.predict(prior), seen[policy], propensity[policy], cost_known
            )
            settings[policy] = {name: balanced_setting(revealed, name)[0] for name in TARGETS}
        held = test.subset(kept_out)
        held_prior = np.asarray(router.predict_quality(held.prompts), float)[:, columns]
        record["final_targets"] = final_targets(
            learners, held, held_prior, val_split, decision_costs("mean", train, held), settings
        )
    return record


def revealed_split(
    streamed: RoutingDataset,
    q_hat: np.ndarray,
    seen: np.ndarray,
    propensity: np.ndarray,
    cost_known: np.ndarray,
) -> ScoredSplit:
    """The streamed prompts as a learner knows them, to choose its operating points on: each
    model's outcome per prompt estimated doubly robustly - its corrected prediction ``q_hat``,
    plus, where the stream revealed that model's outcome, the prediction's error weighted by
    one over the call's propensity (unbiased for the outcome; with full labels it is the
    outcome) - at the prices known at decision time."""
    estimate = doubly_robust(q_hat, seen, propensity)
    cost = np.broadcast_to(cost_known, q_hat.shape).astype(float)
    known = replace(streamed, quality=estimate, cost_usd=cost)
    return ScoredSplit(q_hat, estimate, cost, references(known), cost_known)


def final_targets(
    learners: dict[str, OnlineLearner],
    held: RoutingDataset,
    prior: np.ndarray,
    val_split: ScoredSplit,
    cost_known: np.ndarray,
    settings: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """Each policy as the stream left it, on the held-out prompts: per target, the quality and
    cost at its lambda for that target and whether the target is met. ``settings`` holds the
    lambdas chosen on validation (``offline``; ``<policy>_validation_lambda`` for the learners)
    and those each learner chose on what the stream revealed to it (:func:`revealed_split`);
    ``zero`` is the zero router's mix chosen on validation, measured the same way."""
    refs = references(held)
    out: dict[str, Any] = {"holdout_prompts": len(held), "lambda": settings}
    runs = [("offline", prior, settings["validation"])]
    for policy, learner in learners.items():
        q_hat = learner.predict(prior)
        runs += [(policy, q_hat, settings[policy])]
        runs += [(f"{policy}_validation_lambda", q_hat, settings["validation"])]
    for label, q_hat, chosen in runs:
        split = ScoredSplit(q_hat, held.quality, held.cost_usd, refs, cost_known)
        out[label] = {}
        for name, setting in chosen.items():
            got = split.outcome(setting)
            out[label][name] = target_verdict(
                name, got["quality"], got["cost_usd"], held.quality, held.cost_usd, refs
            )
    out["zero"] = validated_zero(
        val_split.quality, val_split.cost, val_split.refs, held.quality, held.cost_usd, refs
    )
    return out


def zero_ratio_interval(
    got_quality: np.ndarray,
    got_cost: np.ndarray,
    quality: np.ndarray,
    cost: np.ndarray,
    draws: int = 500,
    seed: int = 0,
) -> list[float]:
    """90% interval of a window's cost over the zero router's for its quality, resampling the
    window's prompts (the policy's outcome and every model's on the same draws).

    Why: on 100 prompts a fixed mix of single models lands on either side of the window's own
    best mix about half the time (BENCHMARKS.md); a window is worse than the zero router beyond
    chance only where the interval's lower end is above 1. A draw where the policy's quality is
    above every single model's counts as 0 (no mix does better)."""
    m = quality.shape[1]
    means = resampled_means(np.column_stack([got_quality, got_cost, quality, cost]), draws, seed)
    ratios = np.zeros(draws)
    for i, row in enumerate(means):
        zero = metrics.cost_to_reach(row[2 + m :], row[2 : 2 + m], row[0])
        if np.isfinite(zero):
            ratios[i] = row[1] / zero if zero > 0 else np.inf
    return interval(ratios)


def _report(
    picks: dict[str, np.ndarray],
    quality: np.ndarray,
    cost: np.ndarray,
    lam: float,
    window: int,
    models: list[str],
    seed: int,
) -> dict[str, Any]:
    n = quality.shape[0]
    rows = np.arange(n)
    got = {p: (quality[rows, picks[p]], cost[rows, picks[p]]) for p in POLICIES}
    windows = []
    for start in range(0, n, window):
        part = slice(start, min(n, start + window))
        record: dict[str, Any] = {"start": start, "end": min(n, start + window)}
        for policy, (q, c) in got.items():
            wq, wc = float(q[part].mean()), float(c[part].mean())
            zero = zero_cost_to_reach(quality[part], cost[part], wq)
            record[policy] = {
                "quality": wq,
                "cost_usd": wc,
                "zero_cost_usd": zero if np.isfinite(zero) else None,
                "zero_ratio": wc / zero if np.isfinite(zero) and zero > 0 else None,
                "zero_ratio_interval": zero_ratio_interval(
                    q[part], c[part], quality[part], cost[part], seed=start
                ),
            }
        windows.append(record)
    late = [w for w in windows if w["start"] >= 200]
    # no zero ratio: above every single model, so no mix of them does better
    worse = {
        policy: sum(1 for w in late if (w[policy]["zero_ratio"] or 0.0) > 1.0)
        for policy in POLICIES
    }
    beyond_chance = {
        policy: sum(1 for w in late if w[policy]["zero_ratio_interval"][0] > 1.0)
        for policy in POLICIES
    }
    value = {p: got[p][0] - lam * got[p][1] for p in POLICIES}
    regret = np.cumsum(value["full"] - value["bandit"])
    last = windows[-1]
    return {
        "n_stream": n,
        "models": models,
        "lambda": lam,
        "seed": seed,
        "windows": windows,
        "cumulative_regret": [float(regret[w["end"] - 1]) for w in windows],
        "last_window": {
            "bandit_vs_full_cost": last["bandit"]["cost_usd"] / last["full"]["cost_usd"]
            if last["full"]["cost_usd"] > 0
            else None,
            "bandit_minus_full_quality": last["bandit"]["quality"] - last["full"]["quality"],
        },
        "windows_worse_than_zero_after_200": worse["bandit"],
        "windows_worse_than_zero_after_200_by_policy": worse,
        "windows_worse_than_zero_beyond_chance_after_200": beyond_chance,
        "windows_after_200": len(late),
    }


def run_online(
    dataset: str | None = None,
    data: str | None = None,
    router: str = "knn",
    split: str = "by-task",
    seed: int = 0,
    window: int = 100,
    update_every: int = 50,
    epsilon: float = 0.05,
    holdout: float = 0.25,
) -> dict[str, Any]:
    """``routegraph bench --online``: split, fit ``router`` on the training part, stream the
    test part but a ``holdout`` share (:func:`simulate_online`); the record says which split
    and router."""
    from routegraph.app.bench.harness import bench_splits, load_bench_dataset, new_router

    check_settings(window, update_every, epsilon, holdout)
    ds = load_bench_dataset(dataset, data)
    train, val, test, info = bench_splits(ds, seed=seed, mode=split)
    fitted = new_router(router, seed).fit(train)
    record = simulate_online(
        fitted, train, val, test, window, update_every, epsilon, seed=seed, holdout=holdout
    )
    record.update({"dataset": ds.name, "router": router, "split": info})
    record["settings"] = {
        "window": window,
        "update_every": update_every,
        "epsilon": epsilon,
        "final_holdout": holdout,
    }
    return record

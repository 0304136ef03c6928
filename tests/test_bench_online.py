"""``bench --online``: routing a stream with partial feedback, learning from what it revealed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from routegraph.app.bench.online import OnlineLearner, hull_models, simulate_online
from routegraph.app.cli import main
from routegraph.core.data.dataset import RoutingDataset

MODELS = ["cheap", "pricey"]
PRICE = np.array([1e-5, 1e-3])


class WrongPrior:
    """A trained router's view of the pool that is wrong about this traffic: it thinks the
    cheap model fails 70% of prompts; on the stream it answers 90% right."""

    models_ = MODELS

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        return np.tile([0.3, 0.95], (len(prompts), 1))


def stream(n: int, seed: int = 0) -> RoutingDataset:
    rng = np.random.default_rng(seed)
    quality = np.column_stack([rng.random(n) < 0.9, rng.random(n) < 0.95]).astype(float)
    cost = np.tile(PRICE, (n, 1))
    return RoutingDataset("stream", [f"p{i}" for i in range(n)], MODELS, quality, cost)


def test_partial_feedback_learns_that_the_cheap_model_is_good_here() -> None:
    # lambda 100: value = quality - 100 x cost. The prior says pricey (0.95 - 0.1 = 0.85 vs
    # 0.3 - 0.001); the truth says cheap (0.9 - 0.001 = 0.899 vs 0.85).
    data = stream(1500)
    record = simulate_online(WrongPrior(), data, data, data, epsilon=0.2, lam=100.0)
    first, last = record["windows"][0], record["windows"][-1]
    # offline never learns: every call goes to pricey
    assert last["offline"]["cost_usd"] == pytest.approx(PRICE[1])
    # full labels: after a few refits every call goes to cheap
    assert last["full"]["cost_usd"] == pytest.approx(PRICE[0])
    # partial feedback: only explored cheap calls reveal it, yet the last window is cheap,
    # paying exploration (20% random) only
    assert first["bandit"]["cost_usd"] > 0.5 * PRICE[1]
    assert last["bandit"]["cost_usd"] < 0.2 * PRICE[1]
    assert last["bandit"]["quality"] > 0.8
    assert record["cumulative_regret"][-1] > 0  # it paid for learning, against full labels
    assert record["n_stream"] == 1500 and len(record["windows"]) == 15


def test_learner_keeps_the_prior_without_evidence_and_weights_rare_calls() -> None:
    learner = OnlineLearner(ridge=5.0)
    prior = np.tile([0.3, 0.95], (4, 1))
    assert np.allclose(learner.predict(prior), prior)  # nothing learned yet
    outcomes = np.array([[1.0, np.nan], [np.nan, 1.0], [1.0, np.nan], [np.nan, 1.0]])
    propensity = np.array([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])
    learner.refit(outcomes, propensity, prior)
    q = learner.predict(prior[:1])
    # two observations of cheap at 1.0 against a prior of 0.3, ridge 5 on [1, prior] features:
    # the correction is (phi' phi + 5 I)^-1 phi' r with phi = [1, 0.3], r = 0.7 (twice)
    phi = np.array([1.0, 0.3])
    theta = np.linalg.solve(2 * np.outer(phi, phi) + 5 * np.eye(2), 2 * phi * 0.7)
    assert q[0, 0] == pytest.approx(0.3 + phi @ theta)
    assert 0.3 < q[0, 0] < 1.0


def test_bench_online_cli_prints_one_json_record(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ROUTEGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    rows = []
    for i in range(400):
        task = f"task{i % 8}"
        row = {"sample_id": f"s{i}", "prompt": f"Question {i} about {task}?", "eval_name": task}
        for j, model in enumerate(MODELS):
            row[model] = float(rng.random() < (0.6, 0.9)[j])
            row[f"{model}|model_response"] = "x"
            row[f"{model}|total_cost"] = PRICE[j]
        rows.append(row)
    import pandas as pd

    path = tmp_path / "stream.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    plot = tmp_path / "online.png"
    code = main(
        [
            "bench",
            "--data",
            str(path),
            "--split",
            "by-task",
            "--online",
            "--window",
            "20",
            "--json",
            "--plot",
            str(plot),
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["router"] == "knn" and record["split"]["mode"] == "by-task"
    assert record["n_stream"] == sum(w["end"] - w["start"] for w in record["windows"])
    assert set(record["windows"][0]) >= {"offline", "bandit", "full", "mix"}
    worse = record["windows_worse_than_zero_after_200_by_policy"]
    assert set(worse) == {"offline", "bandit", "full", "mix"}
    assert all(0 <= n <= record["windows_after_200"] for n in worse.values())
    sure = record["windows_worse_than_zero_beyond_chance_after_200"]
    assert all(0 <= sure[p] <= worse[p] for p in worse)  # beyond chance is the stricter count
    assert plot.is_file() and plot.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("flag", "value"), [("--window", "0"), ("--update-every", "0"), ("--epsilon", "1.5")]
)
def test_bench_online_refuses_bad_settings_naming_the_flag(flag, value, capsys) -> None:
    code = main(["bench", "--dataset", "mmlu", "--online", flag, value])
    assert code != 0
    assert flag in capsys.readouterr().err


def test_exploration_skips_models_no_mix_would_use() -> None:
    # "mid" costs more than "cheap" and answers worse: dominated, never on the hull
    quality = np.tile([0.6, 0.5, 0.9], (10, 1))
    cost = np.tile([1.0, 2.0, 10.0], (10, 1))
    data = RoutingDataset("t", [f"p{i}" for i in range(10)], ["cheap", "mid", "big"], quality, cost)
    assert hull_models(data).tolist() == [0, 2]


class TwoKinds:
    """A trained router that thinks the cheap model fails the hard prompts ("h...") and
    answers the easy ones ("e...")."""

    models_ = MODELS

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        return np.array([[0.3 if p.startswith("h") else 0.9, 0.95] for p in prompts])


def two_kinds(n: int, cheap_right_on_hard: bool) -> RoutingDataset:
    """Half easy, half hard prompts; pricey always right; cheap right on every easy prompt,
    and on the hard ones only if ``cheap_right_on_hard`` (then wrong on one in 50 of all)."""
    prompts = [f"{'h' if i % 2 else 'e'}{i}" for i in range(n)]
    hard = np.arange(n) % 2 == 1
    cheap = np.where(hard, float(cheap_right_on_hard), 1.0)
    if cheap_right_on_hard:
        cheap[np.arange(n) % 50 == 0] = 0.0
    quality = np.column_stack([cheap, np.ones(n)])
    return RoutingDataset("kinds", prompts, MODELS, quality, np.tile(PRICE, (n, 1)))


def test_the_final_targets_show_what_the_stream_taught_on_prompts_it_never_saw() -> None:
    """Validation tasks where the cheap model fails the hard prompts, as the router believes
    (so each target's lambda sends hard prompts to pricey), then new traffic where cheap
    answers nearly all. Offline keeps paying pricey for half the prompts (no harm broken:
    cheap alone reaches the quality floor); the bandit, having explored cheap on hard prompts
    of the stream, routes the held-out ones to it and meets no harm."""
    val = two_kinds(400, cheap_right_on_hard=False)
    test = two_kinds(2000, cheap_right_on_hard=True)
    record = simulate_online(TwoKinds(), val, val, test, epsilon=0.2, seed=3, holdout=0.3)
    final = record["final_targets"]
    assert final["holdout_prompts"] == 600 and record["n_stream"] == 1400
    assert final["lambda"]["validation"]["no_harm"] > 0
    offline = final["offline"]["no_harm"]
    assert offline["test_cost_usd"] > 0.4 * PRICE[1] and not offline["met"]
    for learned in ("bandit", "bandit_validation_lambda", "full"):
        verdict = final[learned]["no_harm"]
        assert verdict["test_cost_usd"] < 0.05 * PRICE[1] and verdict["met"], learned
        assert verdict["test_quality_fraction"] == pytest.approx(0.98, abs=0.02)
    # the fixed mix chosen on validation needs pricey for half the prompts: the traffic
    # changed under it
    assert not final["zero"]["no_harm"]["met"]
    without = simulate_online(TwoKinds(), val, val, test, epsilon=0.2)
    assert "final_targets" not in without and without["n_stream"] == 2000


def test_the_validated_mix_streams_beside_the_learners_as_the_chance_baseline() -> None:
    """``mix`` plays the zero router's q95 mix chosen on validation: on validation cheap
    reaches 0.5 and pricey 1.0, so 95% of pricey's quality takes pricey on 90% of prompts,
    whatever the stream then shows."""
    val = two_kinds(400, cheap_right_on_hard=False)
    test = two_kinds(2000, cheap_right_on_hard=True)
    record = simulate_online(TwoKinds(), val, val, test, epsilon=0.2, seed=1)
    mix = [w["mix"] for w in record["windows"]]
    pricey_share = np.mean([(w["cost_usd"] - PRICE[0]) / (PRICE[1] - PRICE[0]) for w in mix])
    assert pricey_share == pytest.approx(0.9, abs=0.03)
    # a mix of single models is the zero router itself, yet on a window of 100 prompts it
    # lands on either side of the window's own best mix by the luck of the draw
    worse = record["windows_worse_than_zero_after_200_by_policy"]["mix"]
    assert 0 < worse < record["windows_after_200"]


def test_the_revealed_split_estimates_each_models_outcomes_doubly_robustly() -> None:
    """What a learner chooses its operating points on: its prediction, corrected where the
    stream revealed an outcome by the error over the call's propensity."""
    from routegraph.app.bench.online import revealed_split

    data = stream(2)
    q_hat = np.array([[0.5, 0.9], [0.6, 0.8]])
    seen = np.array([[1.0, np.nan], [np.nan, 0.0]])  # prompt 0 called cheap, prompt 1 pricey
    propensity = np.array([[0.1, 0.9], [0.1, 0.9]])
    split = revealed_split(data, q_hat, seen, propensity, PRICE)
    expected = np.array([[0.5 + 0.5 / 0.1, 0.9], [0.6, 0.8 - 0.8 / 0.9]])
    assert np.allclose(split.quality, expected)
    assert np.allclose(split.cost, np.tile(PRICE, (2, 1)))
    full = revealed_split(data, q_hat, data.quality, np.ones((2, 2)), PRICE)
    assert np.allclose(full.quality, data.quality)  # full labels: the outcomes themselves


def test_a_window_is_worse_than_the_zero_router_beyond_chance_only_by_a_clear_margin() -> None:
    """Resampling the window's prompts: a random half/half mix of the two models is on the
    zero router's line (its interval holds 1); always calling the pricey model where the
    cheap one is as good is worse beyond doubt; beating every model counts as 0."""
    from routegraph.app.bench.online import zero_ratio_interval

    rng = np.random.default_rng(0)
    quality = (rng.random((100, 2)) < [0.6, 0.8]).astype(float)
    cost = np.tile(PRICE, (100, 1))
    pick = rng.integers(0, 2, 100)
    rows = np.arange(100)
    low, high = zero_ratio_interval(quality[rows, pick], cost[rows, pick], quality, cost)
    assert low < 1.0 < high
    same = np.column_stack([quality[:, 0], quality[:, 0]])  # pricey no better than cheap
    low, _ = zero_ratio_interval(same[:, 1], cost[:, 1], same, cost)
    assert low > 50  # pays pricey's price for what cheap gives
    perfect = np.ones(100)  # right on every prompt, above both models
    assert zero_ratio_interval(perfect, cost[:, 0], quality, cost) == [0.0, 0.0]

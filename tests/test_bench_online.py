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
    assert set(record["windows"][0]) >= {"offline", "bandit", "full"}
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

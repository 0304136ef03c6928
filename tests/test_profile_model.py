"""A new model joins a trained cluster router from a few probe prompts (issue 18, item 3).

The cluster router's arithmetic is checked against values computed independently (a model
profiled on every training prompt with the plain-mean prior IS the fully trained column; a model
that copies another's outcomes is given that model's column through the pool prior); the CLI as
a user runs it (train, profile, promote, route) and its errors, naming the field. The live path
(a real endpoint called and graded by gold answers) runs in ``test_model_pool.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from routegraph.app.cli import main as cli
from routegraph.app.profiling import graded_outcomes, probe_rows
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.routerbench import load_routerbench_csv
from routegraph.core.errors import InvalidInputError
from routegraph.routers.cluster import ClusterRouter
from routegraph.routers.registry import load_router

TOPICS = {
    "math": "Compute the integral and solve the equation for x",
    "history": "Which empire and which king ruled in the century",
    "code": "Write a Python function that sorts a list and returns",
    "law": "Under contract law is the clause of the agreement valid",
}
SKILL = {"small": (0.9, 0.2, 0.2, 0.2), "coder": (0.2, 0.2, 0.95, 0.2), "big": (0.9, 0.9, 0.9, 0.9)}


def topic_data(n: int = 160, seed: int = 0, models: tuple[str, ...] = ("small", "big")):
    """Prompts from four topics; each model's chance of a right answer depends on the topic."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    topics = [names[i % 4] for i in range(n)]
    prompts = [f"{TOPICS[t]} number {i} ({t})" for i, t in enumerate(topics)]
    quality = np.array(
        [[float(rng.random() < SKILL[m][names.index(t)]) for m in models] for t in topics]
    )
    cost = np.tile([1e-5 * (1 + j * 50) for j in range(len(models))], (n, 1))
    return RoutingDataset("topics", prompts, list(models), quality, cost, categories=topics)


@pytest.fixture(scope="module")
def trained() -> tuple[ClusterRouter, RoutingDataset]:
    data = topic_data(models=("small", "coder", "big"))
    return ClusterRouter(k=4, seed=0).fit(data.with_models(["small", "big"])), data


def test_profiling_every_training_prompt_with_the_mean_prior_is_the_trained_column(
    trained: tuple[ClusterRouter, RoutingDataset],
) -> None:
    left, data = trained
    full = ClusterRouter(k=4, seed=0).fit(data)  # same prompts, same seed: same centroids
    np.testing.assert_allclose(full.centroids_, left.centroids_)
    profiled = ClusterRouter.__new__(ClusterRouter)
    profiled.__dict__.update({k: np.copy(v) if isinstance(v, np.ndarray) else v
                              for k, v in left.__dict__.items()})  # fmt: skip
    profiled.models_ = list(left.models_)
    profiled.meta_ = dict(left.meta_)
    coder = data.models.index("coder")
    profiled.add_model("coder", data.prompts, data.quality[:, coder], prior="mean",
                       prior_weight=full.prior_weight)  # fmt: skip
    np.testing.assert_allclose(
        profiled.table_[:, profiled.models_.index("coder")], full.table_[:, coder], atol=1e-9
    )
    # and the column is what its definition says: soft cluster means shrunk to the model mean
    m = full.membership(full.embed(data.prompts))
    mean = data.quality[:, coder].mean()
    by_hand = (m.T @ data.quality[:, coder] + 2.0 * mean) / (m.sum(axis=0) + 2.0)
    np.testing.assert_allclose(full.table_[:, coder], by_hand, atol=1e-9)


def test_a_model_that_answers_like_one_in_the_pool_gets_that_models_column(
    trained: tuple[ClusterRouter, RoutingDataset],
) -> None:
    left, data = trained
    router = ClusterRouter(k=4, seed=0).fit(data.with_models(["small", "big"]))
    rows = probe_rows(data, 40, seed=1)
    twin = data.quality[rows, data.models.index("small")]  # the same outcomes as "small"
    record = router.add_model("twin", [data.prompts[i] for i in rows], twin, source="test")
    small, new = router.table_[:, 0], router.table_[:, 2]
    assert np.abs(new - small).max() < 0.15, (new, small)
    assert record["probe_prompts"] == 40 and record["prior"] == "pool"
    assert sum(record["cluster_evidence"]) == pytest.approx(40.0)
    # the coder's strength is found from 40 probes: best predicted on a code prompt
    coder = data.quality[rows, data.models.index("coder")]
    router.add_model("coder", [data.prompts[i] for i in rows], coder)
    scores = router.score("Write a Python function that sorts a list and returns it")
    assert scores["coder"] > scores["small"], scores


def test_add_model_refuses_bad_outcomes_naming_the_field(
    trained: tuple[ClusterRouter, RoutingDataset],
) -> None:
    router, _ = trained
    cases = [
        (("big", ["a"], [1.0]), "model"),
        (("new", ["a", "b"], [1.0]), "quality"),
        (("new", ["a"], [1.5]), "quality"),
        (("new", ["a"], [float("nan")]), "quality"),
    ]
    for args, field in cases:
        with pytest.raises(InvalidInputError) as refused:
            router.add_model(*args)
        assert refused.value.field == field
    with pytest.raises(InvalidInputError, match="unknown prior"):
        router.add_model("new", ["a"], [1.0], prior="median")
    assert router.models_ == ["small", "big"]  # nothing half-added


def test_probe_rows_are_fixed_spread_over_tasks_and_bounded() -> None:
    data = topic_data(n=100)
    rows = probe_rows(data, 20, seed=3)
    assert np.array_equal(rows, probe_rows(data, 20, seed=3))
    assert len(set(rows.tolist())) == 20
    counts = pd.Series([data.categories[i] for i in rows]).value_counts()  # type: ignore[index]
    assert set(counts.index) == set(TOPICS) and counts.min() == 5
    for bad in (5, 101):
        with pytest.raises(InvalidInputError) as refused:
            probe_rows(data, bad)
        assert refused.value.field == "--prompts"


def test_graded_outcomes_score_answers_against_gold_and_a_failed_call_as_wrong() -> None:
    data = topic_data(n=12)
    data.references = ["B", "42", None] * 4
    answers = {0: "The answer is (B).", 1: "so 6 x 7 = 42", 3: "(C)", 4: ""}

    def answer(prompt: str) -> tuple[str, float | None]:
        return answers.get(data.prompts.index(prompt), "(A)"), 0.001

    got = graded_outcomes(data, "m", np.array([0, 1, 2, 3, 4]), answer)
    assert got.quality[[0, 1, 3, 4]].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert np.isnan(got.quality[2])  # no gold answer: not scored
    assert got.cost_usd == pytest.approx(0.001)
    data.references = None
    with pytest.raises(InvalidInputError, match="no gold answers"):
        graded_outcomes(data, "m", np.array([0, 1]), answer)


# -- the command line, as a user runs it ----------------------------------------------------------
def write_csv(data: RoutingDataset, path: Path, references: bool = False) -> Path:
    frame = pd.DataFrame({"sample_id": data.prompt_ids, "prompt": data.prompts,
                          "eval_name": data.categories})  # fmt: skip
    for j, model in enumerate(data.models):
        frame[model] = data.quality[:, j]
        frame[f"{model}|total_cost"] = data.cost_usd[:, j]
    if references:
        frame["reference"] = ["A"] * len(frame)
    frame.to_csv(path, index=False)
    return path


def test_train_profile_promote_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = topic_data(models=("small", "coder", "big"))
    two = write_csv(data.with_models(["small", "big"]), tmp_path / "two.csv")
    three = write_csv(data, tmp_path / "three.csv")
    folder = tmp_path / "team"
    assert cli(["train", "cluster", "--data", str(two), "--param", "k=4",
                "--out", str(folder / "v0001")]) == 0  # fmt: skip
    assert cli(["promote", str(folder), "v0001"]) == 0
    capsys.readouterr()
    assert cli(["profile", "coder", "--router", str(folder), "--data", str(three),
                "--prompts", "40", "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "coder" and report["probe_prompts"] == 40
    assert report["written"] == str(folder / "v0002") and report["base_version"] == "v0001"
    assert report["source"] == "recorded column 'coder' of three"
    assert len(report["probe_ids"]) == 40
    assert load_router(folder).models_ == ["small", "big"]  # nothing in use until promoted
    assert cli(["promote", str(folder), "--list"]) == 0
    assert "v0002  profiled coder on 40 probe prompts" in capsys.readouterr().out
    assert cli(["promote", str(folder)]) == 0
    router = load_router(folder)
    assert router.models_ == ["small", "big", "coder"]
    assert router.meta_["profiles"]["coder"]["probe_prompts"] == 40
    best = max(router.score("Write a Python function that sorts a list and returns it").items(),
               key=lambda kv: kv[1])  # fmt: skip
    assert best[0] in ("coder", "big")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--prompts", "3"], "--prompts"),
        (["--router", "knn-folder"], "cannot take a new model"),
        (["--model", "big"], "already in the router's pool"),
        (["--model", "nobody"], "neither a column"),
        (["--out", "DROP"], "--out"),
    ],
)
def test_profile_errors_are_one_line_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    data = topic_data(models=("small", "coder", "big"))
    two = write_csv(data.with_models(["small", "big"]), tmp_path / "two.csv")
    three = write_csv(data, tmp_path / "three.csv")
    cluster, knn = tmp_path / "cluster", tmp_path / "knn-folder"
    assert (
        cli(["train", "cluster", "--data", str(two), "--param", "k=4", "--out", str(cluster)]) == 0
    )
    assert cli(["train", "knn", "--data", str(two), "--out", str(knn)]) == 0
    options = {"--router": str(cluster), "--prompts": "20", "--out": str(tmp_path / "new"),
               "--model": "coder"}  # fmt: skip
    key, value = argv
    options[key] = str(tmp_path / value) if key == "--router" else value
    model = options.pop("--model")
    if options["--out"] == "DROP":  # the cluster folder is not versioned: --out is needed
        options.pop("--out")
    capsys.readouterr()
    flat = [item for pair in options.items() for item in pair]
    assert cli(["profile", str(model), "--data", str(three), *flat]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("routegraph profile: error:") and words in err and "\n" not in err
    assert not (tmp_path / "new").exists()  # nothing half-written


def test_a_reference_column_is_read_as_gold_answers(tmp_path: Path) -> None:
    data = topic_data(n=8)
    loaded = load_routerbench_csv(write_csv(data, tmp_path / "gold.csv", references=True))
    assert loaded.references == ["A"] * 8
    assert loaded.models == ["small", "big"]  # the reference column is not a model

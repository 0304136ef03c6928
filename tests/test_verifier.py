"""The learned verifier: its arithmetic checker, features, training on real GSM8K answers,
persistence in the shared artifact format, and the shared tree exporter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.core.metrics import cpt, escalation_pgr
from routegraph.evaluators.answer_features import FEATURE_NAMES, answer_features, final_answer
from routegraph.evaluators.arithmetic import check_arithmetic, safe_eval
from routegraph.evaluators.verifier import LearnedVerifier

# -- arithmetic checker -------------------------------------------------------------------------


def test_wrong_sum_is_flagged_and_right_sum_is_not():
    assert check_arithmetic("So she has 12 + 30 = 32 apples.").wrong == 1
    report = check_arithmetic("So she has 12 + 30 = 42 apples.")
    assert report.checked == 1 and report.wrong == 0


@pytest.mark.parametrize(
    "text",
    [
        "3 * 4 = 12",
        "He runs 3 x 60 = 180 meters",
        "She earns 9 * $2 = $<<9*2=18>>18.",
        "2 + 1/2 = 5/2 = <<5/2=2.5>>2.5 bolts",
        "2 * (4 + 8) = 2 * 12 = 24 dogs",
        "1,000 * 3 = 3,000 dollars",
        "10/3 = 3.33 hours",
        "20% * 50 = 10",
    ],
)
def test_correct_arithmetic_in_common_notations_passes(text):
    report = check_arithmetic(text)
    assert report.checked >= 1
    assert report.wrong == 0, [e for e in report.equalities if not e.correct]


@pytest.mark.parametrize(
    "text",
    ["3 * 4 = 13", "<<54-54/3=42>>42", "2 * (4 + 8) = 2 * 12 = 25", "She pays $5 * 6 = $35"],
)
def test_wrong_arithmetic_is_flagged(text):
    assert check_arithmetic(text).wrong >= 1


def test_annotation_whose_shown_number_differs_is_counted():
    assert check_arithmetic("<<3*4=12>>13 eggs").annotation_mismatches == 1
    assert check_arithmetic("<<3*4=12>>12 eggs").annotation_mismatches == 0


def test_prose_and_unit_expressions_are_skipped_not_flagged():
    report = check_arithmetic("180 meters/session * 3 sessions/week = 540 meters. Total = 5")
    assert report.wrong == 0


def test_safe_eval_never_runs_code():
    assert safe_eval("__import__('os').system('echo hi')") is None
    assert safe_eval("2 ** 999999") is None
    assert safe_eval("(1 + 2) * 3") == 9.0


def test_final_answer_prefers_explicit_statement():
    assert final_answer("so 3 + 4 = 7\n#### 1,200") == (1200.0, True)
    assert final_answer("The answer is 42.") == (42.0, True)
    assert final_answer("maybe 5 or 6") == (6.0, False)
    assert final_answer("no numbers") == (None, False)


def test_features_are_finite_and_fixed_length_on_odd_inputs():
    for query, answer in [("", ""), ("q 3", "x " + "9" * 400), ("a", "1/0 = 5"), ("x", "=")]:
        features = answer_features(query, answer)
        assert features.shape == (len(FEATURE_NAMES),)
        assert np.isfinite(features).all()


def _feature(query: str, answer: str, name: str) -> float:
    return float(answer_features(query, answer)[FEATURE_NAMES.index(name)])


def test_a_cut_off_answer_reads_as_truncated_and_a_finished_one_does_not():
    query = "She has 15 cups and 25 cups. How many cups?"
    cut = "She has 15 + 25 = <<15+2"
    done = "She has 15 + 25 = <<15+25=40>>40 cups.\n#### 40"
    assert _feature(query, cut, "truncated") == 1.0
    assert _feature(query, cut, "annotations_unbalanced") == 1.0
    assert _feature(query, cut, "ends_mid_expression") == 1.0
    for name in ("truncated", "annotations_unbalanced", "ends_mid_expression"):
        assert _feature(query, done, name) == 0.0


def test_a_computed_result_never_used_again_is_counted_unless_it_is_the_answer():
    query = "He has 3 boxes of 4 and 2 bags of 5. How many in all?"
    chained = "3 * 4 = 12\n2 * 5 = 10\n12 + 10 = 22\n#### 22"
    dropped = "3 * 4 = 12\n2 * 5 = 10\n10 + 7 = 17\n#### 17"  # 12 is never used
    assert _feature(query, chained, "results_unused_later") == 0.0
    assert _feature(query, dropped, "results_unused_later") == 1.0
    assert _feature(query, dropped, "query_numbers_used_as_operands_share") == 1.0
    assert _feature(query, "3 * 4 = 12\n#### 12", "query_numbers_used_as_operands_share") == 0.5


def test_final_magnitude_is_read_against_the_question_numbers():
    query = "A pen costs 2 dollars and a book 8 dollars. How much for both?"
    assert _feature(query, "2 + 8 = 10\n#### 10", "final_over_query_sum_log") == pytest.approx(0)
    assert _feature(query, "2 * 8000 = 16000\n#### 16000", "final_over_query_sum_log") > 3
    assert _feature(query, "#### 1", "final_below_query_min") == 1.0
    assert _feature("How many eggs?", "#### 2.5", "count_question_noninteger_final") == 1.0
    assert _feature("How much is it?", "#### 2.5", "count_question_noninteger_final") == 0.0
    assert _feature(query, "4 blue and 6 red\n#### 4, 6", "numbers_on_final_line") == 2.0


# -- cascade metrics ------------------------------------------------------------------------------


def test_escalation_curve_escalates_least_confident_first():
    weak = np.array([1.0, 0.0, 0.0, 1.0])
    strong = np.ones(4)
    share, pgr = escalation_pgr(np.array([0.9, 0.1, 0.2, 0.8]), weak, strong)
    assert share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert pgr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert cpt(share, pgr, 0.8) == pytest.approx(0.4)  # between 25% (PGR 0.5) and 50% (PGR 1)
    worst = escalation_pgr(np.array([0.1, 0.9, 0.8, 0.2]), weak, strong)  # wrong answers last
    assert cpt(*worst, 0.8) == pytest.approx(0.9)


def test_tied_confidences_escalate_together():
    weak = np.array([0.0, 1.0, 0.0])
    share, pgr = escalation_pgr(np.array([0.5, 0.5, 0.9]), weak, np.ones(3))
    assert share.tolist() == [0.0, 2 / 3, 1.0]
    np.testing.assert_allclose(pgr, [0.0, 0.5, 1.0])


# -- training on real data --------------------------------------------------------------------


@pytest.fixture(scope="module")
def gsm8k_split():
    from routegraph.core.data import load_dataset
    from routegraph.core.data.splits import train_val_test_split

    ds = load_dataset("gsm8k")
    train, val, test = train_val_test_split(ds, seed=0)
    return ds, np.concatenate([train, val]), test


@pytest.fixture(scope="module")
def trained(gsm8k_split):
    ds, train, _ = gsm8k_split
    weak = ds.models.index(ds.weak_model)
    verifier = LearnedVerifier(n_estimators=100).fit(
        [ds.prompts[i] for i in train],
        [ds.responses[i][weak] for i in train],
        ds.quality[train, weak],
    )
    return verifier


def test_trained_on_gsm8k_train_beats_chance_on_test(gsm8k_split, trained):
    from sklearn.metrics import roc_auc_score

    ds, _, test = gsm8k_split
    weak = ds.models.index(ds.weak_model)
    p = trained.predict_proba([ds.prompts[i] for i in test], [ds.responses[i][weak] for i in test])
    assert p.shape == (len(test),) and ((p > 0) & (p < 1)).all()
    assert roc_auc_score(ds.quality[test, weak], p) > 0.6


def test_save_load_gives_identical_probabilities(tmp_path, gsm8k_split, trained):
    ds, _, test = gsm8k_split
    queries = [ds.prompts[i] for i in test[:50]]
    answers = [ds.responses[i][0] for i in test[:50]]
    trained.save(tmp_path / "v")
    loaded = LearnedVerifier.load(tmp_path / "v")
    np.testing.assert_array_equal(
        trained.predict_proba(queries, answers), loaded.predict_proba(queries, answers)
    )


def test_load_rejects_broken_or_stale_artifacts(tmp_path, trained):
    with pytest.raises(ArtifactError, match="not a verifier artifact"):
        LearnedVerifier.load(tmp_path)
    trained.save(tmp_path / "v")
    record = json.loads((tmp_path / "v" / "verifier.json").read_text())
    record["features"] = record["features"][:-1]
    (tmp_path / "v" / "verifier.json").write_text(json.dumps(record))
    with pytest.raises(ArtifactError, match="retrain"):
        LearnedVerifier.load(tmp_path / "v")
    trained.save(tmp_path / "w")
    (tmp_path / "w" / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="corrupted"):
        LearnedVerifier.load(tmp_path / "w")
    trained.save(tmp_path / "x")
    record = json.loads((tmp_path / "x" / "verifier.json").read_text())
    record["format_version"] = 1
    (tmp_path / "x" / "verifier.json").write_text(json.dumps(record))
    with pytest.raises(ArtifactError, match="format_version"):
        LearnedVerifier.load(tmp_path / "x")


def test_fit_rejects_bad_labels(trained):
    with pytest.raises(InvalidInputError, match="labels"):
        LearnedVerifier().fit(["q", "q"], ["a", "b"], [1, 1])
    with pytest.raises(InvalidInputError, match="labels"):
        LearnedVerifier().fit(["q", "q"], ["a", "b"], [0.5, 1])
    with pytest.raises(InvalidInputError, match="answers"):
        trained.predict_proba(["q"], [])
    with pytest.raises(InvalidInputError, match="n_estimators"):
        LearnedVerifier(n_estimators=0)


def test_default_artifact_prefers_correct_arithmetic():
    verifier = LearnedVerifier.default()  # (its speed is measured by benchmarks/, not here)
    query = "Tom has 12 apples and buys 30 more. How many apples does he have?"
    good = "Tom has 12 + 30 = <<12+30=42>>42 apples.\n#### 42"
    bad = "Tom has 12 + 30 = <<12+30=32>>32 apples.\n#### 32"
    p_good, p_bad = verifier.predict_proba([query, query], [good, bad])
    assert p_good > p_bad


def test_default_artifact_separates_unseen_weak_answers(gsm8k_split):
    """Measured here, on GSM8K test rows the shipped verifier was not trained on: its scores of
    the weak model's recorded answers rank the right ones above the wrong ones (AUC), and the
    AUC the training script stored in the artifact is the one these data give."""
    from sklearn.metrics import roc_auc_score

    ds, train, test = gsm8k_split
    assert not set(train.tolist()) & set(test.tolist())
    weak = ds.models.index(ds.weak_model)
    labels = ds.quality[test, weak]
    answers = [ds.responses[i][weak] or "" for i in test]
    verifier = LearnedVerifier.default()
    auc = roc_auc_score(labels, verifier.predict_proba([ds.prompts[i] for i in test], answers))
    assert auc > 0.7  # chance is 0.5
    # and what the artifact reports matches the measurement (scripts/train_default_verifier.py)
    assert verifier.meta_["gsm8k_test"]["n"] == len(test)
    assert verifier.meta_["gsm8k_test"]["auc_weak_answers"] == pytest.approx(auc, abs=1e-9)


@pytest.mark.parametrize("kind", ["classifier", "hist_classifier", "hist_regressor"])
def test_exported_trees_reproduce_sklearn_exactly(kind):
    """One exporter serves the verifier (GradientBoosting) and the boosted router (Hist*)."""
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    from routegraph.core.trees import export_trees, predict_trees

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    signal = x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=400)
    y = (signal > 0).astype(int)
    weights = rng.uniform(0.2, 2.0, 400)
    x_new = rng.normal(size=(100, 5))
    if kind == "classifier":
        model = GradientBoostingClassifier(n_estimators=30, max_depth=3, subsample=0.8)
        expected = model.fit(x, y, sample_weight=weights).decision_function
    elif kind == "hist_classifier":
        model = HistGradientBoostingClassifier(max_iter=30, early_stopping=False)
        expected = model.fit(x, y, sample_weight=weights).decision_function
    else:
        model = HistGradientBoostingRegressor(max_iter=30, early_stopping=False)
        expected = model.fit(x, signal).predict
    np.testing.assert_allclose(
        predict_trees(export_trees(model), x_new), expected(x_new), atol=1e-9
    )

"""Router artifacts: save/load round trips, clear errors on broken files, registry and
calibration behave like a user expects."""

from __future__ import annotations

import json

import numpy as np
import pytest

from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.routers.calibration import calibrate, parse_target, resolve_threshold
from routegraph.routers.registry import ROUTERS, load_router, make_router
from tests.routers_data import mmlu_subset

FAST = {
    "random": {"seed": 3},
    "knn": {"k": 5},
    "sw_ranking": {"gamma": 5.0},
    "matrix_factorization": {"epochs": 3, "dim": 8},
    "category": {},
    "category_knn": {"k": 5},
    "stacked": {"k": 5},
    "boosted": {"k": 5, "max_iter": 20, "min_samples_leaf": 10},
    "ensemble": {"members": [{"name": "knn", "params": {"k": 5}}, {"name": "random"}]},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train, test = mmlu_subset()
    out = {}
    for name, params in FAST.items():
        router = make_router(name, **params).fit(train)
        folder = router.save(tmp_path_factory.mktemp(name))
        out[name] = (router, folder)
    return out


@pytest.mark.parametrize("name", sorted(FAST))
def test_save_then_load_gives_identical_scores(name, trained):
    router, folder = trained[name]
    _, test = mmlu_subset()
    again = load_router(folder)
    assert type(again) is type(router) and again.models_ == router.models_
    prompts = test.prompts[:20]
    np.testing.assert_allclose(
        again.predict_quality(prompts), router.predict_quality(prompts), atol=2e-3
    )
    np.testing.assert_allclose(
        again.strong_probability(prompts), router.strong_probability(prompts), atol=2e-3
    )
    scores = again.score(prompts[0])
    assert set(scores) == set(router.models_)
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_corrupted_json_is_an_artifact_error(trained, tmp_path):
    _, folder = trained["knn"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "arrays.npz").write_bytes((folder / "arrays.npz").read_bytes())
    (broken / "router.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupted"):
        load_router(broken)


def test_missing_npz_is_an_artifact_error(trained, tmp_path):
    _, folder = trained["stacked"]
    broken = tmp_path / "no-arrays"
    broken.mkdir()
    (broken / "router.json").write_text((folder / "router.json").read_text())
    with pytest.raises(ArtifactError, match="arrays"):
        load_router(broken)


def test_npz_missing_an_array_is_an_artifact_error(trained, tmp_path):
    _, folder = trained["knn"]
    broken = tmp_path / "partial"
    broken.mkdir()
    (broken / "router.json").write_text((folder / "router.json").read_text())
    np.savez(broken / "arrays.npz", prior=np.zeros(2))
    with pytest.raises(ArtifactError, match="missing arrays"):
        load_router(broken)


def test_wrong_or_unknown_kind_is_an_artifact_error(trained, tmp_path):
    _, folder = trained["knn"]
    record = json.loads((folder / "router.json").read_text())
    # a knn artifact read by the sw_ranking class
    with pytest.raises(ArtifactError, match="not 'sw_ranking'"):
        ROUTERS["sw_ranking"].load(folder)
    record["kind"] = "crystal_ball"
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "router.json").write_text(json.dumps(record))
    with pytest.raises(ArtifactError, match="unknown router kind 'crystal_ball'"):
        load_router(odd)


def test_ensemble_with_a_broken_member_is_an_artifact_error(trained, tmp_path):
    import shutil

    _, folder = trained["ensemble"]
    copy = tmp_path / "ensemble"
    shutil.copytree(folder, copy)
    (copy / "member0" / "router.json").write_text("[]")
    with pytest.raises(ArtifactError, match="member0"):
        load_router(copy)
    shutil.rmtree(copy / "member1")
    with pytest.raises(ArtifactError):
        load_router(copy)


def test_not_a_folder_nor_a_shipped_name(tmp_path):
    with pytest.raises(InvalidInputError, match="neither a folder"):
        load_router(tmp_path / "nowhere")
    with pytest.raises(ArtifactError, match="not a router artifact"):
        load_router(tmp_path)


def test_unknown_router_name_lists_the_allowed_ones():
    with pytest.raises(InvalidInputError) as info:
        make_router("oracle_of_delphi")
    message = str(info.value)
    assert "router: unknown router 'oracle_of_delphi'" in message
    for name in ("random", "knn", "sw_ranking", "matrix_factorization", "category"):
        assert name in message
    with pytest.raises(InvalidInputError, match="parameters"):
        make_router("knn", neighbours=3)
    with pytest.raises(InvalidInputError, match="k"):
        make_router("knn", k=0)


def test_calibrated_thresholds_meet_targets_and_travel_with_the_artifact(trained, tmp_path):
    router, _ = trained["stacked"]
    train, val = mmlu_subset()
    t_share = calibrate(router, val, "strong_share", 0.3)
    p = router.strong_probability(val.prompts)
    assert abs((p >= t_share).mean() - 0.3) <= 0.05
    t_quality = calibrate(router, val, "quality_fraction", 0.95)
    record = router.meta_["thresholds"]["quality_fraction=0.95"]
    strong_q = val.quality[:, val.models.index("gpt-4-1106-preview")].mean()
    assert record["val_quality"] >= 0.95 * strong_q - 1e-9
    assert record["threshold"] == t_quality
    budget = calibrate(router, val, "cost_per_1k", 1e9)  # unlimited budget: all strong allowed
    assert router.meta_["thresholds"]["cost_per_1k=1e+09"]["val_strong_share"] == 1.0
    assert budget <= p.min() + 1e-12

    folder = router.save(tmp_path / "calibrated")
    again = load_router(folder)
    assert resolve_threshold(again, "strong_share=0.3") == (t_share, "calibrated strong_share=0.3")
    assert resolve_threshold(again, None)[0] == t_share  # the first calibrated one is the default
    assert resolve_threshold(again, "0.7") == (0.7, "given")


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("strong_share", 1.5, "strong_share"),
        ("cost_per_1k", -1.0, "cost_per_1k"),
        ("quality_fraction", 0.0, "quality_fraction"),
        ("latency", 0.5, "target_kind"),
        ("cost_per_1k", 0.0, "cost_per_1k"),  # cheaper than sending everything weak
    ],
)
def test_bad_calibration_targets_are_refused(kind, value, field, trained):
    router, _ = trained["knn"]
    _, val = mmlu_subset()
    with pytest.raises(InvalidInputError, match=field):
        calibrate(router, val, kind, value)


def test_calibration_target_text_parsing():
    assert parse_target("strong_share=0.5") == ("strong_share", 0.5)
    with pytest.raises(InvalidInputError, match="KIND=VALUE"):
        parse_target("strong_share")
    with pytest.raises(InvalidInputError, match="not a number"):
        parse_target("strong_share=half")

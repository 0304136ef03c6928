"""The causal-LLM router: SmolLM2 from the bundled GGUF, LoRA-tuned to grade the weak model."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.core.errors import InvalidInputError
from tests.conftest import require_modules

require_modules("torch", "peft", "gguf", "transformers")

from routegraph.routers.causal_llm import ADAPTER_FILE, CausalLLMRouter  # noqa: E402


def test_registry_finds_the_class():
    from routegraph.routers.registry import ROUTERS

    assert ROUTERS["causal_llm"] is CausalLLMRouter


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold_score": 5}, "threshold_score"),
        ({"lora_r": 0}, "lora_r"),
        ({"max_steps": 0}, "max_steps"),
        ({"lr": 0.0}, "lr"),
        ({"lora_layers": 0}, "lora_layers: 0 is below 1"),
        ({"batch_size": 2.5}, "batch_size: 2.5 is not a whole number"),
        ({"epochs": "two"}, "epochs: 'two' is not an integer"),
    ],
)
def test_bad_hyper_parameters_name_the_field(kwargs, field):
    with pytest.raises(InvalidInputError, match=field):
        CausalLLMRouter(**kwargs)


def test_torch_thread_cap_comes_from_the_environment(monkeypatch):
    from routegraph.routers.torch_artifacts import THREADS_VARIABLE, import_torch

    torch = import_torch()
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(THREADS_VARIABLE, "1")
        assert import_torch().get_num_threads() == 1
        monkeypatch.setenv(THREADS_VARIABLE, "many")
        with pytest.raises(InvalidInputError, match=THREADS_VARIABLE):
            import_torch()
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_gsm8k():
    from routegraph.core.data import load_dataset

    ds = load_dataset("gsm8k")
    rng = np.random.default_rng(3)
    return ds.subset(rng.permutation(len(ds))[:16])


@pytest.fixture(scope="module")
def fitted(tiny_gsm8k):
    router = CausalLLMRouter(
        batch_size=4, max_length=24, lr=1e-3, max_steps=4, show_progress=False, seed=0
    )
    return router.fit(tiny_gsm8k)


@pytest.mark.slow
def test_a_few_lora_steps_lower_the_grade_loss(fitted, tiny_gsm8k):
    assert len(fitted.loss_history_) == 4
    assert fitted.loss(tiny_gsm8k) < fitted.loss(tiny_gsm8k, adapter=False)


@pytest.mark.slow
def test_probabilities_are_consistent_across_methods_and_batches(fitted, tiny_gsm8k):
    prompts = tiny_gsm8k.prompts[:3]
    grades = fitted.predict_grades(prompts)
    np.testing.assert_allclose(grades.sum(axis=1), 1.0)
    p = fitted.strong_probability(prompts)
    np.testing.assert_allclose(p, grades[:, :3].sum(axis=1))
    quality = fitted.predict_quality(prompts)
    weak = fitted.models_.index(tiny_gsm8k.weak_model)
    strong = fitted.models_.index(tiny_gsm8k.strong_model)
    np.testing.assert_allclose(quality[:, strong], p)
    np.testing.assert_allclose(quality[:, weak], 1 - p)
    one_by_one = np.concatenate([fitted.strong_probability([x]) for x in prompts])
    # float32 on CPU: a padded batch sums in another order than one prompt alone (AVX-512 torch
    # kernels differ by ~1.4e-6 here), so equal up to float32 accumulation error, not bitwise
    np.testing.assert_allclose(one_by_one, p, atol=1e-5)
    with pytest.raises(InvalidInputError, match="strong"):
        fitted.strong_probability(prompts, strong="some-other-model")


@pytest.mark.slow
def test_save_load_of_the_adapter_gives_identical_probabilities(tmp_path, fitted, tiny_gsm8k):
    prompts = tiny_gsm8k.prompts[:4]
    before = fitted.strong_probability(prompts)
    fitted.save(tmp_path / "llm")
    files = sorted(p.name for p in (tmp_path / "llm").iterdir())
    assert files == [ADAPTER_FILE, "router.json"]
    assert (tmp_path / "llm" / ADAPTER_FILE).stat().st_size < 5_000_000  # adapter only
    loaded = CausalLLMRouter.load(tmp_path / "llm")
    np.testing.assert_array_equal(before, loaded.strong_probability(prompts))


@pytest.fixture(scope="module")
def tiny_mmlu_pro():
    """Six MMLU-Pro questions with all nine models' outcomes: 54 (query, model) grades."""
    from routegraph.core.data import load_dataset

    ds = load_dataset("mmlu_pro")
    complete = np.flatnonzero(~np.isnan(ds.quality).any(axis=1))
    rng = np.random.default_rng(5)
    return ds.subset(rng.permutation(complete)[:6])


@pytest.mark.slow
def test_routes_among_n_models_by_grading_each_one(tmp_path, tiny_mmlu_pro):
    router = CausalLLMRouter(
        batch_size=6, max_length=24, lr=1e-3, max_steps=3, show_progress=False, seed=0
    ).fit(tiny_mmlu_pro)
    assert router.meta_["graded_models"] == tiny_mmlu_pro.models
    assert router.meta_["train_examples"] == 6 * 9
    assert "each model" in router.meta_["label_scheme"]
    prompts = tiny_mmlu_pro.prompts[:2]
    quality = router.predict_quality(prompts)
    assert quality.shape == (2, 9)
    assert ((quality > 0) & (quality < 1)).all()
    # each column is the expected grade of that model, mapped from 1..5 to 0..1
    model = tiny_mmlu_pro.models[4]
    grades = router.predict_grades(prompts, model)
    np.testing.assert_allclose(quality[:, 4], grades @ np.linspace(0, 1, 5))
    assert router.loss(tiny_mmlu_pro) < router.loss(tiny_mmlu_pro, adapter=False)
    with pytest.raises(InvalidInputError, match="model"):
        router.predict_grades(prompts, "not-a-model")
    router.save(tmp_path / "n")
    loaded = CausalLLMRouter.load(tmp_path / "n")
    np.testing.assert_array_equal(quality, loaded.predict_quality(prompts))

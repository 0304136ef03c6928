"""The causal-LLM router: SmolLM2 from the bundled GGUF, LoRA-tuned to grade the weak model."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.errors import InvalidInputError

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("gguf")

from routers.causal_llm import ADAPTER_FILE, CausalLLMRouter  # noqa: E402


def test_registry_finds_the_class():
    from routers.registry import ROUTERS

    assert ROUTERS["causal_llm"] is CausalLLMRouter


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold_score": 5}, "threshold_score"),
        ({"lora_r": 0}, "lora_r"),
        ({"max_steps": 0}, "max_steps"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_bad_hyper_parameters_name_the_field(kwargs, field):
    with pytest.raises(InvalidInputError, match=field):
        CausalLLMRouter(**kwargs)


@pytest.fixture(scope="module")
def tiny_gsm8k():
    from routegraph.data import load_dataset

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
    np.testing.assert_allclose(one_by_one, p, atol=1e-6)
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

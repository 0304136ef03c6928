"""One routing step asks its router about one query several times; the work is done once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from routegraph.routers.last_batch import MAX_PROMPTS, LastBatch, forget_batches


def test_the_last_batch_is_reused_only_for_the_same_prompts_and_settings() -> None:
    memo = LastBatch()
    calls: list[str] = []

    def compute(tag: str) -> Any:
        calls.append(tag)
        return np.arange(3.0)

    first = memo.get(["a"], lambda: compute("a"))
    assert memo.get(["a"], lambda: compute("again")) is first
    memo.get(["a"], lambda: compute("other settings"), settings=("floor", 0.5))
    memo.get(["b"], lambda: compute("b"))
    assert calls == ["a", "other settings", "b"]
    with pytest.raises(ValueError):  # shared with the next caller: read-only
        first[0] = 1.0
    memo.clear()
    memo.get(["b"], lambda: compute("after clear"))
    assert calls[-1] == "after clear"


def test_a_large_batch_is_not_kept() -> None:
    memo = LastBatch()
    big = [str(i) for i in range(MAX_PROMPTS + 1)]
    memo.get(big, lambda: np.zeros(3))
    fresh = memo.get(big, lambda: np.ones(3))
    assert fresh[0] == 1.0 and fresh.flags.writeable  # computed anew, the caller's own


class CountingEmbedder:
    """Wraps an embedder and counts the prompts it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.prompts = inner, 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.prompts += len(texts)
        return self.inner.embed(texts)


def test_a_routing_step_embeds_its_query_once_and_searches_once() -> None:
    """P(strong), the novelty record and the per-model prior of the shipped default router, for
    one new prompt: one embedding (seven without the memo), and the same numbers."""
    from routegraph.routers.registry import load_router

    router: Any = load_router("default")
    counter = CountingEmbedder(router.embedder)
    members = [router, router.router_, *getattr(router.router_, "routers_", [])]
    for member in members:
        if hasattr(member, "embedder"):
            member.embedder = counter
    prompt = "How many prime numbers are there below 30? Explain."
    p = router.strong_probability([prompt])
    novelty = router.novelty([prompt])
    quality = router.predict_quality([prompt])
    assert counter.prompts == 1
    for member in members:  # the same answers with nothing kept
        forget_batches(member)
        if hasattr(member, "_memo"):
            member._memo.clear()
    import routegraph.routers.embedded as embedded

    embedded._LAST_EMBEDDED.clear()
    assert np.allclose(router.strong_probability([prompt]), p)
    embedded._LAST_EMBEDDED.clear()
    for member in members:
        forget_batches(member)
    assert np.allclose(router.predict_quality([prompt]), quality)
    assert router.novelty([prompt]) == novelty


@pytest.mark.parametrize(
    ("name", "params"),
    [("boosted", {"k": 5, "max_iter": 20, "min_samples_leaf": 10}), ("stacked", {"k": 5})],
)
def test_a_refit_forgets_what_the_old_fit_predicted(name: str, params: dict[str, Any]) -> None:
    from routegraph.routers.registry import make_router
    from tests.routers_data import mmlu_subset

    train, test = mmlu_subset()
    router = make_router(name, **params).fit(train.subset(list(range(150))))
    prompt = [test.prompts[0]]
    before = router.predict_quality(prompt).copy()
    router.fit(train.subset(list(range(150, len(train)))))  # other data, same instance
    after = router.predict_quality(prompt)
    fresh = make_router(name, **params).fit(train.subset(list(range(150, len(train)))))
    assert np.allclose(after, fresh.predict_quality(prompt))
    assert not np.allclose(after, before)

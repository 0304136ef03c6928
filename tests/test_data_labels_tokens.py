"""Derived labels and offline token counts."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.core.data import RoutingDataset, load_dataset
from routegraph.core.data.labels import (
    best_model_labels,
    pairwise_mask,
    pairwise_outcomes,
    quality_labels_1_to_5,
)
from routegraph.core.data.tokens import count_tokens, count_tokens_batch, tokenizer_name
from routegraph.core.errors import InvalidInputError


def table(quality: list[list[float]], cost: list[list[float]]) -> RoutingDataset:
    return RoutingDataset(
        name="t",
        prompts=[f"p{i}" for i in range(len(quality))],
        models=["weak", "mid", "strong"],
        quality=np.array(quality, dtype=float),
        cost_usd=np.array(cost, dtype=float),
        strong_model="strong",
        weak_model="weak",
    )


NAN = float("nan")


def test_pairwise_outcomes_keep_ties_and_flag_missing() -> None:
    ds = table([[1, 0, 0], [0, 0, 1], [1, 1, 1], [NAN, 0, 1]], [[1, 2, 3]] * 4)
    assert pairwise_outcomes(ds).tolist() == [-1, 1, 0, 0]
    assert pairwise_mask(ds).tolist() == [True, True, True, False]
    assert pairwise_outcomes(ds, strong="mid", weak="weak").tolist() == [-1, 0, 0, 0]
    with pytest.raises(InvalidInputError, match="allowed: mid, strong, weak"):
        pairwise_outcomes(ds, strong="gpt-5")


def test_quality_labels_bin_correctness_and_judge_scores() -> None:
    ds = table(
        [[0, 0, 0], [1, 0, 0], [0.1, 0, 0], [0.3, 0, 0], [0.5, 0, 0], [0.8, 0, 0], [NAN, 0, 0]],
        [[1, 2, 3]] * 7,
    )
    assert quality_labels_1_to_5(ds).tolist() == [1, 5, 1, 2, 3, 4, -1]


def test_best_model_is_the_cheapest_of_the_best() -> None:
    ds = table(
        [[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0], [NAN, NAN, NAN], [NAN, 1, 1]],
        [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 5, 3]],
    )
    assert best_model_labels(ds).tolist() == [0, 1, 2, 0, -1, 2]


def test_mt_bench_pairwise_counts() -> None:
    outcomes = pairwise_outcomes(load_dataset("mt_bench"))
    assert set(np.unique(outcomes)) <= {-1, 0, 1}
    assert (outcomes == 1).sum() > (outcomes == -1).sum()  # GPT-4 wins more often


def test_token_counts_are_positive_and_stable() -> None:
    text = "Janet's ducks lay 16 eggs per day. How much does she make?"
    first = count_tokens(text)
    assert 10 <= first <= 30
    assert count_tokens(text) == first
    assert count_tokens("") == 0
    batch = count_tokens_batch([text, "", None, "a b c"])
    assert batch.dtype == np.int64 and batch.tolist()[:3] == [first, 0, 0] and batch[3] > 0
    assert count_tokens(text * 10) > count_tokens(text) * 9


def test_persistent_token_cache_round_trips(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ROUTEGRAPH_CACHE_DIR", str(tmp_path))
    texts = [f"question number {i}" for i in range(50)]
    counts = count_tokens_batch(texts, cache_name="unit")
    stored = list((tmp_path / "tokens").glob("unit-*.npz"))
    assert len(stored) == 1
    assert np.array_equal(count_tokens_batch(texts, cache_name="unit"), counts)


def test_mmlu_prompt_counts_match_one_by_one_counts_and_come_back_from_the_cache(
    tmp_path, monkeypatch
) -> None:
    from routegraph.core.data import tokens

    prompts = load_dataset("mmlu").prompts
    assert len(prompts) >= tokens._PROGRESS_MIN  # the long-list path, not count_tokens'
    monkeypatch.setenv("ROUTEGRAPH_CACHE_DIR", str(tmp_path))
    counts = count_tokens_batch(prompts, cache_name="mmlu-prompts")
    assert counts.shape == (len(prompts),) and np.all(counts > 0)
    sample = range(0, len(prompts), 211)
    assert [int(counts[i]) for i in sample] == [count_tokens(prompts[i]) for i in sample]

    def recount(*args, **kwargs):
        raise AssertionError(f"recounted {tokenizer_name()} tokens instead of reading the cache")

    monkeypatch.setattr(tokens, "_count_all", recount)
    monkeypatch.setattr(tokens, "count_tokens", recount)
    again = count_tokens_batch(prompts, cache_name="mmlu-prompts")
    assert again.dtype == np.int64 and np.array_equal(again, counts)


def test_regex_fallback_when_llama_cpp_is_unavailable(monkeypatch) -> None:
    from routegraph.core.data import tokens

    monkeypatch.setenv("ROUTEGRAPH_TOKENIZER", "regex")
    tokens._llama_vocab.cache_clear()
    tokens.count_tokens.cache_clear()
    try:
        assert tokenizer_name().startswith("regex")
        # 6 words + 1 punctuation mark = 7 units x 1.3 -> 10 tokens (rounded up).
        assert count_tokens("The quick brown fox jumps high.") == 10
    finally:
        monkeypatch.delenv("ROUTEGRAPH_TOKENIZER")
        tokens._llama_vocab.cache_clear()
        tokens.count_tokens.cache_clear()
    assert not tokenizer_name().startswith("regex")

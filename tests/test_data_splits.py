"""Splits are prompt-disjoint, reproducible and keep contaminated prompts out of test."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.core.data import RoutingDataset, load_dataset
from routegraph.core.data.splits import prompt_groups, train_val_test_split
from routegraph.core.errors import InvalidInputError


def toy(prompts: list[str], contaminated: list[bool] | None = None) -> RoutingDataset:
    n = len(prompts)
    return RoutingDataset(
        name="toy",
        prompts=prompts,
        models=["a", "b"],
        quality=np.ones((n, 2)),
        cost_usd=np.ones((n, 2)),
        contaminated=None if contaminated is None else np.array(contaminated),
    )


def assert_partition(ds: RoutingDataset, parts: tuple[np.ndarray, ...]) -> None:
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(len(ds)))
    sides = [{" ".join(ds.prompts[i].split()) for i in part} for part in parts]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])


@pytest.mark.parametrize("name", ["mmlu", "gsm8k", "mt_bench"])
def test_splits_are_disjoint_deterministic_and_clean(name: str) -> None:
    ds = load_dataset(name)
    parts = train_val_test_split(ds, seed=0)
    assert_partition(ds, parts)
    train, val, test = parts
    assert ds.contaminated is not None
    assert not ds.contaminated[test].any()
    assert ds.contaminated[train].sum() == ds.contaminated.sum()
    assert abs(len(test) - 0.2 * len(ds)) <= 2 and abs(len(val) - 0.1 * len(ds)) <= 2
    again = train_val_test_split(ds, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = train_val_test_split(ds, seed=1)
    assert not np.array_equal(parts[2], other[2])


def test_mt_bench_keeps_both_turns_of_a_question_together() -> None:
    ds = load_dataset("mt_bench")
    train, val, test = train_val_test_split(ds, seed=3)
    for part in (train, val, test):
        questions = {ds.prompt_ids[i].split(":")[0] for i in part}
        assert len(part) == 2 * len(questions)


def test_identical_prompts_share_a_side() -> None:
    ds = toy(["same", "other", " same ", "x", "y", "z", "same"] + [f"p{i}" for i in range(13)])
    groups = prompt_groups(ds)
    assert groups[0] == groups[2] == groups[6] != groups[1]
    for seed in range(10):
        train, val, test = train_val_test_split(ds, seed=seed)
        side = {i: s for s, part in enumerate((train, val, test)) for i in part}
        assert side[0] == side[2] == side[6]


def test_contaminated_rows_go_to_train() -> None:
    flags = [i % 3 == 0 for i in range(30)]
    ds = toy([f"q{i}" for i in range(30)], flags)
    assert ds.contaminated is not None
    for seed in range(5):
        train, _, test = train_val_test_split(ds, seed=seed)
        assert not ds.contaminated[test].any()
        assert set(np.flatnonzero(flags)) <= set(train.tolist())


def test_bad_fractions_name_the_field() -> None:
    ds = toy(["a", "b", "c"])
    with pytest.raises(InvalidInputError, match="test_frac"):
        train_val_test_split(ds, test_frac=1.5)
    with pytest.raises(InvalidInputError, match="val_frac \\+ test_frac"):
        train_val_test_split(ds, val_frac=0.5, test_frac=0.5)

"""Train / validation / test row splits that cannot leak a prompt across sides.

Rows are grouped before splitting: identical prompt texts (MMLU repeats 105 of them) form one
group, and so do both turns of an MT-Bench question (``prompt_id`` ``"<qid>:<turn>"``). Groups
are shuffled with a fixed seed and dealt to test, then validation, until each side reaches its
share of rows; the rest is training data. Groups with a contaminated row (overlap with public
router-training data, see RouteLLM) always go to training, so test scores stay comparable to
RouteLLM's published numbers.
"""

from __future__ import annotations

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError, check_unit_interval


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def prompt_groups(ds: RoutingDataset) -> np.ndarray:
    """Group id per row: rows sharing a (whitespace-normalised) prompt or a question id."""
    parent = list(range(len(ds)))
    first: dict[tuple[str, str], int] = {}
    keys = [("text", " ".join(p.split())) for p in ds.prompts]
    if ds.name == "mt_bench":
        keys_q = [("question", pid.split(":", 1)[0]) for pid in ds.prompt_ids]
    else:
        keys_q = []
    for key_list in (keys, keys_q):
        for row, key in enumerate(key_list):
            if key in first:
                a, b = _find(parent, row), _find(parent, first[key])
                parent[a] = b
            else:
                first[key] = row
    roots = [_find(parent, i) for i in range(len(ds))]
    _, group = np.unique(roots, return_inverse=True)
    return group.astype(np.int64)


def train_val_test_split(
    ds: RoutingDataset, seed: int = 0, val_frac: float = 0.1, test_frac: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted row indices ``(train, val, test)``: prompt-disjoint, seeded, no contamination in test.

    The same ``(ds, seed, fractions)`` always gives the same split. Because whole groups move,
    side sizes can differ from the fractions by the size of one group.
    """
    check_unit_interval("val_frac", val_frac)
    check_unit_interval("test_frac", test_frac)
    if val_frac + test_frac >= 1.0:
        raise InvalidInputError(
            "val_frac + test_frac", f"{val_frac + test_frac} leaves no training data", "< 1"
        )
    n = len(ds)
    group = prompt_groups(ds)
    n_groups = int(group.max()) + 1 if n else 0
    sizes = np.bincount(group, minlength=n_groups)
    contaminated = np.zeros(n_groups, dtype=bool)
    if ds.contaminated is not None and n:
        contaminated[group[np.asarray(ds.contaminated, dtype=bool)]] = True

    order = np.random.default_rng(seed).permutation(n_groups)
    side = np.zeros(n_groups, dtype=np.int8)  # 0 train, 1 val, 2 test
    targets = {2: round(test_frac * n), 1: round(val_frac * n)}
    filled = {1: 0, 2: 0}
    for g in order:
        if contaminated[g]:
            continue
        for s in (2, 1):
            if filled[s] < targets[s]:
                side[g] = s
                filled[s] += int(sizes[g])
                break
    row_side = side[group] if n else np.zeros(0, dtype=np.int8)
    return (
        np.flatnonzero(row_side == 0),
        np.flatnonzero(row_side == 1),
        np.flatnonzero(row_side == 2),
    )


SPLIT_MODES = ("random", "by-task")
"""How ``routegraph bench`` splits: prompt groups at random, or whole tasks held out."""


def task_labels(ds: RoutingDataset) -> list[str]:
    """The task of every row: the RouterBench ``eval_name`` (``categories``), e.g. an MMLU subject.

    Raises :class:`InvalidInputError` when the data has no tasks to hold out.
    """
    if not ds.categories or len(set(ds.categories)) < 3:
        found = len(set(ds.categories)) if ds.categories else 0
        raise InvalidInputError(
            "split",
            f"by-task needs at least 3 tasks (an eval_name column); {ds.name!r} has {found}",
            "a dataset with eval_name tasks, or --split random",
        )
    return [str(c) for c in ds.categories]


def task_split(
    ds: RoutingDataset, seed: int = 0, val_frac: float = 0.1, test_frac: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted row indices ``(train, val, test)`` where test and validation are WHOLE tasks.

    Why: a router trained on a benchmark and tested on its other prompts is scored in
    distribution; users send traffic unlike the training data. Tasks are shuffled with ``seed``
    and dealt to test, then validation, until each side reaches its share of rows (at least one
    task each); the remaining tasks train. Validation tasks are unseen by training too, so an
    operating point chosen there already faces the shift the test set measures. A prompt text
    that occurs in two tasks stays with the first side that claims it (test, then validation).
    """
    check_unit_interval("val_frac", val_frac)
    check_unit_interval("test_frac", test_frac)
    labels = task_labels(ds)
    names = sorted(set(labels))
    n = len(ds)
    task_index = {t: i for i, t in enumerate(names)}
    row_task = np.array([task_index[t] for t in labels], dtype=np.int64)
    sizes = np.bincount(row_task, minlength=len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    side = np.zeros(len(names), dtype=np.int8)
    targets = {2: max(1, round(test_frac * n)), 1: max(1, round(val_frac * n))}
    filled = {1: 0, 2: 0}
    for t in order[:-1]:  # the last task always trains
        for s in (2, 1):
            if filled[s] < targets[s]:
                side[t] = s
                filled[s] += int(sizes[t])
                break
    row_side = side[row_task]
    # one prompt text, one side: duplicates across tasks follow their first held-out copy
    group = prompt_groups(ds)
    group_side = np.zeros(int(group.max()) + 1 if n else 0, dtype=np.int8)
    np.maximum.at(group_side, group, row_side)
    row_side = group_side[group] if n else row_side
    return (
        np.flatnonzero(row_side == 0),
        np.flatnonzero(row_side == 1),
        np.flatnonzero(row_side == 2),
    )

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

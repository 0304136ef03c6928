"""A small real subset of RouteLLM's MMLU recordings shared by the router tests.

Five subjects where the gap between GPT-4 and Mixtral differs (GPT-4 far ahead on moral
scenarios and formal logic, level on marketing and government, behind on world religions), 80
prompts each: enough signal for any sensible router to beat random routing on
held-out prompts, few enough to embed in seconds (vectors are cached on disk afterwards).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from routegraph.core.data.dataset import RoutingDataset

SUBJECTS = (
    "moral_scenarios",
    "formal_logic",
    "marketing",
    "high_school_government_and_politics",
    "world_religions",
)
PER_SUBJECT = 80


@lru_cache(maxsize=1)
def mmlu_subset() -> tuple[RoutingDataset, RoutingDataset]:
    """(train, test): 300 / 100 prompts, stratified by subject, seeded."""
    from routegraph.core.data import load_dataset

    ds = load_dataset("mmlu")
    rng = np.random.default_rng(0)
    cats = np.array(ds.categories)
    train, test = [], []
    for subject in SUBJECTS:
        rows = rng.permutation(np.flatnonzero(cats == subject))[:PER_SUBJECT]
        train += rows[: PER_SUBJECT * 3 // 4].tolist()
        test += rows[PER_SUBJECT * 3 // 4 :].tolist()
    return ds.subset(sorted(train)), ds.subset(sorted(test))

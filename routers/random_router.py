"""The baseline every learned router must beat: scores drawn at random.

Scores are a deterministic function of (seed, prompt) - a hash, not a global random stream - so
the same prompt always gets the same decision, saved and reloaded routers agree, and a threshold
on ``strong_probability`` sends a uniformly random share of prompts to the strong model (APGR
0.5 in expectation).
"""

from __future__ import annotations

import hashlib

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.routers.base import Router
from routegraph.routers.embedded import base_meta, check_training_data


def _uniform(seed: int, prompt: str, n: int) -> np.ndarray:
    digest = hashlib.sha256(f"{seed}\x1f{prompt}".encode("utf-8", "surrogatepass")).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return rng.random(n)


class RandomRouter(Router):
    """Random quality per (prompt, model); ``strong_probability`` uniform in [0, 1]."""

    kind = "random"

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self.models_: list[str] = []
        self.meta_: dict = {}

    def fit(self, data: RoutingDataset) -> RandomRouter:
        check_training_data(data, min_prompts=1)
        self.models_ = list(data.models)
        self.meta_ = base_meta(data, "none (random baseline)", embedder=None)
        return self

    def _params(self) -> dict[str, int]:
        return {"seed": self.seed}

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        n = len(self.models_)
        if not prompts:
            return np.zeros((0, n))
        return np.stack([_uniform(self.seed, p, n) for p in prompts])

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        return np.array([_uniform(self.seed, p, 1)[0] for p in prompts])

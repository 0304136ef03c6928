"""A built-in router that needs no training: a length and keyword difficulty rule.

It is what every graph falls back to when no trained artifact is available, and it is named
"heuristic" everywhere so nobody mistakes it for a learned router. Difficulty grows with prompt
length and with words that mark multi-step work (math, code, proofs, analysis).
"""

from __future__ import annotations

import re

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.routers.base import Router
from routegraph.routers.embedded import base_meta

HARD_WORDS = re.compile(
    r"\b(prove|proof|derive|calculate|compute|solve|equation|integral|algorithm|code|python|"
    r"function|implement|debug|explain why|analy[sz]e|compare|step[- ]by[- ]step|optimi[sz]e|"
    r"how many|how much|percent|total|probability|theorem|essay|summari[sz]e)\b",
    re.IGNORECASE,
)
DIGITS = re.compile(r"\d+")


def difficulty(prompt: str) -> float:
    """A rough difficulty in [0, 1]: 0 for a short factual question, near 1 for long tasks."""
    length_term = min(1.0, len(prompt.split()) / 150)
    keyword_term = min(1.0, len(HARD_WORDS.findall(prompt)) / 3)
    number_term = min(1.0, len(DIGITS.findall(prompt)) / 4)
    return float(min(1.0, 0.45 * length_term + 0.35 * keyword_term + 0.2 * number_term))


class HeuristicRouter(Router):
    """Predicted quality falls with difficulty, less so for pricier (stronger) models.

    ``models`` are ordered cheapest first; model i of N gets strength i / (N - 1).
    """

    kind = "heuristic"

    def __init__(self, models: list[str] | None = None):
        self.models_ = list(models or ["weak", "strong"])
        self.meta_ = {
            "label_scheme": "none (rule)",
            "weak_model": self.models_[0],
            "strong_model": self.models_[-1],
        }

    def fit(self, data: RoutingDataset) -> HeuristicRouter:
        """Nothing to learn: order the models cheapest first by mean recorded cost (unknown
        costs last) and record the dataset's weak and strong model."""
        known = np.isfinite(data.cost_usd)
        totals = np.where(known, data.cost_usd, 0.0).sum(axis=0)
        counts = known.sum(axis=0)
        mean_cost = np.where(counts > 0, totals / np.maximum(counts, 1), np.inf)
        self.models_ = [data.models[j] for j in np.argsort(mean_cost, kind="stable")]
        self.meta_ = base_meta(data, "none (rule)")
        return self

    def _params(self) -> dict[str, object]:
        return {"models": self.models_}

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        n = len(self.models_)
        strength = np.linspace(0.0, 1.0, n) if n > 1 else np.ones(1)
        d = np.array([difficulty(p) for p in prompts])[:, None]
        return np.clip(1.0 - d * (1.0 - 0.7 * strength[None, :]), 0.0, 1.0)

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        return np.array([difficulty(p) for p in prompts])

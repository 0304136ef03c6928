"""A built-in router that needs no training: a length and keyword difficulty rule.

It is what every graph falls back to when no trained artifact is available, and it is named
"heuristic" everywhere so nobody mistakes it for a learned router. Difficulty grows with prompt
length and with words that mark multi-step work (math, code, proofs, analysis).
"""

from __future__ import annotations

import math
import re

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.routers.base import Router
from routegraph.routers.embedded import base_meta

HARD_WORDS = re.compile(
    r"\b(prove|proof|derive|theorem|lemma|calculate|compute|solve|equations?|integral|"
    r"derivative|polynomial|eigen\w*|matri(x|ces)|probability|combinatori\w*|"
    r"algorithms?|code|python|rust|c\+\+|function|implement\w*|debug\w*|deadlocks?|"
    r"concurren\w*|threads?|locks?|async\w*|distributed|architecture|design|scal(e|able)|"
    r"latency|throughput|consistency|optimi[sz]e|complexity|explain why|analy[sz]e|compare|"
    r"evaluate|critique|critically|trade-?offs?|justify|weigh|consequences|implications|"
    r"step[- ]by[- ]step|how many|how much|percent|total|essay|sonnet|poem|story|"
    r"summari[sz]e|without using|exactly|preserving|nuance)\b",
    re.IGNORECASE,
)
EASY_WORDS = re.compile(
    r"^\W*(hi+|hello|hey|thanks?|thank you|good (morning|afternoon|evening|night)|bye)\b|"
    r"\b(how are you|nice to meet you|what'?s your name|synonym|rhymes? with|"
    r"how do (you|i) say|capital (city )?of)\b",
    re.IGNORECASE,
)
DIGITS = re.compile(r"\d+")


def difficulty(prompt: str) -> float:
    """A rough difficulty in [0, 1]: near 0 for greetings and one-line facts, near 1 for long,
    multi-step work. Length counts on a log scale (8 words vs 40 matters more than 300 vs 400),
    words that mark multi-step work add, several distinct numbers add (word problems), and
    small talk or a lookup ("capital of", "how do you say") subtracts."""
    words = len(prompt.split())
    length_term = min(1.0, math.log1p(words) / math.log1p(150))
    keyword_term = min(1.0, len(HARD_WORDS.findall(prompt)) / 3)
    number_term = min(1.0, len(set(DIGITS.findall(prompt))) / 5)
    easy_term = 1.0 if EASY_WORDS.search(prompt) else 0.0
    score = 0.45 * length_term + 0.4 * keyword_term + 0.15 * number_term - 0.2 * easy_term
    return float(math.tanh(SCALE * max(0.0, score)))


SCALE = 1.65
"""tanh(1.65 x 0.333) = 0.5: puts the everyday easy / hard boundary (a raw score of about 1/3 on
the dev half of ``tests/data/everyday_prompts.jsonl``; the test half is what BENCHMARKS reports)
at 0.5, the graphs' default threshold. tanh, not a clip at 1, keeps long prompts ranked."""


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

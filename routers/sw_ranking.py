"""Similarity-weighted (SW) ranking, RouteLLM's training-free router.

Every training prompt is turned into battles between every pair of models (from pointwise labels:
the better quality wins, equal quality is a tie - MT-Bench ties stay ties, they count half a win
to each side). For a query, each battle is weighted by ``exp(gamma * (sim - max_sim))`` where
``sim`` is the cosine similarity between the query and the battle's prompt, and a Bradley-Terry
model is fitted to the weighted battles. A model's predicted quality is its mean probability of
beating the other models; for two models that is RouteLLM's win rate of the strong model.

Why it is fast: Bradley-Terry only needs the weighted win counts per model pair, which for a
whole batch of queries is one matrix product ``weights @ outcomes``; the fit itself is a few
dozen vectorised minorise-maximise (Zermelo) steps on an ``(n_queries, M, M)`` array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.routers.embedded import EmbeddingRouter, base_meta, check_training_data

CHUNK = 512


def pair_index(n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column model index of every unordered pair ``a < b``."""
    a, b = np.triu_indices(n_models, k=1)
    return a, b


def pairwise_outcomes(quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Battles from pointwise labels: ``(score_a, valid)``, each ``(n_prompts, n_pairs)``.

    ``score_a`` is 1 when model a did better, 0 when worse, 0.5 on a tie; ``valid`` is 0 where
    either model has no recorded outcome.
    """
    a, b = pair_index(quality.shape[1])
    qa, qb = quality[:, a], quality[:, b]
    valid = np.isfinite(qa) & np.isfinite(qb)
    score = np.where(qa > qb, 1.0, np.where(qa < qb, 0.0, 0.5))
    return np.where(valid, score, 0.0).astype(np.float32), valid.astype(np.float32)


def bradley_terry(
    wins: np.ndarray, games: np.ndarray, n_models: int, prior: float = 1.0, iterations: int = 60
) -> np.ndarray:
    """Batched Bradley-Terry strengths (log scale, mean 0) from pair win counts.

    ``wins`` / ``games``: ``(n, n_pairs)`` weighted wins of model a and games per pair.
    ``prior`` adds that many tied pseudo-games per pair, which keeps strengths finite when a
    model never loses.
    """
    a, b = pair_index(n_models)
    n = wins.shape[0]
    w = np.zeros((n, n_models, n_models))
    w[:, a, b] = wins + prior / 2
    w[:, b, a] = games - wins + prior / 2
    g = w + w.transpose(0, 2, 1)
    total_wins = w.sum(axis=2)
    p = np.ones((n, n_models))
    for _ in range(iterations):
        denom = (g / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        p = total_wins / np.maximum(denom, 1e-12)
        p /= np.exp(np.log(p).mean(axis=1, keepdims=True))
    return np.log(p)


def win_quality(strength: np.ndarray) -> np.ndarray:
    """Mean probability that each model beats each other model, from BT log strengths."""
    m = strength.shape[1]
    diff = strength[:, :, None] - strength[:, None, :]
    prob = 1.0 / (1.0 + np.exp(-diff))
    return (prob.sum(axis=2) - 0.5) / max(m - 1, 1)


class SWRankingRouter(EmbeddingRouter):
    """Bradley-Terry on battles weighted by the query's similarity to each battle's prompt."""

    kind = "sw_ranking"

    def __init__(self, gamma: float = 10.0, prior: float = 1.0, embedder=None):
        super().__init__(embedder)
        if gamma < 0:
            raise InvalidInputError("gamma", f"{gamma} is negative", "a number >= 0")
        if prior <= 0:
            raise InvalidInputError("prior", f"{prior} is not positive", "a number > 0")
        self.gamma = float(gamma)
        self.prior = float(prior)

    def fit(self, data: RoutingDataset) -> SWRankingRouter:
        check_training_data(data)
        self.models_ = list(data.models)
        # rounded as stored (float16) so a reloaded router scores exactly the same
        self.train_embeddings_ = self.embed(data.prompts).astype(np.float16).astype(np.float32)
        self.outcomes_, self.valid_ = pairwise_outcomes(np.asarray(data.quality, float))
        self.meta_ = base_meta(
            data,
            "pairwise battles from pointwise quality (ties = half win)",
            **self._embedding_meta(),
        )
        return self

    def _params(self) -> dict:
        return {"gamma": self.gamma, "prior": self.prior}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "train_embeddings": self.train_embeddings_.astype(np.float16),
            "outcomes": self.outcomes_.astype(np.float16),
            "valid": self.valid_.astype(np.uint8),
        }

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        self.train_embeddings_ = arrays["train_embeddings"].astype(np.float32)
        self.outcomes_ = arrays["outcomes"].astype(np.float32)
        self.valid_ = arrays["valid"].astype(np.float32)

    def quality_from_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        """Predicted quality (mean win probability) for precomputed query embeddings."""
        self._check_fitted()
        out = []
        for start in range(0, len(vectors), CHUNK):
            sim = vectors[start : start + CHUNK] @ self.train_embeddings_.T
            weights = np.exp(self.gamma * (sim - sim.max(axis=1, keepdims=True)))
            # normalise so that the prior's pseudo-games weigh the same for every query
            weights /= weights.sum(axis=1, keepdims=True)
            weights *= min(len(self.train_embeddings_), 100)
            wins = weights @ self.outcomes_
            games = weights @ self.valid_
            strength = bradley_terry(wins, games, len(self.models_), self.prior)
            out.append(win_quality(strength))
        return np.concatenate(out) if out else np.zeros((0, len(self.models_)))

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        return self.quality_from_embeddings(self.embed(prompts))

"""k-nearest-neighbour router: a prompt is as hard as the training prompts most like it.

For each query, the ``k`` training prompts with the highest cosine similarity vote: a model's
predicted quality is the (similarity-weighted) mean of its recorded quality on them, shrunk
towards the model's overall mean by ``prior_weight`` pseudo-neighbours so that a handful of
noisy 0/1 labels does not decide alone. Missing cells (NaN) are skipped per model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import check_min_int, check_non_negative
from routegraph.routers.embedded import EmbeddingRouter, base_meta, check_training_data, nan_mean

CHUNK = 1024  # query rows per similarity block: bounds memory at CHUNK x n_train floats


def top_k_similar(
    queries: np.ndarray, keys: np.ndarray, k: int, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the ``k`` nearest ``keys`` rows for every query row.

    ``exclude_self`` drops the query's own row (``queries`` must then be ``keys``), which gives
    leave-one-out neighbours for honest in-sample features.
    """
    k = min(k, len(keys) - (1 if exclude_self else 0))
    idx = np.empty((len(queries), k), dtype=np.int64)
    sim = np.empty((len(queries), k), dtype=np.float32)
    keys32 = keys.astype(np.float32, copy=False)
    for start in range(0, len(queries), CHUNK):
        block = queries[start : start + CHUNK].astype(np.float32, copy=False) @ keys32.T
        if exclude_self:
            rows = np.arange(block.shape[0])
            block[rows, rows + start] = -np.inf
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        part_sim = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-part_sim, axis=1)
        idx[start : start + CHUNK] = np.take_along_axis(part, order, axis=1)
        sim[start : start + CHUNK] = np.take_along_axis(part_sim, order, axis=1)
    return idx, sim


class KNNRouter(EmbeddingRouter):
    """Mean quality of the ``k`` nearest training prompts, per model."""

    kind = "knn"

    def __init__(
        self, k: int = 25, prior_weight: float = 2.0, weighted: bool = True, embedder=None
    ):
        super().__init__(embedder)
        self.k = check_min_int("k", k, 1)
        self.prior_weight = check_non_negative("prior_weight", prior_weight)
        self.weighted = bool(weighted)

    def fit(self, data: RoutingDataset) -> KNNRouter:
        check_training_data(data)
        self.models_ = list(data.models)
        # rounded as stored (float16) so a reloaded router scores exactly the same
        self.train_embeddings_ = self.embed(data.prompts).astype(np.float16).astype(np.float32)
        self.train_quality_ = np.asarray(data.quality, dtype=np.float32)
        self.prior_ = nan_mean(self.train_quality_, fallback=0.5).astype(np.float32)
        self.meta_ = base_meta(data, "pointwise quality in [0, 1]", **self._embedding_meta())
        return self

    def _params(self) -> dict:
        return {"k": self.k, "prior_weight": self.prior_weight, "weighted": self.weighted}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "train_embeddings": self.train_embeddings_.astype(np.float16),
            "train_quality": self.train_quality_,
            "prior": self.prior_,
        }

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        self.train_embeddings_ = arrays["train_embeddings"].astype(np.float32)
        self.train_quality_ = arrays["train_quality"].astype(np.float32)
        self.prior_ = arrays["prior"].astype(np.float32)

    def quality_from_embeddings(
        self, vectors: np.ndarray, exclude_self: bool = False
    ) -> np.ndarray:
        """Predicted quality for precomputed query embeddings (used by stacked routers)."""
        self._check_fitted()
        idx, sim = top_k_similar(vectors, self.train_embeddings_, self.k, exclude_self)
        labels = self.train_quality_[idx]  # (n, k, M)
        weights = np.maximum(sim, 0.0) if self.weighted else np.ones_like(sim)
        weights = np.repeat(weights[:, :, None], labels.shape[2], axis=2)
        finite = np.isfinite(labels)
        w = np.where(finite, weights, 0.0)
        num = (np.where(finite, labels, 0.0) * w).sum(axis=1)
        den = w.sum(axis=1)
        # prior pseudo-neighbours carry the mean neighbour weight each
        mean_w = np.where(finite.any(axis=1), den / np.maximum(finite.sum(axis=1), 1), 1.0)
        prior_w = self.prior_weight * mean_w
        return ((num + prior_w * self.prior_[None, :]) / np.maximum(den + prior_w, 1e-9)).clip(0, 1)

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        return self.quality_from_embeddings(self.embed(prompts))

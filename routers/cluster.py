"""Cluster router: prompts fall into learned clusters, each model is a vector of cluster scores.

Why (UniRoute, "Universal Model Routing for Efficient LLM Inference", 2025): a router that learns
one weight per model per prompt feature must be retrained, with every model labelled on every
training prompt, to take a new model. Here a model is represented only by its mean quality in
each of ``k`` clusters of prompt space (k-means on the training prompts' embeddings, shrunk
towards the model's overall mean by ``prior_weight`` pseudo-prompts), so a model that joins the
pool needs just its outcomes on a small probe set with gold answers: :meth:`add_model` places
the probe prompts in the clusters and fills the model's column, without touching the others.
Assignment is soft (a softmax over cosine similarity to the centroids, ``temperature``), so a
prompt between two clusters gets a blend and a handful of probe prompts per cluster is enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError, check_min_int, check_non_negative
from routegraph.routers.category import softmax
from routegraph.routers.embedded import EmbeddingRouter, base_meta, check_training_data, nan_mean


def cluster_table(
    membership: np.ndarray, quality: np.ndarray, prior: np.ndarray, prior_weight: float
) -> np.ndarray:
    """Mean quality per (cluster, model) under soft ``membership`` (n, k), NaN cells skipped,
    shrunk towards ``prior`` (one value per model, or a (k, models) table) by ``prior_weight``
    pseudo-prompts."""
    finite = np.isfinite(quality)
    sums = membership.T @ np.where(finite, quality, 0.0)
    counts = membership.T @ finite.astype(float)
    target = prior if prior.ndim == 2 else prior[None, :]
    return (sums + prior_weight * target) / (counts + prior_weight)


def pool_prior(predicted: np.ndarray, outcomes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """A new model's quality per cluster as a mix of the pool's: ridge regression of its probe
    ``outcomes`` on the pool's ``predicted`` quality for the same probes, applied to the pool's
    cluster ``table``. Models are correlated (a new coder model does well where the old ones
    do), so a hundred outcomes fit these few weights far better than twenty cluster means."""
    from sklearn.linear_model import Ridge

    fit = Ridge(alpha=1.0).fit(predicted, outcomes)
    return np.clip(table @ fit.coef_ + fit.intercept_, 0.0, 1.0)


PROFILE_PRIORS = ("pool", "mean")
PROFILE_PRIOR_WEIGHT = 100.0
"""Pseudo-prompts per cluster of a profiled model's prior (the pool mix): with ~100 probes over
20 clusters, a cluster's own few outcomes move its value by ~5%. A column built from a few
outcomes per cluster is noisy, and a router that takes the argmax over models picks exactly the
clusters where that noise flatters the new model (chosen on seeds 0-1 of the leave-one-out
benchmark, then measured on seeds 0-4: BENCHMARKS.md)."""


class ClusterRouter(EmbeddingRouter):
    """Quality per model = the prompt's cluster membership times each model's cluster scores."""

    kind = "cluster"

    def __init__(
        self,
        k: int = 20,
        temperature: float = 0.02,
        prior_weight: float = 2.0,
        seed: int = 0,
        embedder=None,
    ):
        super().__init__(embedder)
        self.k = check_min_int("k", k, 1)
        self.temperature = float(temperature)
        if not self.temperature > 0:
            raise InvalidInputError("temperature", f"{temperature!r} is not > 0", "a number > 0")
        self.prior_weight = check_non_negative("prior_weight", prior_weight)
        self.seed = int(seed)

    def fit(self, data: RoutingDataset) -> ClusterRouter:
        from sklearn.cluster import KMeans

        check_training_data(data, min_prompts=self.k)
        vectors = self.embed(data.prompts)
        km = KMeans(n_clusters=self.k, n_init=4, random_state=self.seed).fit(vectors)
        centroids = km.cluster_centers_
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self.centroids_ = (centroids / np.maximum(norms, 1e-9)).astype(np.float32)
        quality = np.asarray(data.quality, dtype=float)
        self.prior_ = nan_mean(quality, fallback=0.5)
        self.table_ = cluster_table(
            self.membership(vectors), quality, self.prior_, self.prior_weight
        )
        self.models_ = list(data.models)
        self.meta_ = base_meta(
            data, "pointwise quality in [0, 1]", profiles={}, **self._embedding_meta()
        )
        return self

    def membership(self, vectors: np.ndarray) -> np.ndarray:
        """Soft cluster membership of L2-normalised ``vectors``: shape ``(n, k)``, rows sum to 1."""
        return softmax((vectors.astype(np.float32) @ self.centroids_.T) / self.temperature)

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        return (self.membership(self.embed(prompts)) @ self.table_).clip(0.0, 1.0)

    def add_model(
        self,
        name: str,
        prompts: list[str],
        quality: np.ndarray | list[float],
        source: str = "",
        replace: bool = False,
        prior: str = "pool",
        prior_weight: float | None = None,
    ) -> dict[str, Any]:
        """Add ``name`` to the pool from its outcomes ``quality`` (in [0, 1]) on probe
        ``prompts``; the other models' columns are untouched. ``prior``: what each cluster's
        value is shrunk towards - ``"pool"`` (the ridge mix of the pool's columns that best
        predicts the probe outcomes, :func:`pool_prior`) or ``"mean"`` (the model's mean probe
        quality) - by ``prior_weight`` pseudo-prompts (default :data:`PROFILE_PRIOR_WEIGHT`).
        Returns the profile record kept in ``meta_["profiles"]`` (probe count, mean quality,
        per-cluster evidence)."""
        self._check_fitted()
        scores = np.asarray(quality, dtype=float).reshape(-1)
        if len(prompts) != scores.size:
            raise InvalidInputError(
                "quality", f"has {scores.size} values for {len(prompts)} prompts", "one per prompt"
            )
        finite = np.isfinite(scores)
        if not finite.any():
            raise InvalidInputError("quality", "has no finite outcome", "scores in [0, 1]")
        if ((scores[finite] < 0) | (scores[finite] > 1)).any():
            raise InvalidInputError("quality", "has values outside [0, 1]", "scores in [0, 1]")
        if name in self.models_ and not replace:
            raise InvalidInputError(
                "model", f"{name!r} is already in the router's pool", "a new model name"
            )
        membership = self.membership(self.embed(list(prompts)))[finite]
        scores = scores[finite]
        if prior not in PROFILE_PRIORS:
            raise InvalidInputError("prior", f"unknown prior {prior!r}", PROFILE_PRIORS)
        weight = PROFILE_PRIOR_WEIGHT if prior_weight is None else prior_weight
        pool = [j for j, m in enumerate(self.models_) if m != name]
        if prior == "pool" and pool:
            table = self.table_[:, pool]
            target = pool_prior(membership @ table, scores, table)[:, None]
        else:
            target = np.array([scores.mean()])
        column = cluster_table(membership, scores[:, None], target, weight)[:, 0]
        mean = float(scores.mean())
        if name in self.models_:
            self.table_[:, self.models_.index(name)] = column
            self.prior_[self.models_.index(name)] = mean
        else:
            self.table_ = np.hstack([self.table_, column[:, None]])
            self.prior_ = np.append(self.prior_, mean)
            self.models_.append(name)
        record = {
            "probe_prompts": int(finite.sum()),
            "mean_quality": mean,
            "cluster_evidence": [round(float(v), 3) for v in membership.sum(axis=0)],
            "prior": prior,
            "source": source,
        }
        self.meta_.setdefault("profiles", {})[name] = record
        self.meta_.setdefault("train_mean_quality", {})[name] = mean
        return record

    def _params(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "temperature": self.temperature,
            "prior_weight": self.prior_weight,
            "seed": self.seed,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self.centroids_, "table": self.table_, "prior": self.prior_}

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        self.centroids_ = arrays["centroids"].astype(np.float32)
        self.table_ = arrays["table"].astype(float)
        self.prior_ = arrays["prior"].astype(float)

"""Routers that combine several weak signals: category priors, neighbours, embeddings, length.

Why: no single signal is strong on RouteLLM's data. On MMLU the subject explains much of where
GPT-4 beats Mixtral, and neighbours refine it; on GSM8K the prompt's length and number of
quantities matter as much as its topic. Two routers here:

* :class:`CategoryKNNRouter` - the kNN estimate shrunk towards the (predicted) category's mean
  instead of the global mean: cheap, no training beyond storing prompts.
* :class:`StackedRouter` - per-model ridge regression on [embedding, prompt features, category
  prior, kNN estimate]. The kNN and category inputs of training rows are computed honestly
  (leave-one-out neighbours, out-of-fold category probabilities), so the regression learns how
  much to trust them on unseen prompts. Closed-form numpy; weights are plain arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError, check_min_int, check_non_negative
from routegraph.routers.category import CategoryClassifier, category_table
from routegraph.routers.embedded import EmbeddingRouter, base_meta, check_training_data, nan_mean
from routegraph.routers.features import FEATURE_NAMES, prompt_features
from routegraph.routers.knn import top_k_similar
from routegraph.routers.last_batch import forget_batches, remember_last_batch

FOLDS = 5


def _labels(data: RoutingDataset) -> tuple[list[str], np.ndarray] | None:
    if not data.categories or len(set(data.categories)) < 2:
        return None
    names = sorted(set(map(str, data.categories)))
    index = {c: i for i, c in enumerate(names)}
    return names, np.array([index[str(c)] for c in data.categories])


def _out_of_fold_proba(
    vectors: np.ndarray, labels: np.ndarray, names: list[str], c: float, seed: int
) -> np.ndarray:
    """Category probabilities of each training row from a classifier that did not see it."""
    order = np.random.default_rng(seed).permutation(len(vectors))
    proba = np.zeros((len(vectors), len(names)))
    for fold in np.array_split(order, FOLDS):
        rest = np.setdiff1d(order, fold)
        if len(set(labels[rest])) < 2:
            proba[fold, labels[fold]] = 1.0
            continue
        clf = CategoryClassifier.fit(vectors[rest], labels[rest], names, c, seed)
        proba[fold] = clf.proba(vectors[fold])
    return proba


def _knn_mean(
    idx: np.ndarray, sim: np.ndarray, quality: np.ndarray, prior: np.ndarray, prior_weight: float
) -> np.ndarray:
    """Similarity-weighted neighbour mean per model, shrunk towards per-row ``prior``."""
    labels = quality[idx]  # (n, k, M)
    finite = np.isfinite(labels)
    w = np.where(finite, np.maximum(sim, 0.0)[:, :, None], 0.0)
    num = (np.where(finite, labels, 0.0) * w).sum(axis=1)
    den = w.sum(axis=1)
    mean_w = den / np.maximum(finite.sum(axis=1), 1)
    pw = prior_weight * np.where(mean_w > 0, mean_w, 1.0)
    return (num + pw * prior) / np.maximum(den + pw, 1e-9)


class CategoryKNNRouter(EmbeddingRouter):
    """kNN quality shrunk towards the predicted category's mean quality (not the global one)."""

    kind = "category_knn"

    def __init__(
        self, k: int = 50, prior_weight: float = 10.0, c: float = 10.0, embedder=None
    ) -> None:
        super().__init__(embedder)
        self.k = check_min_int("k", k, 1)
        self.prior_weight = check_non_negative("prior_weight", prior_weight)
        self.c = float(c)

    def _params(self) -> dict:
        return {"k": self.k, "prior_weight": self.prior_weight, "c": self.c}

    def fit(self, data: RoutingDataset) -> CategoryKNNRouter:
        check_training_data(data)
        self.models_ = list(data.models)
        vectors = self.embed(data.prompts)
        quality = np.asarray(data.quality, dtype=float)
        labels = _labels(data)
        if labels is None:
            names, lab = ["all"], np.zeros(len(data), dtype=int)
        else:
            names, lab = labels
        self.categories_ = names
        self.table_ = category_table(quality, lab, len(names), 5.0)
        self.classifier_ = CategoryClassifier.fit(vectors, lab, names, self.c)
        self.train_embeddings_ = vectors.astype(np.float16).astype(np.float32)  # as stored
        self.train_quality_ = quality.astype(np.float32)
        self.meta_ = base_meta(
            data,
            "pointwise quality; kNN mean shrunk to the predicted category mean",
            categories=names,
            **self._embedding_meta(),
        )
        return self

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "train_embeddings": self.train_embeddings_.astype(np.float16),
            "train_quality": self.train_quality_,
            "table": self.table_.astype(np.float32),
            "coef": self.classifier_.coef,
            "intercept": self.classifier_.intercept,
        }

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        self.categories_ = list(self.meta_.get("categories", []))
        self.train_embeddings_ = arrays["train_embeddings"].astype(np.float32)
        self.train_quality_ = arrays["train_quality"].astype(np.float32)
        self.table_ = arrays["table"].astype(float)
        self.classifier_ = CategoryClassifier(self.categories_, arrays["coef"], arrays["intercept"])

    def quality_from_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        prior = self.classifier_.proba(vectors) @ self.table_
        idx, sim = top_k_similar(vectors, self.train_embeddings_, self.k)
        return _knn_mean(idx, sim, self.train_quality_, prior, self.prior_weight).clip(0, 1)

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        return self.quality_from_embeddings(self.embed(prompts))


class StackedRouter(EmbeddingRouter):
    """Per-model ridge regression on embedding + prompt features + category prior + kNN."""

    kind = "stacked"

    def __init__(
        self,
        alpha: float = 10.0,
        k: int = 50,
        feature_scale: float = 0.3,
        signal_scale: float = 3.0,
        c: float = 10.0,
        seed: int = 0,
        knn_dims: int = 64,
        embedder=None,
    ) -> None:
        super().__init__(embedder)
        for name, value in (
            ("alpha", alpha),
            ("feature_scale", feature_scale),
            ("signal_scale", signal_scale),
            ("c", c),
        ):
            if value < 0 or (name in ("alpha", "c") and value == 0):
                raise InvalidInputError(name, f"{value} is out of range", "a number > 0")
        if int(k) < 1:
            raise InvalidInputError("k", f"{k} is below 1", "an integer >= 1")
        self.alpha = float(alpha)
        self.k = int(k)
        self.feature_scale = float(feature_scale)
        self.signal_scale = float(signal_scale)
        self.c = float(c)
        self.seed = int(seed)
        self.knn_dims = int(knn_dims)
        if self.knn_dims < 1:
            raise InvalidInputError("knn_dims", f"{knn_dims} is below 1", "an integer >= 1")

    def _params(self) -> dict:
        return {
            "alpha": self.alpha,
            "k": self.k,
            "feature_scale": self.feature_scale,
            "signal_scale": self.signal_scale,
            "c": self.c,
            "seed": self.seed,
            "knn_dims": self.knn_dims,
        }

    # -- features -----------------------------------------------------------------------------
    def _design(
        self, vectors: np.ndarray, feats: np.ndarray, cat_prior: np.ndarray, knn: np.ndarray
    ) -> np.ndarray:
        z = (feats - self.feature_mean_) / self.feature_std_
        # signals are centred per model so the intercept stays the model's mean quality
        return np.hstack(
            [
                vectors,
                self.feature_scale * z,
                self.signal_scale * (cat_prior - self.overall_),
                self.signal_scale * (knn - self.overall_),
                np.ones((len(vectors), 1)),
            ]
        )

    def fit(self, data: RoutingDataset) -> StackedRouter:
        check_training_data(data, min_prompts=FOLDS)
        forget_batches(self)
        self.models_ = list(data.models)
        vectors = self.embed(data.prompts).astype(np.float64)
        quality = np.asarray(data.quality, dtype=float)
        feats = prompt_features(data.prompts)
        self.feature_mean_ = feats.mean(axis=0)
        self.feature_std_ = np.where(feats.std(axis=0) > 0, feats.std(axis=0), 1.0)
        self.overall_ = nan_mean(quality, fallback=0.5)
        labels = _labels(data)
        names, lab = labels if labels else (["all"], np.zeros(len(data), dtype=int))
        self.categories_ = names
        self.table_ = category_table(quality, lab, len(names), 5.0)
        self.classifier_ = CategoryClassifier.fit(vectors, lab, names, self.c, self.seed)
        proba = (
            _out_of_fold_proba(vectors, lab, names, self.c, self.seed)
            if labels
            else np.ones((len(data), 1))
        )
        cat_prior = proba @ self.table_
        self.pca_mean_ = vectors.mean(axis=0)
        _, _, vt = np.linalg.svd(vectors - self.pca_mean_, full_matrices=False)
        self.pca_components_ = vt[: self.knn_dims]
        keys = self._knn_keys(vectors)
        idx, sim = top_k_similar(keys, keys, self.k, exclude_self=True)
        knn = _knn_mean(idx, sim, quality, cat_prior, 10.0)
        design = self._design(vectors, feats, cat_prior, knn)
        self.weights_ = self._ridge(design, quality)
        self.train_keys_ = keys.astype(np.float16).astype(np.float32)  # as stored
        self.train_quality_ = quality.astype(np.float32)
        self.meta_ = base_meta(
            data,
            "pointwise quality; ridge on embedding, prompt features, out-of-fold category "
            "prior and leave-one-out kNN",
            categories=names,
            features=list(FEATURE_NAMES),
            **self._embedding_meta(),
        )
        return self

    def _knn_keys(self, vectors: np.ndarray) -> np.ndarray:
        """Neighbour search space: the first ``knn_dims`` principal components, re-normalised
        (64 float16 per training prompt in the artifact instead of 384)."""
        keys = (vectors - self.pca_mean_) @ self.pca_components_.T
        norms = np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
        return (keys / norms).astype(np.float32)

    def _ridge(self, design: np.ndarray, quality: np.ndarray) -> np.ndarray:
        d = design.shape[1]
        penalty = self.alpha * np.eye(d)
        penalty[-1, -1] = 0.0  # do not shrink the intercept
        weights = np.zeros((d, quality.shape[1]))
        for j in range(quality.shape[1]):
            rows = np.isfinite(quality[:, j])
            a = design[rows]
            weights[:, j] = np.linalg.solve(a.T @ a + penalty, a.T @ quality[rows, j])
        return weights

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "weights": self.weights_,
            "feature_mean": self.feature_mean_,
            "feature_std": self.feature_std_,
            "overall": self.overall_,
            "table": self.table_,
            "coef": self.classifier_.coef,
            "intercept": self.classifier_.intercept,
            "train_keys": self.train_keys_.astype(np.float16),
            "pca_mean": self.pca_mean_,
            "pca_components": self.pca_components_,
            "train_quality": self.train_quality_,
        }

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        self.categories_ = list(self.meta_.get("categories", []))
        self.weights_ = arrays["weights"].astype(float)
        self.feature_mean_ = arrays["feature_mean"]
        self.feature_std_ = arrays["feature_std"]
        self.overall_ = arrays["overall"]
        self.table_ = arrays["table"]
        self.classifier_ = CategoryClassifier(self.categories_, arrays["coef"], arrays["intercept"])
        self.train_keys_ = arrays["train_keys"].astype(np.float32)
        self.pca_mean_ = arrays["pca_mean"]
        self.pca_components_ = arrays["pca_components"]
        self.train_quality_ = arrays["train_quality"].astype(np.float32)

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        return self._linear(prompts).clip(0.0, 1.0)

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        """``0.5 + 0.5 * (q_strong - q_weak)`` on the unclipped predictions (no ties at 0/1)."""
        s, w = self.strong_weak_columns(strong, weak)
        q = self._linear(prompts)
        return np.clip(0.5 + 0.5 * (q[:, s] - q[:, w]), 0.0, 1.0)

    @remember_last_batch
    def _linear(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        vectors = self.embed(prompts).astype(np.float64)
        cat_prior = self.classifier_.proba(vectors) @ self.table_
        idx, sim = top_k_similar(self._knn_keys(vectors), self.train_keys_, self.k)
        knn = _knn_mean(idx, sim, self.train_quality_, cat_prior, 10.0)
        design = self._design(vectors, prompt_features(prompts), cat_prior, knn)
        return design @ self.weights_

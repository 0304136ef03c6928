"""Gradient-boosted trees over every cheap signal: the strongest classic router here.

Why trees: on RouteLLM's MMLU the useful signals interact - a negated stem matters in law, not in
marketing; the subject prior matters less when the neighbours disagree - and a linear model
(:class:`routegraph.routers.stacked.StackedRouter`) cannot express that. Inputs per prompt:

* the embedding reduced to ``n_components`` principal components (fitted in numpy);
* hand-made prompt features (:mod:`routegraph.routers.features`);
* per-model category prior (out-of-fold for training rows) and kNN estimate (leave-one-out for
  training rows), as in the stacked router.

scikit-learn's ``HistGradientBoostingRegressor`` fits one ensemble per model (predicted quality)
and, when the data names a strong and a weak model, one more on their quality gap (used for
``strong_probability``, RouteLLM's P(strong needed)). The fitted trees are exported to plain
arrays (feature, threshold, children, leaf value) and evaluated in numpy, so artifacts stay JSON +
npz and loading needs no pickle (:mod:`routegraph.core.trees`, shared with the learned verifier).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.core.trees import TREE_ARRAYS, export_trees, predict_trees
from routegraph.routers.category import CategoryClassifier, category_table
from routegraph.routers.embedded import EmbeddingRouter, base_meta, check_training_data
from routegraph.routers.features import FEATURE_NAMES, prompt_features
from routegraph.routers.knn import top_k_similar
from routegraph.routers.last_batch import forget_batches, remember_last_batch
from routegraph.routers.stacked import _knn_mean, _labels, _out_of_fold_proba


class BoostedRouter(EmbeddingRouter):
    """Boosted trees on PCA(embedding), prompt features, category prior and kNN estimate."""

    kind = "boosted"

    def __init__(
        self,
        n_components: int = 32,
        knn_dims: int = 64,
        k: int = 50,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_samples_leaf: int = 40,
        c: float = 10.0,
        folds: int = 3,
        seed: int = 0,
        embedder=None,
    ) -> None:
        super().__init__(embedder)
        for name, value in (
            ("n_components", n_components),
            ("knn_dims", knn_dims),
            ("k", k),
            ("max_iter", max_iter),
            ("max_depth", max_depth),
            ("min_samples_leaf", min_samples_leaf),
            ("folds", folds - 1),
        ):
            if int(value) < 1:
                raise InvalidInputError(
                    name, f"{value} is too small", "a positive integer (folds >= 2)"
                )
        if not 0 < learning_rate <= 1:
            raise InvalidInputError(
                "learning_rate", f"{learning_rate} is outside (0, 1]", "a number in (0, 1]"
            )
        self.n_components = int(n_components)
        self.knn_dims = int(knn_dims)
        self.k = int(k)
        self.max_iter = int(max_iter)
        self.learning_rate = float(learning_rate)
        self.max_depth = int(max_depth)
        self.min_samples_leaf = int(min_samples_leaf)
        self.c = float(c)
        self.folds = int(folds)
        self.seed = int(seed)

    def _params(self) -> dict:
        return {
            "n_components": self.n_components,
            "knn_dims": self.knn_dims,
            "k": self.k,
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "c": self.c,
            "folds": self.folds,
            "seed": self.seed,
        }

    # -- features -----------------------------------------------------------------------------
    def _design(
        self, vectors: np.ndarray, prompts: list[str], cat_prior: np.ndarray, knn: np.ndarray
    ) -> np.ndarray:
        pcs = (vectors - self.pca_mean_) @ self.pca_components_[: self.n_components].T
        return np.hstack([pcs, prompt_features(prompts), cat_prior, knn])

    def _knn_keys(self, vectors: np.ndarray) -> np.ndarray:
        """Neighbour search space: the first ``knn_dims`` principal components, re-normalised
        (keeps the artifact small: 64 float16 per training prompt instead of 384)."""
        keys = (vectors - self.pca_mean_) @ self.pca_components_[: self.knn_dims].T
        norms = np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
        return (keys / norms).astype(np.float32)

    @remember_last_batch
    def _query_design(self, prompts: list[str]) -> np.ndarray:
        vectors = self.embed(prompts).astype(np.float64)
        cat_prior = self.classifier_.proba(vectors) @ self.table_
        idx, sim = top_k_similar(self._knn_keys(vectors), self.train_keys_, self.k)
        knn = _knn_mean(idx, sim, self.train_quality_, cat_prior, 10.0)
        return self._design(vectors, prompts, cat_prior, knn)

    def fit(self, data: RoutingDataset) -> BoostedRouter:
        check_training_data(data, min_prompts=max(self.folds, 2 * self.min_samples_leaf))
        forget_batches(self)
        from sklearn import __version__ as sklearn_version
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.models_ = list(data.models)
        vectors = self.embed(data.prompts).astype(np.float64)
        quality = np.asarray(data.quality, dtype=float)
        self.pca_mean_ = vectors.mean(axis=0)
        _, _, vt = np.linalg.svd(vectors - self.pca_mean_, full_matrices=False)
        self.pca_components_ = vt[: max(self.n_components, self.knn_dims)]
        self.train_keys_ = self._knn_keys(vectors)
        labels = _labels(data)
        names, lab = labels if labels else (["all"], np.zeros(len(data), dtype=int))
        self.categories_ = names
        self.table_ = category_table(quality, lab, len(names), 5.0)
        self.classifier_ = CategoryClassifier.fit(vectors, lab, names, self.c, self.seed)
        if labels:
            import routegraph.routers.stacked as stacked

            folds, stacked.FOLDS = stacked.FOLDS, self.folds
            try:
                proba = _out_of_fold_proba(vectors, lab, names, self.c, self.seed)
            finally:
                stacked.FOLDS = folds
        else:
            proba = np.ones((len(data), 1))
        cat_prior = proba @ self.table_
        idx, sim = top_k_similar(self.train_keys_, self.train_keys_, self.k, exclude_self=True)
        knn = _knn_mean(idx, sim, quality, cat_prior, 10.0)
        design = self._design(vectors, data.prompts, cat_prior, knn)

        def boost(target: np.ndarray) -> dict[str, np.ndarray]:
            rows = np.isfinite(target)
            model = HistGradientBoostingRegressor(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_depth=self.max_depth,
                min_samples_leaf=self.min_samples_leaf,
                early_stopping=False,
                random_state=self.seed,
            ).fit(design[rows], target[rows])
            return export_trees(model)

        self.trees_ = [boost(quality[:, j]) for j in range(quality.shape[1])]
        self.meta_ = base_meta(
            data,
            "pointwise quality per model + strong-weak quality gap; boosted trees on PCA "
            "embedding, prompt features, out-of-fold category prior, leave-one-out kNN",
            categories=names,
            features=[f"pc{i}" for i in range(len(self.pca_components_))]
            + list(FEATURE_NAMES)
            + [f"category_prior:{m}" for m in self.models_]
            + [f"knn:{m}" for m in self.models_],
            sklearn_version=sklearn_version,
            **self._embedding_meta(),
        )
        s, w = (
            self.models_.index(self.meta_["strong_model"]),
            self.models_.index(self.meta_["weak_model"]),
        )
        self.gap_pair_ = (s, w)
        self.gap_trees_ = boost(quality[:, s] - quality[:, w]) if s != w else None
        self.train_quality_ = quality.astype(np.float32)
        # stored as float16: use the same rounded keys now so a reloaded router scores the same
        self.train_keys_ = self.train_keys_.astype(np.float16).astype(np.float32)
        return self

    # -- persistence --------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "pca_mean": self.pca_mean_,
            "pca_components": self.pca_components_,
            "table": self.table_,
            "coef": self.classifier_.coef,
            "intercept": self.classifier_.intercept,
            "train_keys": self.train_keys_.astype(np.float16),
            "train_quality": self.train_quality_,
            "gap_pair": np.asarray(self.gap_pair_, dtype=np.int32),
        }
        groups = [(f"model{j}", t) for j, t in enumerate(self.trees_)]
        if self.gap_trees_ is not None:
            groups.append(("gap", self.gap_trees_))
        for prefix, trees in groups:
            for field, values in trees.items():
                arrays[f"{prefix}_{field}"] = values
        return arrays

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        def trees(prefix: str) -> dict[str, np.ndarray]:
            return {f: arrays[f"{prefix}_{f}"] for f in TREE_ARRAYS}

        self.categories_ = list(self.meta_.get("categories", []))
        self.pca_mean_ = arrays["pca_mean"]
        self.pca_components_ = arrays["pca_components"].astype(np.float64)
        self.table_ = arrays["table"]
        self.classifier_ = CategoryClassifier(self.categories_, arrays["coef"], arrays["intercept"])
        self.train_keys_ = arrays["train_keys"].astype(np.float32)
        self.train_quality_ = arrays["train_quality"].astype(np.float32)
        self.gap_pair_ = cast(tuple[int, int], tuple(int(i) for i in arrays["gap_pair"]))
        self.trees_ = [trees(f"model{j}") for j in range(len(self.models_))]
        self.gap_trees_ = trees("gap") if "gap_roots" in arrays else None

    # -- prediction ---------------------------------------------------------------------------
    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        design = self._query_design(prompts)
        return np.stack([predict_trees(t, design) for t in self.trees_], axis=1).clip(0, 1)

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        """From the dedicated gap model when (strong, weak) is the trained pair."""
        s, w = self.strong_weak_columns(strong, weak)
        if self.gap_trees_ is None or (s, w) != tuple(self.gap_pair_):
            return super().strong_probability(prompts, strong, weak)
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros(0)
        gap = predict_trees(self.gap_trees_, self._query_design(prompts))
        return 1.0 / (1.0 + np.exp(-4.0 * gap))  # monotone in the gap, no ties from clipping

"""Per-category specialist router: send each prompt to the model that is best at its category.

Categories (MMLU subjects, MMLU-Pro disciplines, MT-Bench kinds) carry most of the "which model
is good at what" signal in multi-model data: mathstral beats Llama-3.1-8B on math but not on
law. The router learns each model's mean quality per category (shrunk towards its overall mean
by ``prior_weight`` pseudo-prompts, so small categories do not swing), and - because a routed
prompt arrives without a category - a multinomial logistic regression on prompt embeddings that
predicts the category. Predicted quality is the category-probability-weighted mix of category
means, so an ambiguous prompt gets a blend instead of a coin flip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.routers.embedded import EmbeddingRouter, base_meta, check_training_data, nan_mean


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def category_table(
    quality: np.ndarray, labels: np.ndarray, n_categories: int, prior_weight: float
) -> np.ndarray:
    """Mean quality per (category, model), shrunk towards each model's overall mean."""
    overall = nan_mean(quality, fallback=0.5)
    finite = np.isfinite(quality)
    values = np.where(finite, quality, 0.0)
    sums = np.zeros((n_categories, quality.shape[1]))
    counts = np.zeros_like(sums)
    np.add.at(sums, labels, values)
    np.add.at(counts, labels, finite.astype(float))
    return (sums + prior_weight * overall) / (counts + prior_weight)


class CategoryClassifier:
    """Multinomial logistic regression from embeddings to category, stored as plain arrays."""

    def __init__(self, categories: list[str], coef: np.ndarray, intercept: np.ndarray):
        self.categories = categories
        self.coef = coef
        self.intercept = intercept

    @classmethod
    def fit(
        cls,
        vectors: np.ndarray,
        labels: np.ndarray,
        categories: list[str],
        c: float = 10.0,
        seed: int = 0,
    ) -> CategoryClassifier:
        if len(categories) == 1:
            return cls(
                categories, np.zeros((1, vectors.shape[1]), np.float32), np.zeros(1, np.float32)
            )
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        model = LogisticRegression(C=c, max_iter=300, random_state=seed)
        with threadpool_limits(1):  # BLAS threads fight on a busy 2-core machine
            model.fit(vectors, labels)
        coef = np.zeros((len(categories), vectors.shape[1]), np.float32)
        intercept = np.full(len(categories), -1e4, np.float32)  # unseen classes: never
        classes = model.classes_.astype(int)
        if len(classes) == 2:  # sklearn stores one row for a binary problem
            coef[classes[1]], intercept[classes[1]] = model.coef_[0], model.intercept_[0]
            coef[classes[0]], intercept[classes[0]] = 0.0, 0.0
        else:
            coef[classes], intercept[classes] = model.coef_, model.intercept_
        return cls(categories, coef, intercept)

    def proba(self, vectors: np.ndarray) -> np.ndarray:
        return softmax(vectors @ self.coef.T + self.intercept)


class CategoryRouter(EmbeddingRouter):
    """Best model per category; the category is predicted from the prompt's embedding."""

    kind = "category"

    def __init__(self, prior_weight: float = 5.0, c: float = 10.0, embedder=None):
        super().__init__(embedder)
        if prior_weight < 0:
            raise InvalidInputError("prior_weight", f"{prior_weight} is negative", "a number >= 0")
        if c <= 0:
            raise InvalidInputError("c", f"{c} is not positive", "a number > 0")
        self.prior_weight = float(prior_weight)
        self.c = float(c)

    def fit(self, data: RoutingDataset) -> CategoryRouter:
        check_training_data(data)
        if not data.categories:
            raise InvalidInputError(
                "data.categories",
                "the dataset has no categories",
                "a dataset with a category per prompt (e.g. mmlu, mmlu_pro)",
            )
        self.models_ = list(data.models)
        self.categories_ = sorted(set(map(str, data.categories)))
        labels = np.array([self.categories_.index(str(c)) for c in data.categories])
        quality = np.asarray(data.quality, dtype=float)
        self.table_ = category_table(quality, labels, len(self.categories_), self.prior_weight)
        vectors = self.embed(data.prompts)
        self.classifier_ = CategoryClassifier.fit(vectors, labels, self.categories_, self.c)
        self.meta_ = base_meta(
            data,
            "pointwise quality averaged per category",
            categories=self.categories_,
            **self._embedding_meta(),
        )
        return self

    def _params(self) -> dict:
        return {"prior_weight": self.prior_weight, "c": self.c}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "table": self.table_.astype(np.float32),
            "coef": self.classifier_.coef,
            "intercept": self.classifier_.intercept,
        }

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        self.categories_ = list(self.meta_.get("categories", []))
        self.table_ = arrays["table"].astype(float)
        if len(self.categories_) != len(self.table_):
            from routegraph.core.errors import ArtifactError

            raise ArtifactError(
                f"{directory}: {len(self.categories_)} categories in router.json "
                f"but {len(self.table_)} rows in the quality table"
            )
        self.classifier_ = CategoryClassifier(self.categories_, arrays["coef"], arrays["intercept"])

    def category_proba(self, prompts: list[str]) -> np.ndarray:
        """P(category | prompt), columns in ``self.categories_`` order."""
        self._check_fitted()
        return self.classifier_.proba(self.embed(prompts))

    def predict_category(self, prompts: list[str]) -> list[str]:
        """The most likely category of each prompt."""
        return [self.categories_[i] for i in self.category_proba(prompts).argmax(axis=1)]

    def quality_from_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.classifier_.proba(vectors) @ self.table_

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        self._check_fitted()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        return self.quality_from_embeddings(self.embed(prompts))

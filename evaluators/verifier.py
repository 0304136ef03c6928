"""A learned verifier: P(answer is good | query, answer), FrugalGPT-style, in a few milliseconds.

Why small trees over hand-made features rather than a second language model: the verifier runs
on every weak answer of a cascade, so it must cost next to nothing. The features
(:mod:`routegraph.evaluators.answer_features`) re-check the answer's own arithmetic and read its
shape; the scorer is a gradient-boosted tree ensemble fitted with scikit-learn, exported to plain
arrays by :mod:`routegraph.core.trees` and stored in the same artifact format as the routers
(:mod:`routegraph.core.artifacts`: ``verifier.json`` + ``arrays.npz``), so loading never
unpickles anything and prediction is a few numpy lookups. ``LearnedVerifier.default()`` loads the
artifact shipped in ``routegraph/artifacts/verifier/default`` (reproduce with
``scripts/train_default_verifier.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.artifacts import read_artifact, write_artifact
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.core.paths import artifacts_dir
from routegraph.core.trees import check_tree_arrays, export_trees, predict_trees
from routegraph.evaluators.answer_features import FEATURE_NAMES, feature_matrix

ARTIFACT_META = "verifier.json"
KIND = "learned_verifier"
FORMAT_VERSION = 2
"""2: trees in :mod:`routegraph.core.trees`' layout inside ``arrays.npz``."""


class LearnedVerifier:
    """P(answer is good | query, answer) from arithmetic checks and answer-shape features.

    Hyper-parameters go to the constructor (scikit-learn style); :meth:`fit` learns from
    recorded answers and their 0/1 correctness and sets ``trees_`` and ``meta_``.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        subsample: float = 0.8,
        seed: int = 0,
    ):
        for name, value in (("n_estimators", n_estimators), ("max_depth", max_depth)):
            if int(value) < 1:
                raise InvalidInputError(name, f"must be >= 1, got {value}", "a positive integer")
        if not 0.0 < learning_rate <= 1.0:
            raise InvalidInputError("learning_rate", f"got {learning_rate}", "a float in (0, 1]")
        if not 0.0 < subsample <= 1.0:
            raise InvalidInputError("subsample", f"got {subsample}", "a float in (0, 1]")
        self.n_estimators = int(n_estimators)
        self.learning_rate = float(learning_rate)
        self.max_depth = int(max_depth)
        self.subsample = float(subsample)
        self.seed = int(seed)
        self.trees_: dict[str, np.ndarray] | None = None
        self.meta_: dict[str, Any] = {}

    def _params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "subsample": self.subsample,
            "seed": self.seed,
        }

    def fit(
        self,
        queries: Sequence[str],
        answers: Sequence[str],
        labels: Sequence[float] | np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> LearnedVerifier:
        """Learn from answers and whether each was good (``labels`` 0/1 or booleans)."""
        from sklearn.ensemble import GradientBoostingClassifier

        y = np.asarray(labels, dtype=float)
        if y.shape != (len(queries),):
            raise InvalidInputError("labels", f"shape {y.shape}, need ({len(queries)},)", None)
        if not np.isin(y, (0.0, 1.0)).all():
            raise InvalidInputError("labels", "contains values other than 0/1", "0, 1, bools")
        if len(set(y.tolist())) < 2:
            raise InvalidInputError("labels", "has a single class", "both good and bad answers")
        x = feature_matrix(queries, answers)
        model = GradientBoostingClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            random_state=self.seed,
        )
        model.fit(x, y.astype(int), sample_weight=sample_weight)
        self.trees_ = export_trees(model)
        self.meta_ = {
            "n_train": len(y),
            "positive_rate": float(y.mean()),
            "features": list(FEATURE_NAMES),
        }
        return self

    def predict_proba(self, queries: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """P(good) per (query, answer), shape ``(len(queries),)``."""
        if self.trees_ is None:
            raise ArtifactError("LearnedVerifier is not fitted: call fit() or load() first")
        x = feature_matrix(queries, answers)
        if not len(x):
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-predict_trees(self.trees_, x)))

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``verifier.json`` (params, meta, feature names) and ``arrays.npz`` (trees)."""
        if self.trees_ is None:
            raise ArtifactError("LearnedVerifier is not fitted: nothing to save")
        record = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "params": self._params(),
            "features": list(FEATURE_NAMES),
            "meta": self.meta_,
        }
        return write_artifact(directory, ARTIFACT_META, record, self.trees_)

    @classmethod
    def load(cls, directory: str | Path) -> LearnedVerifier:
        """Read an artifact written by :meth:`save`; clear errors when it is broken or stale."""
        record, arrays = read_artifact(
            directory, ARTIFACT_META, "verifier", required=("kind", "params", "features")
        )
        where = Path(directory) / ARTIFACT_META
        if record["kind"] != KIND:
            raise ArtifactError(f"{where}: kind {record['kind']!r}, not {KIND}")
        if record.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{where}: format_version {record.get('format_version')!r}, this code reads "
                f"{FORMAT_VERSION}; retrain it with scripts/train_default_verifier.py"
            )
        if record["features"] != list(FEATURE_NAMES):
            raise ArtifactError(
                f"{where}: trained on other features than this code computes; retrain it "
                "with scripts/train_default_verifier.py"
            )
        check_tree_arrays(arrays, str(Path(directory) / "arrays.npz"))
        verifier = cls(**record["params"])
        verifier.trees_ = arrays
        verifier.meta_ = dict(record.get("meta", {}))
        return verifier

    @classmethod
    def default(cls) -> LearnedVerifier:
        """The verifier shipped with routegraph (trained on recorded GSM8K/MMLU-Pro/MT-Bench)."""
        return cls.load(default_artifact_dir())


def default_artifact_dir() -> Path:
    """Where the shipped default verifier lies."""
    return artifacts_dir() / "verifier" / "default"

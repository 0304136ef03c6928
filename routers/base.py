"""The protocol every router follows, in the style of scikit-learn estimators.

Hyper-parameters go to the constructor; ``fit`` learns from a :class:`RoutingDataset` and sets
attributes ending in ``_``; ``predict_quality`` returns, for a batch of prompts, the predicted
quality of every candidate model; ``save`` / ``load`` write and read plain data (JSON + npz or
safetensors), never pickle. For two models, ``strong_probability`` is RouteLLM's "probability
that the strong model is needed" and a threshold turns it into a decision.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from routegraph.core.artifacts import read_artifact as read_plain_artifact
from routegraph.core.artifacts import write_artifact
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError

ARTIFACT_META = "router.json"


class Router(ABC):
    """Scores candidate models for a prompt. Subclasses set ``kind`` and implement the rest."""

    kind: ClassVar[str] = "abstract"

    models_: list[str]
    """Candidate model names, in the column order of ``predict_quality``."""

    meta_: dict[str, Any]
    """Plain-data record saved with the artifact: embedder, label scheme, data fingerprint,
    validation metrics, calibrated thresholds."""

    @abstractmethod
    def fit(self, data: RoutingDataset) -> Router:
        """Learn from recorded outcomes; returns ``self``."""

    @abstractmethod
    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        """Predicted quality in [0, 1], shape ``(len(prompts), len(self.models_))``."""

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        """P(the strong model is needed) for each prompt.

        Default: how much better the strong model is predicted to do than the weak one, mapped
        to [0, 1]. Two-model routers that predict this directly override it.
        """
        s, w = self.strong_weak_columns(strong, weak)
        q = self.predict_quality(prompts)
        return np.clip(0.5 + 0.5 * (q[:, s] - q[:, w]), 0.0, 1.0)

    def strong_weak_columns(
        self, strong: str | None = None, weak: str | None = None
    ) -> tuple[int, int]:
        """Column indices of the strong and weak model (defaults: the artifact's record)."""
        strong = strong or self.meta_.get("strong_model") or self.models_[-1]
        weak = weak or self.meta_.get("weak_model") or self.models_[0]
        for field, name in (("strong model", strong), ("weak model", weak)):
            if name not in self.models_:
                raise InvalidInputError(
                    field, f"{name!r} is not one of the router's models", self.models_
                )
        return self.models_.index(strong), self.models_.index(weak)

    def score(self, prompt: str) -> dict[str, float]:
        """Predicted quality per model for one prompt (what the graphs' route node uses)."""
        row = self.predict_quality([prompt])[0]
        return {m: float(v) for m, v in zip(self.models_, row, strict=True)}

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``router.json`` (kind, models, meta, params) plus the arrays of ``_arrays``."""
        record = {
            "kind": self.kind,
            "models": list(self.models_),
            "params": self._params(),
            "meta": self.meta_,
        }
        return write_artifact(directory, ARTIFACT_META, record, self._arrays())

    @classmethod
    def load(cls, directory: str | Path) -> Router:
        """Read an artifact written by :meth:`save` (checks kind and array names)."""
        record, arrays = read_artifact(directory)
        if cls.kind != "abstract" and record["kind"] != cls.kind:
            raise ArtifactError(
                f"{directory}: artifact is a {record['kind']!r} router, not {cls.kind!r}"
            )
        router = cls(**record["params"])
        router.models_ = list(record["models"])
        router.meta_ = dict(record.get("meta", {}))
        router._restore(arrays, Path(directory))
        return router

    def _params(self) -> dict[str, Any]:
        """Constructor arguments, as plain data."""
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        """Learned arrays to store in ``arrays.npz``."""
        return {}

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        """Set learned attributes back from ``arrays`` (routers with no arrays: nothing)."""
        return None  # noqa: B027 - optional hook, not abstract


def read_artifact(directory: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load and validate ``router.json`` and ``arrays.npz``; clear errors when broken."""
    return read_plain_artifact(directory, ARTIFACT_META, "router", required=("kind", "models"))

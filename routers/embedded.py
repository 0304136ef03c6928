"""Shared plumbing of routers that look at prompt embeddings.

Why a base class: every embedding router must record which embedder produced its training
vectors (vectors of two embedders are not comparable), must refuse to train on unusable data with
a clear error, and must reconnect to the same embedder when loaded. Keeping that here leaves each
router module with only its own idea.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.routers.base import Router
from routegraph.routers.last_batch import LastBatch


def check_training_data(data: RoutingDataset, min_prompts: int = 2) -> None:
    """Raise :class:`InvalidInputError` when ``data`` cannot train a router."""
    if not isinstance(data, RoutingDataset):
        raise InvalidInputError("data", f"got {type(data).__name__}", "a RoutingDataset")
    if len(data.models) < 2:
        raise InvalidInputError(
            "data.models",
            f"has {len(data.models)} model(s)",
            "at least two models to route between",
        )
    if len(data) < min_prompts:
        raise InvalidInputError(
            "data", f"has {len(data)} prompts", f"at least {min_prompts} prompts"
        )
    if np.isnan(data.quality).all():
        raise InvalidInputError("data.quality", "has no recorded outcome", "some finite values")


def base_meta(data: RoutingDataset, label_scheme: str, **extra: Any) -> dict[str, Any]:
    """The plain-data record every artifact carries (see ``Router.meta_``)."""
    strong = data.strong_model or _best_model(data)
    weak = data.weak_model or _cheapest_model(data)
    meta = {
        "label_scheme": label_scheme,
        "dataset": data.name,
        "data_fingerprint": data.fingerprint(),
        "n_train": len(data),
        "strong_model": strong,
        "weak_model": weak,
        "train_mean_quality": {
            m: float(np.nanmean(data.quality[:, j]))
            if np.isfinite(data.quality[:, j]).any()
            else None
            for j, m in enumerate(data.models)
        },
    }
    meta.update(extra)
    return meta


def _best_model(data: RoutingDataset) -> str:
    means = np.nan_to_num(
        np.nanmean(np.where(np.isnan(data.quality), np.nan, data.quality), axis=0), nan=-1.0
    )
    return data.models[int(np.argmax(means))]


def _cheapest_model(data: RoutingDataset) -> str:
    cost = np.nanmean(data.cost_usd, axis=0) if np.isfinite(data.cost_usd).any() else None
    if cost is None or not np.isfinite(cost).any():
        means = np.nan_to_num(np.nanmean(data.quality, axis=0), nan=2.0)
        return data.models[int(np.argmin(means))]
    return data.models[int(np.nanargmin(cost))]


_LAST_EMBEDDED = LastBatch()
"""The last query's vectors, per embedder (see :mod:`routegraph.routers.last_batch`)."""


class EmbeddingRouter(Router):
    """A router whose features are prompt embeddings from an :class:`EmbeddingCache`.

    ``embedder`` defaults to ``$ROUTEGRAPH_EMBEDDER``, else the static vectors distilled from the
    bundled all-MiniLM-L6-v2 (``minilm-static``: ~100x faster, same routing quality; see
    BENCHMARKS.md "Decision latency"). It is created lazily so that constructing or loading a
    router costs nothing until it first embeds. A loaded artifact reconnects to the embedder
    it names (artifacts that name none are MiniLM's).
    """

    def __init__(self, embedder=None):
        self._embedder = embedder
        self.models_: list[str] = []
        self.meta_: dict[str, Any] = {}

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = named_embedder(os.environ.get(EMBEDDER_ENV) or TRAINING_EMBEDDER)
        return self._embedder

    @embedder.setter
    def embedder(self, value) -> None:
        self._embedder = value

    def embed(self, prompts: list[str]) -> np.ndarray:
        """Float32 L2-normalised embeddings of ``prompts``."""
        if isinstance(prompts, str):
            raise InvalidInputError("prompts", "a single string was given", "a list of strings")
        embedder = self.embedder  # the members of an ensemble share one: one embedding a query
        return _LAST_EMBEDDED.get(prompts, lambda: embedder.embed(list(prompts)), embedder)

    def _check_fitted(self) -> None:
        if not self.models_:
            raise ArtifactError(f"{type(self).__name__} is not trained: call fit() or load()")

    @classmethod
    def load(cls, directory: str | Path, embedder=None) -> EmbeddingRouter:
        """Read an artifact; reconnect to ``embedder`` (default: the bundled one, by name).

        Raises :class:`ArtifactError` when the artifact was trained with another embedder than
        the one given (or than the bundled one when none is given).
        """
        router = cast(EmbeddingRouter, super().load(directory))
        trained_with = router.meta_.get("embedder")
        if embedder is None:
            try:  # the embedder the artifact names (vectors of two embedders do not mix)
                embedder = named_embedder(trained_with)
            except InvalidInputError:
                raise ArtifactError(
                    f"{directory}: trained with embedder {trained_with!r}; pass the same "
                    "embedder (EmbeddingCache with that name) to load it"
                ) from None
        elif trained_with is not None and getattr(embedder, "name", None) != trained_with:
            raise ArtifactError(
                f"{directory}: trained with embedder {trained_with!r}, "
                f"not {getattr(embedder, 'name', None)!r}"
            )
        router._embedder = embedder
        return router

    def _embedding_meta(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name}


EMBEDDER_ENV = "ROUTEGRAPH_EMBEDDER"
TRAINING_EMBEDDER = "minilm-static"
"""What a new router embeds with unless ``$ROUTEGRAPH_EMBEDDER`` or ``--embedder`` says
otherwise: a few thousand prompts embed in seconds on a 2-core CPU (MiniLM in torch: tens of
minutes), and a decision costs ~2 ms instead of ~40-120 ms."""
"""Environment variable naming the embedder new routers train with (default: MiniLM)."""


@contextlib.contextmanager
def using_embedder(name: str | None) -> Iterator[None]:
    """Within the block, routers created without an embedder use ``name`` (None: unchanged)."""
    if name is None:
        yield
        return
    named_embedder(name)  # unknown names fail here, before any work
    previous = os.environ.get(EMBEDDER_ENV)
    os.environ[EMBEDDER_ENV] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(EMBEDDER_ENV, None)
        else:
            os.environ[EMBEDDER_ENV] = previous


def embedder_names() -> tuple[str, str]:
    from routegraph.core.embeddings import LOCAL_EMBEDDER_NAME
    from routegraph.routers.static_embedder import STATIC_EMBEDDER_NAME

    return (LOCAL_EMBEDDER_NAME, STATIC_EMBEDDER_NAME)


def named_embedder(name: str | None):
    """The shared embedder called ``name``: ``all-MiniLM-L6-v2`` (the transformer, vectors
    cached on disk) or ``minilm-static`` (its distilled static table); ``None`` is MiniLM."""
    from routegraph.core.embeddings import LOCAL_EMBEDDER_NAME, default_embedder
    from routegraph.routers.static_embedder import STATIC_EMBEDDER_NAME, static_embedder

    if name is None or name == LOCAL_EMBEDDER_NAME:
        return default_embedder()
    if name == STATIC_EMBEDDER_NAME:
        return static_embedder()
    raise InvalidInputError("embedder", f"unknown embedder {name!r}", embedder_names())


def nan_mean(
    values: np.ndarray,
    weights: np.ndarray | None = None,
    axis: int = 0,
    fallback: np.ndarray | float = np.nan,
) -> np.ndarray:
    """Weighted mean ignoring NaN cells; ``fallback`` where no finite value has weight."""
    finite = np.isfinite(values)
    v = np.where(finite, values, 0.0)
    w = finite.astype(float) if weights is None else np.where(finite, weights, 0.0)
    total = w.sum(axis=axis)
    out = (v * w).sum(axis=axis) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, out, fallback)

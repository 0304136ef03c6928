"""Routers by name: build one to train, or load a trained artifact.

Why lazy: the neural routers import torch and transformers, which take seconds; a user routing
with kNN should not pay for them. The table maps a name to ``"module:Class"`` and imports on
first access, so ``ROUTERS["knn"]`` is the class and ``list(ROUTERS)`` the names, without
importing anything.

Shipped defaults (in ``routegraph/artifacts/routers/<name>/``, reproduced by
``scripts/train_default_routers.py``): ``default`` (an ensemble of the boosted and stacked
routers, two models: GPT-4-1106-preview vs Mixtral-8x7B, trained on GSM8K + MMLU) and
``specialist`` (boosted trees over the nine MMLU-Pro models), both on ``minilm-static`` prompt
vectors (:mod:`routegraph.routers.static_embedder`: ~2 ms per decision, embedding included).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.core.paths import artifacts_dir
from routegraph.routers.base import ARTIFACT_META, Router

_TABLE: dict[str, str] = {
    # classic routers (routers/<module>.py)
    "random": "routegraph.routers.random_router:RandomRouter",
    "knn": "routegraph.routers.knn:KNNRouter",
    "sw_ranking": "routegraph.routers.sw_ranking:SWRankingRouter",
    "matrix_factorization": "routegraph.routers.matrix_factorization:MatrixFactorizationRouter",
    "category": "routegraph.routers.category:CategoryRouter",
    "cluster": "routegraph.routers.cluster:ClusterRouter",
    "category_knn": "routegraph.routers.stacked:CategoryKNNRouter",
    "stacked": "routegraph.routers.stacked:StackedRouter",
    "boosted": "routegraph.routers.boosted:BoostedRouter",
    "ensemble": "routegraph.routers.ensemble:EnsembleRouter",
    "heuristic": "routegraph.routers.heuristic:HeuristicRouter",
    "guarded": "routegraph.routers.guard:GuardedRouter",
    "corrected": "routegraph.routers.corrected:CorrectedRouter",
    # neural routers (torch / transformers; written separately) - register them here:
    "encoder_classifier": "routegraph.routers.encoder_classifier:EncoderClassifierRouter",
    "causal_llm": "routegraph.routers.causal_llm:CausalLLMRouter",
}

ALIASES: dict[str, str] = {
    # RouteLLM's names (``--routers mf``, ``router-bert-0.5``) for the same techniques.
    "mf": "matrix_factorization",
    "bert": "encoder_classifier",
    "similarity_weighted": "sw_ranking",
}
"""Other spellings users type -> the router's name here; hyphens work as underscores too."""


def canonical_name(name: str) -> str:
    """``"mf"`` -> ``"matrix_factorization"``, ``"sw-ranking"`` -> ``"sw_ranking"``; else as is."""
    key = str(name).strip().lower().replace("-", "_")
    return ALIASES.get(key, key if key in _TABLE else str(name))


def names_with_aliases() -> str:
    """Every router name, each followed by its other spellings: for ``--help`` texts."""
    spelled: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        spelled.setdefault(name, []).append(alias)
    return ", ".join(
        f"{name} (or {' / '.join(spelled[name])})" if name in spelled else name for name in _TABLE
    )


SHIPPED: dict[str, str] = {
    "default": "two models (gpt-4-1106-preview vs mixtral-8x7b-instruct), gsm8k + mmlu",
    "specialist": "the nine MMLU-Pro models, routed per prompt",
}
"""Names of the trained artifacts shipped in ``routegraph/artifacts/routers/``."""


class LazyRouterTable(Mapping[str, type[Router]]):
    """``name -> Router class``, importing each class's module only when it is looked up."""

    def __init__(self, table: dict[str, str]):
        self._table = table

    def __getitem__(self, name: str) -> type[Router]:
        target = self._table[canonical_name(name)]
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise InvalidInputError(
                    "router", f"{name!r} is not installed in this build", available_names()
                ) from None
            raise
        return getattr(module, attr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def register(self, name: str, target: str) -> None:
        """Add a router as ``"module:Class"`` (e.g. from a plug-in)."""
        self._table[name] = target


ROUTERS = LazyRouterTable(_TABLE)
"""Router classes by name (``kind``); lazily imported."""


def available_names() -> list[str]:
    """Names whose module is importable here (the neural ones may be absent)."""
    names = []
    for name, target in _TABLE.items():
        module_name = target.partition(":")[0]
        if importlib.util.find_spec(module_name) is not None:
            names.append(name)
    return names


def make_router(name: str, **params: Any) -> Router:
    """A fresh, untrained router ``name`` with constructor ``params``."""
    if name not in ROUTERS:
        raise InvalidInputError("router", f"unknown router {name!r}", available_names())
    cls = ROUTERS[name]
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidInputError(
            f"router {name} parameters", str(exc), _init_parameters(cls)
        ) from None


def _init_parameters(cls: type) -> list[str]:
    import inspect

    return [p for p in inspect.signature(cast(Any, cls).__init__).parameters if p != "self"]


def default_router_path(name: str = "default") -> Path:
    """The folder of a shipped router (``default`` or ``specialist``)."""
    if name not in SHIPPED:
        raise InvalidInputError("router", f"no shipped router named {name!r}", SHIPPED)
    return artifacts_dir() / "routers" / name


def load_router(path_or_name: str | Path, embedder=None) -> Router:
    """A trained router from an artifact folder, or a shipped default by name.

    The artifact's ``kind`` picks the class; a folder that is not a router artifact, or whose
    kind is unknown, raises :class:`ArtifactError`.
    """
    path = Path(path_or_name)
    if not path.is_dir():
        if str(path_or_name) in SHIPPED:
            path = default_router_path(str(path_or_name))
            if not path.is_dir():
                raise ArtifactError(
                    f"{path}: shipped router {path_or_name!r} is missing; run "
                    "scripts/train_default_routers.py"
                )
        else:
            raise InvalidInputError(
                "router",
                f"{str(path_or_name)!r} is neither a folder nor a shipped router name",
                sorted(SHIPPED),
            )
    from routegraph.routers.versions import is_versioned, promoted_path

    version = None
    if not (path / ARTIFACT_META).is_file() and is_versioned(path):
        path = promoted_path(path)  # a folder of versions: the promoted one
        version = path.name
    router = _load_artifact(path, embedder)
    if version is not None:
        router.meta_["version"] = version
    return router


def _load_artifact(path: Path, embedder: Any) -> Router:
    meta_path = path / ARTIFACT_META
    if not meta_path.is_file():
        raise ArtifactError(f"{path}: not a router artifact (no {ARTIFACT_META})")
    try:
        kind = json.loads(meta_path.read_text()).get("kind")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ArtifactError(f"{meta_path}: corrupted router metadata ({exc})") from None
    if kind not in ROUTERS:
        raise ArtifactError(
            f"{meta_path}: unknown router kind {kind!r}; known: {', '.join(ROUTERS)}"
        )
    try:
        cls = ROUTERS[kind]
    except InvalidInputError as exc:
        raise ArtifactError(f"{meta_path}: router kind {kind!r} unavailable ({exc})") from None
    try:
        if embedder is not None and _accepts_embedder(cls):
            return cast(Any, cls).load(path, embedder=embedder)
        return cls.load(path)
    except (TypeError, KeyError, IndexError) as exc:  # params or arrays do not fit the class
        raise ArtifactError(f"{path}: {kind} artifact does not match its class ({exc})") from None


def _accepts_embedder(cls: type[Router]) -> bool:
    import inspect

    return "embedder" in inspect.signature(cls.load).parameters

"""Routers as the graphs see them: scores for the candidate catalog models of one run.

A trained router knows the model ids it was trained on (e.g. GPT-4 vs Mixtral). A graph routes
among catalog names (e.g. the local SmolLM2 vs 'cloud'). :class:`RouterHandle` maps one onto the
other: a candidate whose model id the router knows gets that column; otherwise candidates and
router columns are matched by price rank (cheapest to weakest), which is what "P(strong model
needed)" means for any weak/strong pair.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.routers.base import Router
from routegraph.routers.heuristic import HeuristicRouter

log = logging.getLogger(__name__)
BUILTIN_ROUTERS = ("default", "heuristic", "random")


class RouterHandle:
    """A router plus the name it is reported under in decisions and events."""

    def __init__(
        self,
        name: str,
        router: Router | None,
        catalog: Catalog,
        seed: int = 0,
        note: str | None = None,
    ):
        self.name = name
        self.router = router
        self.catalog = catalog
        self.seed = seed
        self.note = note

    def _random(self, prompt: str, size: int) -> np.ndarray:
        digest = hashlib.sha256(f"{self.seed}:{prompt}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little")).random(size)

    def columns(
        self, candidates: list[str], explicit: dict[str, str] | None = None
    ) -> dict[str, str]:
        """Candidate catalog name -> the router model column that scores it.

        ``explicit`` (the context's ``router_columns``) wins; the rest are matched by model id,
        else by price rank (:func:`column_map`); for a (weak, strong) pair an unmatched side
        takes the router's own weak / strong column. Empty for routers without trained columns.
        """
        if self.router is None or self.router.kind == "heuristic":
            return {}
        models = list(self.router.models_)
        explicit = dict(explicit or {})
        for name, column in explicit.items():
            if column not in models:
                raise InvalidInputError(f"router_columns[{name!r}]", repr(column), models)
        rest = [c for c in candidates if c not in explicit]
        specs = [self.catalog.get(c, field="models") for c in rest]
        free = [m for m in models if m not in explicit.values()]
        mapped = column_map(specs, free, self.catalog) if specs else {}
        given = {spec.name: c for c, spec in zip(rest, specs, strict=True)}  # a provider id too
        out = {c: explicit[c] for c in candidates if c in explicit}
        out.update({given[name]: free[i] for name, i in mapped.items()})
        if len(candidates) == 2 and len(out) < 2:
            # weak / strong pair: an unmatched side uses the router's own weak / strong column
            s, w = self.router.strong_weak_columns()
            for name, col in zip(candidates, (models[w], models[s]), strict=True):
                if name not in out and col not in out.values():
                    out[name] = col
        return out

    def strong_probability(
        self, prompt: str, columns: dict[str, str] | None = None, strong: str = "", weak: str = ""
    ) -> float:
        """P(the strong model is needed) for ``prompt``; with ``columns`` (from
        :meth:`columns`) the router compares the columns mapped to ``strong`` and ``weak``."""
        if self.router is None:
            return float(self._random(prompt, 1)[0])
        if columns and strong in columns and weak in columns:
            pair = (columns[strong], columns[weak])
            return float(self.router.strong_probability([prompt], *pair)[0])
        return float(self.router.strong_probability([prompt])[0])

    def novelty(self, prompt: str) -> dict[str, Any] | None:
        """How unlike its training data the router finds ``prompt`` (``ood`` in [0, 1]) and
        what it fell back to; None when the router cannot tell (no novelty guard)."""
        if self.router is None or not hasattr(self.router, "novelty"):
            return None
        facts = self.router.novelty([prompt])
        return dict(facts[0]) if facts else None

    def target_threshold(self, target: str, confidence: float | None = None) -> tuple[float, str]:
        """``(threshold, where it came from)`` for a target such as ``quality_fraction=0.95``,
        from the calibration stored with the router (guaranteed with ``confidence``)."""
        if self.router is None or not (
            self.router.meta_.get("calibration_set") or self.router.meta_.get("thresholds")
        ):
            raise InvalidInputError(
                "target",
                f"router {self.name!r} stores no calibration to resolve {target!r} with",
                "a trained router calibrated on validation (the shipped default, or "
                "routegraph train --calibrate), or a raw threshold",
            )
        from routegraph.routers.calibration import threshold_for_target

        return threshold_for_target(self.router, target, confidence)

    def scores(
        self, prompt: str, candidates: list[str], explicit: dict[str, str] | None = None
    ) -> dict[str, float]:
        """Predicted quality in [0, 1] of each candidate for ``prompt``, keyed as given (a
        catalog name or a provider model id the catalog knows)."""
        if self.router is None:
            return dict(
                zip(candidates, map(float, self._random(prompt, len(candidates))), strict=True)
            )
        row = self.router.predict_quality([prompt])[0]
        named = self.columns(candidates, explicit)
        columns = {c: self.router.models_.index(m) for c, m in named.items()}
        if all(c in columns for c in candidates):
            return {c: float(row[columns[c]]) for c in candidates}
        fallback = HeuristicRouter(candidates).predict_quality([prompt])[0]
        return {
            c: float(row[columns[c]]) if c in columns else float(fb)
            for c, fb in zip(candidates, fallback, strict=True)
        }


def _price(spec: ModelSpec) -> float:
    return spec.input_price + spec.output_price


def column_map(
    specs: list[ModelSpec], router_models: list[str], catalog: Catalog
) -> dict[str, int]:
    """Candidate name -> router column (by model id, else by price rank when counts match)."""
    mapping = {}
    for spec in specs:
        ids = [spec.model, spec.name] + (
            [catalog.get(spec.fallback).model] if spec.fallback else []
        )
        for model_id in ids:
            if model_id in router_models:
                mapping[spec.name] = router_models.index(model_id)
                break
    unmatched = [s for s in specs if s.name not in mapping]
    free = [i for i in range(len(router_models)) if i not in mapping.values()]
    if unmatched and len(unmatched) == len(free):

        def router_price(i: int) -> float:
            try:
                return _price(catalog.get(router_models[i]))
            except InvalidInputError:
                return float(i)

        for spec, col in zip(
            sorted(unmatched, key=_price), sorted(free, key=router_price), strict=True
        ):
            mapping[spec.name] = col
    return mapping


@lru_cache(maxsize=16)
def _load_trained(path: str, version: str | None = None) -> Router:
    """The router at ``path``, cached per promoted ``version`` (so a promotion is picked up
    by the next routing step of a running server, without a restart)."""
    from routegraph.routers.registry import load_router

    return load_router(path)


def _promoted_version(path: str) -> str | None:
    from routegraph.routers.versions import is_versioned, promoted

    folder = Path(path)
    return promoted(folder) if is_versioned(folder) else None


def resolve_router(
    name: str, catalog: Catalog, candidates: list[str], seed: int = 0
) -> RouterHandle:
    """The router called ``name``: built-in, shipped default, or an artifact directory."""
    if name == "heuristic":
        return RouterHandle("heuristic", HeuristicRouter(candidates), catalog, seed)
    if name == "random":
        return RouterHandle(f"random(seed={seed})", None, catalog, seed)
    if name == "default":
        # Two candidates: the shipped weak/strong router; more: the shipped N-model router.
        shipped = "default" if len(candidates) <= 2 else "specialist"
        try:
            return RouterHandle(shipped, _load_trained(shipped), catalog, seed)
        except (ArtifactError, InvalidInputError, ImportError, OSError) as exc:
            log.warning("default router unavailable (%s); using the heuristic router", exc)
            return RouterHandle(
                "heuristic",
                HeuristicRouter(candidates),
                catalog,
                seed,
                note=f"shipped router unavailable ({exc}); used the heuristic router",
            )
    if Path(name).is_dir():
        return RouterHandle(name, _load_trained(name, _promoted_version(name)), catalog, seed)
    raise InvalidInputError(
        "router", f"unknown router {name!r}", "default, heuristic, random, or a router directory"
    )

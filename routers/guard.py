"""A router that knows when a prompt is unlike its training data, and then leans on what is known.

Why: a learned router extrapolates silently. Trained on exam questions, it scores "Hi, how are
you?" or a subject it never saw with the same confidence as the prompts it was fitted on, and
independent studies of routers under shift find most of them fall to the level of a fixed mix of
models. :class:`GuardedRouter` wraps any trained router (the *inner* one) with a novelty score:

* **novelty** (:class:`NoveltyScorer`): how far a prompt lies from the training prompts of its
  own format (exam question with options, or free text), in topic (cosine distance to its
  ``k`` nearest, on the scale of the training prompts' own leave-one-out distances: 0 up to
  their ``start_quantile``, 1 at ``full_distance`` times that) or in form (a format never
  trained on, a length outside the training range);
* **fallback**: what the router knows without the prompt's neighbours. For predicted quality,
  the per-model prior (training mean quality: the zero router's knowledge); for P(strong needed),
  either the inner router's mean score (``prior``) or the built-in ``heuristic`` difficulty
  rule, whose easy / hard boundary sits at 0.5 like the graphs' default threshold;
* the answer is ``(1 - w) * inner + w * fallback`` with ``w = strength * novelty``, or at
  least the prompt's *floor*: how little the inner router is trusted where validation showed
  it knows little. Two kinds, the larger counts: ``floors`` per format, and ``region_floors``
  per training *region* (a source of a stacked training set: the part of each category before
  ``:``, e.g. ``gsm8k`` or ``arena_bench`` in the shipped default; a plain dataset is one region),
  read through the prompt's ``k`` nearest training prompts (the mean of their regions' floors).
  A prompt among grade-school word problems, where the learned router ranks well, keeps its
  answer; one among chat prompts, where it is near chance, leans on the fallback (the shipped
  default fits both kinds on validation, see ``scripts/train_default_routers.py``).

Every decision can say how novel its prompt was and what it fell back to (:meth:`novelty`); the
graphs put that in their decision records as ``ood``.

Artifact: ``router.json`` (kind ``guarded``; inner router's name and parameters; the novelty
scales, length range, region names and priors in ``meta``), ``arrays.npz`` (the reference
embeddings, float16, their formats and regions) and the inner router's complete artifact in
``inner/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import (
    ArtifactError,
    InvalidInputError,
    check_min_int,
    check_non_negative,
)
from routegraph.routers.base import Router
from routegraph.routers.embedded import EmbeddingRouter, check_training_data
from routegraph.routers.heuristic import difficulty
from routegraph.routers.knn import top_k_similar
from routegraph.routers.last_batch import LastBatch

FALLBACKS = ("prior", "heuristic")
FORMATS = ("choices", "free")
"""Prompt formats: exam questions with lettered options, and free text."""


CHOICE_LINE = re.compile(r"^[A-J][.)]\s", re.MULTILINE)


def multiple_choice(prompts: list[str]) -> np.ndarray:
    """Whether each prompt lists lettered options ("A. ...", "B) ...") like an exam question."""
    return np.array([bool(CHOICE_LINE.search(p)) for p in prompts], dtype=bool)


def region_of(category: str | None, dataset: str) -> str:
    """A training prompt's region: the source named before ``:`` in its category (stacked
    datasets prefix categories with their source, ``gsm8k:all``), else the dataset itself."""
    if category and ":" in category:
        return category.split(":", 1)[0]
    return dataset


def log_words(prompts: list[str]) -> np.ndarray:
    """log(1 + word count) per prompt: the form of a prompt that mean-pooled vectors lose."""
    return np.log1p(np.array([len(p.split()) for p in prompts], dtype=np.float64))


class NoveltyScorer:
    """How far a prompt lies from a reference set, on the reference's own scale.

    Prompts come in two formats - exam questions with lettered options, and free text - and
    each is compared with training prompts of its own format only. Two ways a prompt can be
    unlike them, and the larger counts:

    * *topic*: mean cosine distance of its vector to the ``k`` nearest references of its
      format, 0 up to ``start`` (a quantile of those references' own leave-one-out distances),
      1 at ``full``;
    * *form*: no (or fewer than ``2 k``) training prompts of its format, or a length (log
      words) outside the references' 1st-99th percentile range (``length_range``), reaching 1
      at ``LENGTH_WIDTH`` (a factor of e) beyond it.

    Mean-pooled vectors are blind to form: "What is 7 + 5?" sits beside grade-school word
    problems, and a free-form proof request beside multiple-choice exam questions on the same
    subject, while being nothing like either.
    """

    LENGTH_WIDTH = 1.0

    def __init__(
        self,
        reference: np.ndarray,
        reference_choices: np.ndarray,
        k: int,
        scales: dict[str, list[float]],
        length_range: tuple[float, float],
        reference_regions: np.ndarray | None = None,
    ) -> None:
        self.reference = np.asarray(reference, np.float32)
        self.reference_choices = np.asarray(reference_choices, bool)
        self.reference_regions = (
            np.zeros(len(self.reference), np.int64)
            if reference_regions is None
            else np.asarray(reference_regions, np.int64)
        )
        self.k = int(k)
        self.scales = {str(f): [float(v) for v in scale] for f, scale in scales.items()}
        self.length_range = (float(length_range[0]), float(length_range[1]))

    @classmethod
    def fit(
        cls,
        vectors: np.ndarray,
        prompts: list[str],
        k: int = 10,
        start_quantile: float = 0.95,
        full_distance: float = 1.5,
        max_reference: int = 3000,
        seed: int = 0,
        regions: np.ndarray | None = None,
    ) -> NoveltyScorer:
        """References = up to ``max_reference`` training vectors per format; each format's
        scale from its references' leave-one-out distances (each against the others); length
        range from all ``prompts``; ``regions``: each prompt's region index (default: all 0)."""
        vectors = np.asarray(vectors, np.float32)
        choices = multiple_choice(prompts)
        rng = np.random.default_rng(seed)
        keep, own = {}, []
        for name, rows in _formats(choices).items():
            if rows.size > max_reference:
                rows = np.sort(rng.choice(rows, max_reference, replace=False))
            if rows.size < 2 * k:
                continue  # too few to tell near from far: that format counts as unseen
            # stored as float16: round now so a reloaded scorer gives the same numbers
            refs = vectors[rows].astype(np.float16).astype(np.float32)
            _, sim = top_k_similar(refs, refs, k, exclude_self=True)
            own.append(1.0 - sim.mean(axis=1))
            keep[name] = rows
        # one scale for all formats, from every training prompt's distance to its own
        # neighbours: a format with few, scattered examples (free chat beside thousands of
        # exam questions) is a thin region, and a prompt there is far from what was learned
        start = float(np.quantile(np.concatenate(own), start_quantile)) if own else 0.0
        scale = [start, max(start * full_distance, start + 1e-6)]
        scales = dict.fromkeys(keep, scale)
        rows = np.concatenate(list(keep.values())) if keep else np.zeros(0, np.int64)
        lengths = log_words(prompts)
        low, high = (float(v) for v in np.quantile(lengths, [0.01, 0.99]))
        refs = vectors[rows].astype(np.float16).astype(np.float32)
        regions = np.zeros(len(prompts), np.int64) if regions is None else np.asarray(regions)
        return cls(refs, choices[rows], k, scales, (low, high), regions[rows])

    def score(self, vectors: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        """Per prompt: ``novelty`` in [0, 1] (the larger of ``topic`` and ``form``), the raw
        ``distance`` to its format's references (NaN where the format is unseen), and its
        ``neighbours``: the ``k`` nearest references (rows of ``reference``; -1 where the format
        is unseen)."""
        vectors = np.asarray(vectors, np.float32)
        n = len(prompts)
        topic, distance, form = np.zeros(n), np.full(n, np.nan), np.zeros(n)
        neighbours = np.full((n, self.k), -1, np.int64)
        ref_formats = _formats(self.reference_choices)
        for name, rows in _formats(multiple_choice(prompts)).items():
            if name not in self.scales or name not in ref_formats:
                form[rows] = 1.0
                continue
            refs = self.reference[ref_formats[name]]
            idx, sim = top_k_similar(vectors[rows], refs, self.k)
            neighbours[rows, : idx.shape[1]] = ref_formats[name][idx]
            start, full = self.scales[name]
            distance[rows] = 1.0 - sim.mean(axis=1)
            topic[rows] = np.clip((distance[rows] - start) / (full - start), 0.0, 1.0)
        lengths = log_words(prompts)
        low, high = self.length_range
        outside = np.maximum(low - lengths, lengths - high) / self.LENGTH_WIDTH
        form = np.clip(np.maximum(form, outside), 0.0, 1.0)
        return {
            "novelty": np.maximum(topic, form),
            "topic": topic,
            "form": form,
            "distance": distance,
            "neighbours": neighbours,
        }

    def region_floor(self, neighbours: np.ndarray, floors: np.ndarray) -> np.ndarray:
        """Mean floor of each prompt's neighbours' regions (``floors`` per region index); 0
        for a prompt with no neighbours (an unseen format is fully novel anyway)."""
        seen = neighbours >= 0
        values = floors[self.reference_regions[np.where(seen, neighbours, 0)]] * seen
        return values.sum(axis=1) / np.maximum(seen.sum(axis=1), 1)


def _rounded(value: float) -> float | None:
    """JSON-safe: 4 decimals, or None for NaN (a format with no training prompts)."""
    return round(float(value), 4) if np.isfinite(value) else None


def fallback_note(ood: dict[str, Any]) -> str:
    """Why part of a decision came from the fallback, in words (decision reasons): the prompt
    was novel, or a floor applies near it (validation showed the router knows little there)."""
    weight, novelty = float(ood.get("fallback_weight", 0.0)), float(ood.get("ood", 0.0))
    floor = float(ood.get("floor", 0.0))
    share = f"{weight:.0%} from its {ood.get('fallback', 'prior')} fallback"
    if floor > 0 and floor >= weight:
        return f"router trusted little near such prompts (floor {floor:.2f}): {share}"
    return f"query unlike the router's training prompts (novelty {novelty:.2f}): {share}"


def _checked_floors(
    field: str, floors: dict[str, float], names: list[str] | tuple[str, ...] | None
) -> dict[str, float]:
    """``floors`` as plain floats, each in [0, 1] and (when ``names`` is known) named in it."""
    out = {str(name): float(value) for name, value in floors.items()}
    for name, value in out.items():
        if (names is not None and name not in names) or not 0.0 <= value <= 1.0:
            allowed = f"one of {tuple(names)}" if names is not None else "a region name"
            raise InvalidInputError(
                f"{field}[{name!r}]", str(value), f"a number in [0, 1] for {allowed}"
            )
    return out


def _formats(choices: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices per format name (``choices`` / ``free``), formats present only."""
    out = {"choices": np.flatnonzero(choices), "free": np.flatnonzero(~choices)}
    return {name: rows for name, rows in out.items() if rows.size}


class GuardedRouter(EmbeddingRouter):
    """An inner router whose answers shrink towards a fallback as prompts get novel."""

    kind = "guarded"

    def __init__(
        self,
        inner: dict[str, Any] | None = None,
        fallback: str = "prior",
        strength: float = 1.0,
        k: int = 10,
        start_quantile: float = 0.95,
        full_distance: float = 1.5,
        floors: dict[str, float] | None = None,
        region_floors: dict[str, float] | None = None,
        embedder=None,
    ) -> None:
        super().__init__(embedder)
        self.inner = dict(inner or {"name": "sw_ranking", "params": {}})
        if "name" not in self.inner:
            raise InvalidInputError("inner", "has no 'name'", "{'name': ROUTER, 'params': {...}}")
        self.inner.setdefault("params", {})
        if fallback not in FALLBACKS:
            raise InvalidInputError("fallback", repr(fallback), FALLBACKS)
        self.fallback = fallback
        self.strength = check_non_negative("strength", strength)
        if self.strength > 1:
            raise InvalidInputError("strength", f"{strength} is above 1", "a number in [0, 1]")
        self.k = check_min_int("k", k, 1)
        if not 0.0 < start_quantile < 1.0:
            raise InvalidInputError("start_quantile", str(start_quantile), "a number in (0, 1)")
        self.start_quantile = float(start_quantile)
        if full_distance <= 1.0:
            raise InvalidInputError("full_distance", str(full_distance), "a number above 1")
        self.full_distance = float(full_distance)
        self._memo = LastBatch()
        """The last query's novelty facts (a routing step asks about it more than once)."""
        self.floors: dict[str, float] = {}
        self.region_floors: dict[str, float] = {}
        self.set_floors(floors or {}, region_floors or {})
        self.router_: Router | None = None
        self.scorer_: NoveltyScorer | None = None

    def _params(self) -> dict[str, Any]:
        return {
            "inner": self.inner,
            "fallback": self.fallback,
            "strength": self.strength,
            "k": self.k,
            "start_quantile": self.start_quantile,
            "full_distance": self.full_distance,
            "floors": self.floors,
            "region_floors": self.region_floors,
        }

    def set_floors(
        self, floors: dict[str, float], region_floors: dict[str, float] | None = None
    ) -> None:
        """Replace the format floors (and the region floors, when given), checked first: a
        bad entry changes nothing. Region names are checked against the training regions
        once the router is trained (``meta_["regions"]``)."""
        formats = _checked_floors("floors", floors, FORMATS)
        known = self.meta_.get("regions")  # None until trained or loaded
        regions = (
            self.region_floors
            if region_floors is None
            else _checked_floors("region_floors", region_floors, known)
        )
        self.floors, self.region_floors = formats, regions
        self._memo.clear()

    # -- training ----------------------------------------------------------------------------
    def fit(self, data: RoutingDataset) -> GuardedRouter:
        from routegraph.routers.registry import make_router

        check_training_data(data)
        inner = make_router(self.inner["name"], **self.inner["params"])
        inner_embedder = getattr(inner, "_embedder", None)
        if isinstance(inner, EmbeddingRouter) and inner_embedder is None:
            inner.embedder = self.embedder  # one embedder, one cache for both
        self.router_ = inner.fit(data)
        self._memo.clear()
        vectors = self.embed(data.prompts)
        names = [region_of(c, data.name) for c in (data.categories or [None] * len(data))]
        regions = sorted(set(names))
        _checked_floors("region_floors", self.region_floors, regions)
        self.scorer_ = NoveltyScorer.fit(
            vectors,
            data.prompts,
            self.k,
            self.start_quantile,
            self.full_distance,
            regions=np.array([regions.index(n) for n in names], np.int64),
        )
        self.models_ = list(inner.models_)
        self.meta_ = dict(inner.meta_)
        self.meta_["regions"] = regions
        self.meta_.update(self._embedding_meta())
        self.meta_["inner_kind"] = inner.kind
        self.meta_["novelty_scale"] = self.scorer_.scales
        self.meta_["length_range"] = list(self.scorer_.length_range)
        rows = np.isfinite(np.asarray(data.quality, float)).any(axis=1)
        prompts = [p for p, ok in zip(data.prompts, rows, strict=True) if ok][:2000]
        prior = np.nanmean(np.asarray(data.quality, float), axis=0)
        self.meta_["prior_quality"] = [float(v) if np.isfinite(v) else 0.5 for v in prior]
        p = np.asarray(self.router_.strong_probability(prompts), float)
        self.meta_["inner_p_mean"] = float(p.mean())
        return self

    # -- scoring -----------------------------------------------------------------------------
    def _ready(self) -> tuple[Router, NoveltyScorer]:
        if self.router_ is None or self.scorer_ is None:
            raise ArtifactError("GuardedRouter is not trained: call fit() or load()")
        return self.router_, self.scorer_

    def _novelty(self, prompts: list[str]) -> dict[str, np.ndarray]:
        """The scorer's facts per prompt plus ``weight``: how much the fallback decides.

        A routing step asks twice about the same query (its score, then what the decision
        records), so the facts of the last small batch are kept and reused (read-only)."""
        settings = (
            self.strength,
            tuple(sorted(self.floors.items())),
            tuple(sorted(self.region_floors.items())),
        )
        return self._memo.get(prompts, lambda: self._novelty_facts(prompts), settings)

    def _novelty_facts(self, prompts: list[str]) -> dict[str, np.ndarray]:
        _, scorer = self._ready()
        facts = scorer.score(self.embed(prompts), prompts)
        floor = np.zeros(len(prompts))
        for name, rows in _formats(multiple_choice(prompts)).items():
            floor[rows] = self.floors.get(name, 0.0)
        if self.region_floors:
            names = self.meta_.get("regions", [])
            per_region = np.array([self.region_floors.get(n, 0.0) for n in names] or [0.0])
            floor = np.maximum(floor, scorer.region_floor(facts["neighbours"], per_region))
        facts["floor"] = floor
        facts["weight"] = np.maximum(self.strength * facts["novelty"], floor)
        return facts

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        inner, _ = self._ready()
        if len(prompts) == 0:
            return np.zeros((0, len(self.models_)))
        q = np.asarray(inner.predict_quality(prompts), float)
        w = self._novelty(prompts)["weight"][:, None]
        prior = np.asarray(self.meta_["prior_quality"], float)[None, :]
        return (1.0 - w) * q + w * prior

    def _fallback_p(self, prompts: list[str]) -> np.ndarray:
        """P(strong) of the fallback: the heuristic's difficulty (0.5 is its easy / hard
        boundary, as for the router's default threshold), or the inner router's mean score on
        its training prompts (``prior``)."""
        if self.fallback == "heuristic":
            return np.array([difficulty(p) for p in prompts])
        return np.full(len(prompts), float(self.meta_.get("inner_p_mean", 0.5)))

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        inner, _ = self._ready()
        p = np.asarray(inner.strong_probability(prompts, strong, weak), float)
        w = self._novelty(prompts)["weight"]
        return (1.0 - w) * p + w * self._fallback_p(prompts)

    def novelty(self, prompts: list[str]) -> list[dict[str, Any]]:
        """What each decision records: how unlike the training prompts (``ood`` in [0, 1], the
        larger of ``topic`` and ``form``; the raw vector ``distance``), the ``floor`` its format
        and its neighbours' regions set, how much of the answer came from the fallback
        (``fallback_weight``: the larger of ``strength * ood`` and ``floor``), and which
        fallback."""
        facts = self._novelty(prompts)
        return [
            {
                "ood": round(float(facts["novelty"][i]), 4),
                "topic": round(float(facts["topic"][i]), 4),
                "form": round(float(facts["form"][i]), 4),
                "distance": _rounded(facts["distance"][i]),
                "fallback": self.fallback,
                "floor": round(float(facts["floor"][i]), 4),
                "fallback_weight": round(float(facts["weight"][i]), 4),
            }
            for i in range(len(prompts))
        ]

    # -- persistence -------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        _, scorer = self._ready()
        return {
            "reference": scorer.reference.astype(np.float16),
            "reference_choices": scorer.reference_choices.astype(np.uint8),
            "reference_regions": scorer.reference_regions.astype(np.uint16),
        }

    def save(self, directory: str | Path) -> Path:
        inner, _ = self._ready()
        out = super().save(directory)
        inner.save(out / "inner")
        return out

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        from routegraph.routers.registry import load_router

        scales = self.meta_.get("novelty_scale")
        lengths = self.meta_.get("length_range")
        if not isinstance(scales, dict) or not lengths or "prior_quality" not in self.meta_:
            raise ArtifactError(f"{directory}: guarded router record has no novelty scale/prior")
        self.scorer_ = NoveltyScorer(
            arrays["reference"],
            arrays["reference_choices"].astype(bool),
            self.k,
            scales,
            (lengths[0], lengths[1]),
            arrays.get("reference_regions"),  # absent before region floors: one region
        )
        _checked_floors("region_floors", self.region_floors, self.meta_.get("regions", []))
        self.router_ = load_router(directory / "inner")
        if self.router_.kind != self.inner["name"]:
            raise ArtifactError(
                f"{directory}/inner: is a {self.router_.kind!r} router, not {self.inner['name']!r}"
            )

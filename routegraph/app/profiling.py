"""Add a model to a trained router from its outcomes on a few probe prompts (``routegraph
profile``).

Why: a new model (a cheaper release, a local fine-tune, another provider) should join the pool
without labelling it on every training prompt and retraining. A cluster router
(:class:`~routegraph.routers.cluster.ClusterRouter`) represents each model by its quality per
prompt cluster, so a few probe prompts with known outcomes fill the new model's column. The
outcomes come from the data file when it already has the model's column (a RouterBench-format
file's quality column; how the leave-one-out benchmark measures), else from calling the model
live on the probes and grading its answers against the file's gold answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError

MIN_PROBES = 10
"""Fewer probe prompts than this say too little about a model to route by (refused)."""


def probe_rows(data: RoutingDataset, n: int, seed: int = 0) -> np.ndarray:
    """``n`` row indices of ``data``: the same for the same file, ``n`` and ``seed``, spread
    over the file's tasks in proportion to their size (a task with rows gets at least one
    where ``n`` allows), so every region of prompt space gets some evidence."""
    if n < MIN_PROBES:
        raise InvalidInputError("--prompts", f"{n} is too few", f"at least {MIN_PROBES}")
    if n > len(data):
        raise InvalidInputError("--prompts", f"{n} is more than the file's {len(data)} prompts",
                                f"at most {len(data)}")  # fmt: skip
    rng = np.random.default_rng(seed)
    if not data.categories:
        return np.sort(rng.choice(len(data), size=n, replace=False))
    tasks = np.array(data.categories)
    names, counts = np.unique(tasks, return_counts=True)
    share = counts / counts.sum() * n
    take = np.minimum(np.maximum(np.floor(share).astype(int), 1), counts)
    while take.sum() > n:  # more tasks than probes: drop from the largest allotments
        take[np.argmax(take)] -= 1
    order = np.argsort(-(share - np.floor(share)))
    i = 0
    while take.sum() < n:
        j = order[i % len(order)]
        if take[j] < counts[j]:
            take[j] += 1
        i += 1
    picked = [
        rng.choice(np.flatnonzero(tasks == name), size=int(k), replace=False)
        for name, k in zip(names, take, strict=True)
        if k > 0
    ]
    return np.sort(np.concatenate(picked))


@dataclass
class ProbeOutcomes:
    """The new model's quality on each probe prompt, and where it came from."""

    rows: np.ndarray
    quality: np.ndarray
    source: str
    cost_usd: float | None = None
    """Mean USD per probe call where known (recorded cost column or catalog prices)."""


def recorded_outcomes(data: RoutingDataset, model: str, rows: np.ndarray) -> ProbeOutcomes:
    """The file's own column for ``model`` on ``rows`` (no call made)."""
    j = data.models.index(model)
    quality = np.asarray(data.quality[rows, j], float)
    if not np.isfinite(quality).any():
        raise InvalidInputError(
            "model", f"{model!r} has no recorded outcome on the probe prompts", "another model"
        )
    cost = np.asarray(data.cost_usd[rows, j], float)
    mean_cost = float(np.nanmean(cost)) if np.isfinite(cost).any() else None
    return ProbeOutcomes(rows, quality, f"recorded column {model!r} of {data.name}", mean_cost)


def graded_outcomes(
    data: RoutingDataset,
    model: str,
    rows: np.ndarray,
    answer: Callable[[str], tuple[str, float | None]],
    progress: Callable[[int], None] | None = None,
) -> ProbeOutcomes:
    """Call ``answer(prompt) -> (text, usd)`` on each probe and grade the text against the
    file's gold answers (multiple-choice letter or final number). A failed call scores 0: a
    model that cannot answer should not look good to the router."""
    from routegraph.evaluators.base import EvaluationInput
    from routegraph.evaluators.reference import ReferenceScorer

    if data.references is None or not any(data.references[i] for i in rows):
        raise InvalidInputError(
            "--data",
            f"{data.name} has no gold answers for the probe prompts and no column {model!r}",
            "a file with a 'reference' column, a bundled benchmark, or the model's column",
        )
    scorer = ReferenceScorer()
    quality = np.full(len(rows), np.nan)
    costs: list[float] = []
    for i, row in enumerate(rows):
        reference = data.references[row]
        if reference:
            text, usd = answer(data.prompts[row])
            item = EvaluationInput(data.prompts[row], text, model, reference=reference)
            quality[i] = scorer.evaluate(item).score
            if usd is not None:
                costs.append(usd)
        if progress is not None:
            progress(i + 1)
    mean_cost = float(np.mean(costs)) if costs else None
    return ProbeOutcomes(rows, quality, f"{model} called live, graded by gold answers", mean_cost)


def add_profiled_model(
    router: Any, model: str, data: RoutingDataset, probes: ProbeOutcomes
) -> dict:
    """Add ``model`` to ``router`` from ``probes``; the router must take profiles."""
    if not hasattr(router, "add_model"):
        raise InvalidInputError(
            "--router",
            f"a {getattr(router, 'kind', type(router).__name__)!r} router cannot take a new "
            "model without retraining",
            "a cluster router (routegraph train cluster --data FILE --out DIR)",
        )
    prompts = [data.prompts[i] for i in probes.rows]
    record: dict[str, Any] = router.add_model(model, prompts, probes.quality, probes.source)
    record["probe_ids"] = [data.prompt_ids[i] for i in probes.rows]
    record["probe_cost_usd"] = probes.cost_usd
    return record

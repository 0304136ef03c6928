"""Graph-level benchmark: the real graphs run over test prompts with replayed models.

Router-level numbers sweep thresholds over precomputed scores. Here every test prompt goes
through a compiled graph (route -> generate -> evaluate -> ...) whose models replay the recorded
answers of the test set, at ``SWEEP_POINTS`` operating points per graph (threshold cut-offs at
quantiles of the scores seen on the validation split). The final answer's recorded
quality and the run's recorded cost give one operating point per setting, summarised by the
same function as the routers, so ``simple``, ``specialist``, ``cascade`` and
``cascade_routing`` share the routers' axes. For ``simple`` at the same thresholds the numbers
must equal the router-level curve (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.messages import HumanMessage
from rich.progress import Progress

from routegraph.app.bench.baselines import References
from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.core.metrics import OperatingPoints
from routegraph.core.providers.replay import ReplayChatModel
from routegraph.graphs.registry import build_graph
from routegraph.nodes.routing import RouterHandle
from routegraph.routers.base import Router

GRAPH_LEVEL_IDS = ("simple", "specialist", "cascade", "cascade_routing")
PLANNING_TOKENS = 400
"""Tokens per call assumed when deriving planning prices from recorded mean costs."""
SWEEP_POINTS = 17
"""Operating points per graph, both ends included: a threshold graph steps about 1/16 of the
prompts at a time, so a summary read between two points (CPT80) is not a guess across a gap."""


class RememberingRouter(Router):
    """A trained router whose predictions are remembered per prompt.

    Why: a sweep runs every prompt once per operating point (17 times), and each run scores it
    at every routing step; the router's answer for a prompt never changes within a benchmark.
    """

    def __init__(self, inner: Router):
        self.inner = inner
        self.kind = inner.kind  # type: ignore[misc]
        self.models_ = list(inner.models_)
        self.meta_ = inner.meta_
        self._quality: dict[str, np.ndarray] = {}
        self._p: dict[tuple[str, str | None, str | None], float] = {}

    def fit(self, data: RoutingDataset) -> Router:
        raise InvalidInputError(
            "router", "a remembering wrapper is not trained", "its inner router"
        )

    def predict_quality(self, prompts: list[str]) -> np.ndarray:
        missing = [p for p in dict.fromkeys(prompts) if p not in self._quality]
        if missing:
            for prompt, row in zip(missing, self.inner.predict_quality(missing), strict=True):
                self._quality[prompt] = np.asarray(row, float)
        return np.array([self._quality[p] for p in prompts]).reshape(len(prompts), -1)

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> np.ndarray:
        missing = [p for p in dict.fromkeys(prompts) if (p, strong, weak) not in self._p]
        if missing:
            values = self.inner.strong_probability(missing, strong, weak)
            self._p.update(
                {(p, strong, weak): float(v) for p, v in zip(missing, values, strict=True)}
            )
        return np.array([self._p[(p, strong, weak)] for p in prompts])

    def __getattr__(self, name: str) -> Any:  # novelty() and the like: the inner router's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class RememberingEvaluator:
    """An evaluator whose verdict on a (query, answer, model) is computed once per benchmark."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = getattr(inner, "name", str(inner))
        self._seen: dict[tuple[str, str, str], Any] = {}

    def evaluate(self, item: Any) -> Any:
        key = (item.query, item.answer, item.model)
        if key not in self._seen:
            self._seen[key] = self.inner.evaluate(item)
        return self._seen[key]


def replay_catalog(test: RoutingDataset) -> Catalog:
    """One catalog entry per dataset model, named by its model id.

    Real costs come from the recordings; the prices only feed the graphs' *planning* estimates
    (expected cost of a call before making it), so each model's price is set so that a
    ``PLANNING_TOKENS``-token call costs its mean recorded cost.
    """
    mean_cost = np.nanmean(test.cost_usd, axis=0)
    specs = {}
    for model, cost in zip(test.models, mean_cost, strict=True):
        price = float(cost) / PLANNING_TOKENS * 1e6 if cost == cost else 0.0
        specs[model] = ModelSpec(model, "replay", model, "cloud", price, price)
    return Catalog(specs, f"replay of {test.name}")


def by_cost(test: RoutingDataset) -> list[str]:
    """Dataset models, cheapest mean recorded cost first."""
    order = np.argsort(np.nanmean(test.cost_usd, axis=0), kind="stable")
    return [test.models[i] for i in order]


def run_points(
    graph_id: str,
    test: RoutingDataset,
    refs: References,
    settings: Sequence[dict[str, Any]],
    *,
    router: Router | None = None,
    evaluator: Any = None,
    labels: Sequence[float] | None = None,
    progress: Progress | None = None,
) -> OperatingPoints:
    """Run ``graph_id`` over every prompt of ``test`` once per context in ``settings``."""
    catalog = replay_catalog(test)
    models = {m: ReplayChatModel.from_dataset(test, m) for m in test.models}
    handle = None
    if router is not None:
        handle = RouterHandle(router.kind, RememberingRouter(router), catalog)
    if evaluator is not None:
        evaluator = RememberingEvaluator(evaluator)
    graph = build_graph(
        graph_id, models=models, router=handle, evaluator=evaluator, catalog=catalog
    )
    base = {
        "weak_model": refs.weak,
        "strong_model": refs.strong,
        "models": by_cost(test),
        "max_tokens": PLANNING_TOKENS,
        "budget_usd": 1e9,
        "max_steps": len(test.models),
    }
    column = {m: i for i, m in enumerate(test.models)}
    n, k = len(test), len(settings)
    went_strong, quality, cost = np.zeros((k, n)), np.zeros((k, n)), np.zeros((k, n))
    task = progress.add_task(f"graph {graph_id}", total=k * n) if progress else None
    for i, overrides in enumerate(settings):
        context = {**base, **overrides}
        for j, prompt in enumerate(test.prompts):
            out = graph.invoke({"messages": [HumanMessage(prompt)]}, context=context)
            meta = out["messages"][-1].response_metadata["routegraph"]
            served = meta.get("served_by")
            if served not in column:
                raise InvalidInputError("graph", f"{graph_id} gave no answer for prompt {j}")
            went_strong[i, j] = served == refs.strong
            quality[i, j] = test.quality[j, column[served]]
            cost[i, j] = meta["cost_usd"]
            if progress is not None and task is not None:
                progress.advance(task)
    thresholds = np.asarray(labels if labels is not None else range(k), dtype=float)
    return OperatingPoints(thresholds, went_strong.mean(1), quality.mean(1), cost.mean(1))


def validation_cuts(
    scores: Sequence[float] | np.ndarray, points: int = SWEEP_POINTS
) -> list[float]:
    """The interior cut-offs of a ``points``-point sweep: evenly spaced quantiles of ``scores``.

    ``scores`` are what a graph thresholds (the router's P(strong), the evaluator's confidence),
    observed on the *validation* split: a cut-off at the q-quantile sends about a q share of
    prompts one way, so the sweep moves along the strong-share axis in even steps of about
    1 / (points - 1) wherever the scores lie, instead of jumping across a gap of a fixed grid.
    The two ends (all weak, all strong) are the callers'; ties collapse to one cut-off.
    """
    values = np.asarray(scores, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        raise InvalidInputError("validation", "no scores on the validation split to sweep over")
    levels = np.linspace(0.0, 1.0, points)[1:-1]
    return sorted({float(np.clip(q, 0.0, 1.0)) for q in np.quantile(values, levels)})


def recorded_confidences(data: RoutingDataset, model: str, evaluator: Any) -> np.ndarray:
    """The evaluator's confidence in each of ``model``'s recorded answers in ``data`` (NaN where
    none is recorded), read from the recorded texts like the graph's evaluate step reads them."""
    from routegraph.evaluators.base import EvaluationInput

    if data.responses is None or evaluator is None:
        raise InvalidInputError("validation", "the sweep needs answer texts and an evaluator")
    j = data.models.index(model)
    out = np.full(len(data), np.nan)
    for i, (prompt, row) in enumerate(zip(data.prompts, data.responses, strict=True)):
        if row[j] is not None:
            out[i] = float(evaluator.evaluate(EvaluationInput(prompt, row[j] or "", model)).score)
    return out


def tier_confidences(
    validation: RoutingDataset, tiers: Sequence[str], evaluator: Any
) -> list[float]:
    """The evaluator's confidence in every recorded validation answer of every tier but the last:
    the answers a cascade's confidence cut-off accepts or escalates (the last tier is always
    accepted)."""
    if validation.responses is None or evaluator is None:
        raise InvalidInputError(
            "validation", "the cascade sweep needs validation answer texts and an evaluator"
        )
    scores = [recorded_confidences(validation, model, evaluator) for model in tiers[:-1]]
    return [float(x) for x in np.concatenate(scores) if np.isfinite(x)] if scores else []


def default_settings(
    graph_id: str,
    test: RoutingDataset,
    router: Router | None,
    refs: References,
    points: int = SWEEP_POINTS,
    resolution: dict[str, float] | None = None,
    *,
    validation: RoutingDataset | None = None,
    evaluator: Any = None,
) -> tuple[list[dict[str, Any]], list[float]]:
    """``points`` operating points per graph (both ends included) over the whole cost range.

    The threshold graphs cut at :func:`validation_cuts` of the scores they threshold, observed on
    ``validation`` (never on ``test``): ``simple`` at quantiles of the router's P(strong),
    between the ends 1 (weak unless the router is certain) and 0 (all strong); ``cascade`` at
    quantiles of the evaluator's confidence in the cheaper tiers' answers, between 0 (accept
    every first answer) and a one-tier cascade of the strong model. The cost-weight graphs
    sweep geometric weights: ``cascade_routing`` over a wider range than ``specialist``, since
    its strong share falls from its all-escalations end to zero across about three decades of
    cost weight. ``resolution`` is its ``evaluator_resolution`` (see
    :func:`fit_evaluator_resolution`).
    """
    if graph_id in ("simple", "cascade") and validation is None:
        raise InvalidInputError("validation", f"the {graph_id} sweep is placed on validation")
    if graph_id == "simple":
        if router is None:
            raise InvalidInputError("router", "the simple graph needs a router")
        assert validation is not None
        p = router.strong_probability(validation.prompts, refs.strong, refs.weak)
        cuts = validation_cuts(np.asarray(p, float), points)
        thresholds = sorted({1.0, *cuts, 0.0}, reverse=True)
        return [{"threshold": t} for t in thresholds], thresholds
    scale = 1.0 / max(1e-12, 1000 * float(np.nanmax(np.nanmean(test.cost_usd, axis=0))))
    if graph_id == "specialist":
        weights = [0.0, *(scale * w for w in np.geomspace(0.01, 1.0, points - 1))]
        return [{"cost_weight": w} for w in weights], weights
    if graph_id == "cascade":
        assert validation is not None
        cuts = validation_cuts(tier_confidences(validation, by_cost(test), evaluator), points)
        levels = sorted({0.0, *cuts})
        settings: list[dict[str, Any]] = [{"confidence_threshold": t} for t in levels]
        # the all-strong end of the curve: a one-tier cascade of the strong model
        return [*settings, {"models": [refs.strong]}], [*levels, 1.01]
    if graph_id == "cascade_routing":
        weights = [0.0, *(scale * w for w in np.geomspace(0.003, 3.0, points - 1))]
        extra = {"min_gain": 0.0, "evaluator_resolution": dict(resolution or {})}
        return [{"cost_weight": w, **extra} for w in weights], weights
    raise InvalidInputError("graph", f"no graph-level benchmark for {graph_id!r}", GRAPH_LEVEL_IDS)


def fit_evaluator_resolution(
    data: RoutingDataset, router: Router | None, evaluator: Any
) -> dict[str, float]:
    """Per model, how far the evaluator's confidence should move the router's prior towards it.

    The least-squares ``k`` in ``quality ~ prior + k * (confidence - prior)`` over ``data``
    (held out from the test prompts), clipped to [0, 1]: 1 when the confidence alone predicts
    the recorded quality, 0 when it adds nothing to the router. Empty (every model 1) when the
    data holds no answer texts for the evaluator to read, or there is no router.
    """
    if data.responses is None or evaluator is None or router is None or not len(data):
        return {}
    handle = RouterHandle(router.kind, router, replay_catalog(data))
    models = list(data.models)
    prior = np.array([[handle.scores(p, models)[m] for m in models] for p in data.prompts])
    out = {}
    for j, model in enumerate(models):
        conf = recorded_confidences(data, model, evaluator)
        ok = np.isfinite(conf) & np.isfinite(data.quality[:, j])
        lift = conf[ok] - prior[ok, j]
        den = float((lift**2).sum())
        if den > 0:
            num = float((lift * (data.quality[ok, j] - prior[ok, j])).sum())
            out[model] = round(float(np.clip(num / den, 0.0, 1.0)), 4)
    return out


def bench_graphs(
    result: dict[str, Any],
    data: RoutingDataset,
    graph_ids: Sequence[str],
    router: Router | None,
    evaluator: Any,
    sample: int | None = 200,
    seed: int = 0,
    progress: Progress | None = None,
    split: str = "random",
) -> dict[str, Any]:
    """Run ``graph_ids`` on a fixed-seed sample of the benchmark's test split and store their
    records in ``result["graphs"]``.

    Each record is summarised against the references of the *sample* (its own strong / weak
    quality and cost), and ``router_level`` holds the router-level record of the same router on
    the same sample, so the two levels can be compared point for point.
    """
    from routegraph.app.bench.baselines import references
    from routegraph.app.bench.harness import bench_splits, score_router, summarize_against

    unknown = set(graph_ids) - set(GRAPH_LEVEL_IDS)
    if unknown:
        raise InvalidInputError("graph", f"unknown graph(s) {sorted(unknown)}", GRAPH_LEVEL_IDS)
    train, validation, test, _ = bench_splits(data, seed=seed, mode=split)
    subset = sample_rows(test, sample, seed)
    refs = references(subset)

    def summary(points: OperatingPoints) -> dict[str, Any]:
        return summarize_against(points, refs.as_dict())

    graphs = result.setdefault("graphs", {})
    router_level = None
    if router is not None:
        decision_cost = np.nanmean(train.cost_usd, axis=0)
        router_level = summary(score_router(router, subset, refs, decision_cost))
    resolution = (
        fit_evaluator_resolution(validation, router, evaluator)
        if "cascade_routing" in graph_ids
        else {}
    )
    for graph_id in graph_ids:
        settings, labels = default_settings(
            graph_id,
            subset,
            router,
            refs,
            resolution=resolution,
            validation=validation,
            evaluator=evaluator,
        )
        points = run_points(
            graph_id,
            subset,
            refs,
            settings,
            router=router,
            evaluator=evaluator,
            labels=labels,
            progress=progress,
        )
        record = summary(points)
        record.update(
            {
                "split": split,
                "n_prompts": len(subset),
                "router": getattr(router, "kind", None),
                "evaluator": getattr(evaluator, "name", str(evaluator)),
                "references": refs.as_dict(),
            }
        )
        if graph_id == "cascade_routing":
            record["evaluator_resolution"] = resolution
        if router_level is not None:
            record["router_level_on_sample"] = {
                k: router_level[k] for k in ("apgr", "cpt50", "cpt80", "aiq") if k in router_level
            }
        graphs[graph_id] = record
    return graphs


def has_answer_texts(data: RoutingDataset) -> bool:
    return data.responses is not None and any(t for row in data.responses for t in row)


def graph_evaluator(
    name: str | None, data: RoutingDataset, train: RoutingDataset, from_file: bool
) -> Any:
    """The evaluator the graphs judge recorded answers with (see ``bench --evaluator``)."""
    from routegraph.evaluators.recorded import RecordedConfidence, fit_file_verifier
    from routegraph.evaluators.registry import make_evaluator

    if name is None:
        if data.confidence is not None and np.isfinite(data.confidence).any():
            name = "recorded"
        elif from_file and has_answer_texts(data):
            name = "fitted"
        else:
            name = "verifier"
    if name == "recorded":
        return RecordedConfidence(data)
    if name == "fitted":
        return fit_file_verifier(train)
    if from_file and name == "verifier" and not has_answer_texts(data):
        raise InvalidInputError(
            "--evaluator",
            f"{data.name} records neither answer texts nor confidences, so a cascade cannot "
            "judge its answers",
            "a file with M|model_response or M|confidence columns",
        )
    return make_evaluator(name, model=None)  # type: ignore[arg-type]


def sample_rows(test: RoutingDataset, sample: int | None, seed: int) -> RoutingDataset:
    """A fixed-seed sample of ``sample`` test prompts (all of them when None or larger)."""
    if sample is None or sample >= len(test):
        return test
    rows = np.sort(np.random.default_rng(seed).choice(len(test), size=sample, replace=False))
    return test.subset(rows)

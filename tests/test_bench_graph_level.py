"""Graph-level benchmark: real graphs over replayed test prompts agree with router level."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.app.bench.baselines import references
from routegraph.app.bench.graph_level import (
    SWEEP_POINTS,
    bench_graphs,
    default_settings,
    run_points,
    sample_rows,
)
from routegraph.app.bench.harness import bench_split, bench_splits
from routegraph.core.data import load_dataset
from routegraph.evaluators.reference import ReferenceScorer
from routegraph.routers.heuristic import HeuristicRouter


@pytest.fixture(scope="module")
def gsm8k_sample():
    ds = load_dataset("gsm8k")
    _, test, _ = bench_split(ds, seed=0)
    subset = sample_rows(test, 24, seed=0)
    router = HeuristicRouter(list(ds.models))
    router.meta_.update(strong_model=ds.strong_model, weak_model=ds.weak_model)
    return ds, subset, router


@pytest.fixture(scope="module")
def gsm8k_validation():
    _, validation, _, _ = bench_splits(load_dataset("gsm8k"), seed=0)
    return validation


def test_simple_graph_points_equal_router_level_decisions(gsm8k_sample, gsm8k_validation) -> None:
    _, subset, router = gsm8k_sample
    refs = references(subset)
    settings, labels = default_settings("simple", subset, router, refs, validation=gsm8k_validation)
    assert len(settings) >= 8
    points = run_points(
        "simple", subset, refs, settings, router=router, evaluator=ReferenceScorer(), labels=labels
    )
    p = router.strong_probability(subset.prompts)
    s, w = refs.strong_index, refs.weak_index
    for t, share, quality, cost in zip(
        points.threshold, points.strong_share, points.quality, points.cost_usd, strict=True
    ):
        strong = p >= t
        expected_q = np.where(strong, subset.quality[:, s], subset.quality[:, w]).mean()
        expected_c = np.where(strong, subset.cost_usd[:, s], subset.cost_usd[:, w]).mean()
        assert share == pytest.approx(strong.mean())
        assert quality == pytest.approx(expected_q)
        assert cost == pytest.approx(expected_c, rel=1e-9)


def test_bench_graphs_records_have_the_router_shape(gsm8k_sample) -> None:
    ds, _, router = gsm8k_sample
    result: dict = {}
    graphs = bench_graphs(result, ds, ["cascade"], router, ReferenceScorer(), sample=24)
    record = graphs["cascade"]
    assert {"apgr", "cpt50", "cpt80", "aiq", "cost_at_95pct_strong", "curve"} <= set(record)
    first, last = record["curve"][0], record["curve"][-1]
    # threshold 0 accepts every weak answer; the all-strong point sends everything up
    assert first["strong_share"] == 0.0
    assert last["strong_share"] == 1.0
    assert record["n_prompts"] == 24


class _Oracle:
    """Confidence = the recorded correctness (or its opposite) of the answer."""

    name = "oracle"

    def __init__(self, subset, flip: bool = False):
        self.truth = {
            (p, m): float(subset.quality[i, j])
            for i, p in enumerate(subset.prompts)
            for j, m in enumerate(subset.models)
        }
        self.flip = flip

    def evaluate(self, item):
        from routegraph.evaluators.base import Confidence

        q = self.truth[(item.query, item.model)]
        return Confidence(1.0 - q if self.flip else q, self.name, {})


def test_fit_evaluator_resolution_trusts_an_oracle_and_ignores_an_anti_oracle(gsm8k_sample):
    from routegraph.app.bench.graph_level import fit_evaluator_resolution

    _, subset, router = gsm8k_sample
    assert set(fit_evaluator_resolution(subset, router, _Oracle(subset)).values()) == {1.0}
    assert set(fit_evaluator_resolution(subset, router, _Oracle(subset, True)).values()) == {0.0}


def test_cascade_routing_sweep_carries_the_resolution(gsm8k_sample):
    _, subset, router = gsm8k_sample
    refs = references(subset)
    settings, labels = default_settings(
        "cascade_routing", subset, router, refs, resolution={"m": 0.5}
    )
    assert len(settings) == len(labels) >= 14 and labels[0] == 0.0
    assert all(s["evaluator_resolution"] == {"m": 0.5} for s in settings)


class _LengthScore:
    """A continuous, answer-dependent confidence: the fractional part of 0.618 * length."""

    name = "length"

    def evaluate(self, item):
        from routegraph.evaluators.base import Confidence

        return Confidence((0.618 * len(item.answer)) % 1.0, self.name, {})


def _weak_confidences(data, weak, evaluator):
    from routegraph.evaluators.base import EvaluationInput

    j = list(data.models).index(weak)
    return [
        evaluator.evaluate(EvaluationInput(p, row[j], weak)).score
        for p, row in zip(data.prompts, data.responses, strict=True)
        if row[j] is not None
    ]


def test_threshold_sweeps_are_placed_at_validation_quantiles(gsm8k_sample, gsm8k_validation):
    _, subset, router = gsm8k_sample
    validation, refs, evaluator = gsm8k_validation, references(subset), _LengthScore()
    assert not set(validation.prompts) & set(subset.prompts)
    levels = np.linspace(0, 1, SWEEP_POINTS)[1:-1]

    def quantiles(scores):
        return np.unique(np.quantile(np.asarray(scores, float), levels))

    # cascade: 0, the interior cut-offs, then the all-strong one-tier cascade
    settings, labels = default_settings(
        "cascade", subset, router, refs, validation=validation, evaluator=evaluator
    )
    assert len(settings) == SWEEP_POINTS and settings[-1] == {"models": [refs.strong]}
    cuts = np.asarray(labels[1:-1])
    assert labels[0] == 0.0
    assert cuts == pytest.approx(quantiles(_weak_confidences(validation, refs.weak, evaluator)))
    on_test = quantiles(_weak_confidences(subset, refs.weak, evaluator))
    assert cuts != pytest.approx(on_test)
    assert not set(np.round(cuts, 6)) & set(np.round(np.linspace(0, 1, 8), 6))

    # simple: 1 (all weak), the interior cut-offs descending, 0 (all strong)
    settings, labels = default_settings("simple", subset, router, refs, validation=validation)
    p_val = router.strong_probability(validation.prompts, refs.strong, refs.weak)
    p_test = router.strong_probability(subset.prompts, refs.strong, refs.weak)
    assert labels[0] == 1.0 and labels[-1] == 0.0
    assert labels == sorted(labels, reverse=True)
    assert sorted(labels[1:-1]) == pytest.approx(quantiles(p_val))
    assert sorted(labels[1:-1]) != pytest.approx(quantiles(p_test))


def test_threshold_sweeps_refuse_to_run_without_validation(gsm8k_sample):
    from routegraph.core.errors import InvalidInputError

    _, subset, router = gsm8k_sample
    with pytest.raises(InvalidInputError):
        default_settings("cascade", subset, router, references(subset), evaluator=_LengthScore())

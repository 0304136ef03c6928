"""Graphs take a calibrated target instead of a raw threshold (branch logic, fake models)."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.core.errors import InvalidInputError
from routegraph.graphs.hybrid import build_hybrid_graph
from routegraph.graphs.simple import build_simple_graph
from routegraph.routers.guarantee import calibration_record, guaranteed_threshold
from tests.fakes import TableEvaluator
from tests.test_graph_branches import BASE, CATALOG, FixedRouter, ask, fakes, handle, meta


def calibrated(p_strong: float) -> FixedRouter:
    """A fixed-score router carrying a calibration set: scores spread over [0, 1], the strong
    model right more often on high scores."""
    router = FixedRouter({"small": 0.5, "large": 0.9}, p_strong)
    rng = np.random.default_rng(0)
    p = rng.random(2000)
    q_weak = (rng.random(2000) < 0.9 - 0.5 * p).astype(float)
    q_strong = (rng.random(2000) < 0.95).astype(float)
    ones = np.ones(2000)
    router.meta_["calibration_set"] = calibration_record(
        p, q_strong, q_weak, ones * 10, ones, "large", "small"
    )
    return router


def simple(router: FixedRouter):
    return build_simple_graph(
        models=fakes(small="4 (small)", large="4 (large)"),
        router=handle(router),
        evaluator=TableEvaluator({"small": 0.2, "large": 0.9}),
        catalog=CATALOG,
    )


@pytest.mark.parametrize(("p_strong", "expected"), [(0.9, "large"), (0.5, "small")])
def test_strong_share_target_sets_the_threshold(p_strong: float, expected: str) -> None:
    out = ask(simple(calibrated(p_strong)), **BASE, target="strong_share=0.3")
    decision = out["decisions"][0]
    assert decision["threshold"] == pytest.approx(0.7, abs=0.03)  # 30% of scores lie above
    assert "strong_share=0.3 on 2000 calibration prompts" in decision["reason"]
    assert meta(out)["chosen_model"] == expected


def test_guaranteed_quality_target_uses_the_certified_threshold() -> None:
    router = calibrated(0.55)
    record = router.meta_["calibration_set"]
    safe = guaranteed_threshold(record, "quality_fraction", 0.9, 0.9)["threshold"]
    graph = build_hybrid_graph(
        models=fakes(small="4 (small)", large="4 (large)"),
        router=handle(router),
        evaluator=TableEvaluator({"small": 0.99, "large": 0.9}),
        catalog=CATALOG,
    )
    out = ask(graph, **BASE, target="quality_fraction=0.9", target_confidence=0.9)
    decision = out["decisions"][0]
    assert decision["threshold"] == pytest.approx(safe)
    assert "guaranteed with 90% confidence" in decision["reason"]
    expected = "large" if safe <= 0.55 else "small"
    assert meta(out)["chosen_model"] == expected


def test_a_router_without_calibration_refuses_a_target() -> None:
    with pytest.raises(InvalidInputError, match="stores no calibration"):
        ask(
            simple(FixedRouter({"small": 0.5, "large": 0.9}, 0.9)),
            **BASE,
            target="strong_share=0.3",
        )

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


# --- which router column scored each candidate ----------------------------------------------
class TwoColumnRouter(FixedRouter):
    """Trained on two other models: P(strong) is the gap between the two named columns."""

    def __init__(self) -> None:
        super().__init__({"m-weak": 0.2, "m-mid": 0.5, "m-strong": 0.9})

    def strong_probability(self, prompts, strong=None, weak=None):
        s, w = self.strong_weak_columns(strong, weak)
        q = self.predict_quality(prompts)
        return np.clip(0.5 + 0.5 * (q[:, s] - q[:, w]), 0, 1)


def test_decisions_say_which_router_column_scored_each_candidate() -> None:
    router = TwoColumnRouter()
    router.meta_.update(strong_model="m-strong", weak_model="m-weak")
    out = ask(simple(router), **BASE, threshold=0.6)
    first = out["decisions"][0]
    # 3 columns for 2 candidates: no price-rank match, the router's own weak / strong pair
    assert first["router_columns"] == {"small": "m-weak", "large": "m-strong"}
    assert first["scores"]["p_strong"] == pytest.approx(0.85)  # 0.5 + 0.5 * (0.9 - 0.2)
    explicit = {"small": "m-mid", "large": "m-strong"}
    out = ask(simple(router), **BASE, threshold=0.6, router_columns=explicit)
    decision = out["decisions"][0]
    assert decision["router_columns"] == explicit
    assert decision["scores"]["p_strong"] == pytest.approx(0.7)  # 0.5 + 0.5 * (0.9 - 0.5)
    assert meta(out)["chosen_model"] == "large"
    with pytest.raises(InvalidInputError, match="router_columns"):
        ask(simple(router), **BASE, router_columns={"small": "no-such-model"})

"""Graphs take a calibrated target instead of a raw threshold (branch logic, fake models)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from routegraph.core.errors import InvalidInputError
from routegraph.graphs.hybrid import build_hybrid_graph
from routegraph.graphs.simple import build_simple_graph
from routegraph.routers.guarantee import calibration_record
from tests.fakes import TableEvaluator
from tests.test_graph_branches import BASE, CATALOG, FixedRouter, ask, fakes, handle, meta
from tests.test_router_guarantee import largest_certified_count

N_CALIBRATION = 2000


def calibrated(p_strong: float) -> FixedRouter:
    """A fixed-score router carrying a calibration set: scores uniform on [0, 1), the strong
    model right with probability 0.95, the weak one with 0.9 - 0.5 * score.

    On the distribution these prompts come from, routing every score >= t to the strong model
    has quality 0.95 - 0.05 t - 0.25 t^2 (the weak model's quality integrated below t), so
    ``quality_fraction=0.9`` holds exactly for t <= ``QUALITY_CUT``.
    """
    router = FixedRouter({"small": 0.5, "large": 0.9}, p_strong)
    rng = np.random.default_rng(0)
    p = rng.random(N_CALIBRATION)
    q_weak = (rng.random(N_CALIBRATION) < 0.9 - 0.5 * p).astype(float)
    q_strong = (rng.random(N_CALIBRATION) < 0.95).astype(float)
    ones = np.ones(N_CALIBRATION)
    router.meta_["calibration_set"] = calibration_record(
        p, q_strong, q_weak, ones * 10, ones, "large", "small"
    )
    return router


QUALITY_CUT = (-0.2 + math.sqrt(0.2**2 + 4 * 0.38)) / 2
"""Root of t^2 + 0.2 t - 0.38 = 0, i.e. (0.95 - 0.05 t - 0.25 t^2) / 0.95 = 0.9: 0.5245."""


def simple(router: FixedRouter):
    return build_simple_graph(
        models=fakes(small="4 (small)", large="4 (large)"),
        router=handle(router),
        evaluator=TableEvaluator({"small": 0.2, "large": 0.9}),
        catalog=CATALOG,
    )


def calibration_arrays(router: FixedRouter) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    record = router.meta_["calibration_set"]
    p, qs, qw = (np.asarray(record[k], dtype=float) for k in ("p_strong", "q_strong", "q_weak"))
    return p, qs, qw


@pytest.mark.parametrize(("p_strong", "expected"), [(0.9, "large"), (0.5, "small")])
def test_strong_share_target_sets_the_threshold(p_strong: float, expected: str) -> None:
    router = calibrated(p_strong)
    out = ask(simple(router), **BASE, target="strong_share=0.3")
    decision = out["decisions"][0]
    assert decision["threshold"] == pytest.approx(0.7, abs=0.03)  # 30% of U(0, 1) lie above
    # on the calibration scores themselves: 30% at or above it, to one step of the <= 400
    # quantiles tried (the point form takes the share nearest the target)
    p, _, _ = calibration_arrays(router)
    assert float((p >= decision["threshold"]).mean()) == pytest.approx(0.3, abs=1 / 399)
    assert "strong_share=0.3 on 2000 calibration prompts" in decision["reason"]
    assert meta(out)["chosen_model"] == expected


@pytest.mark.parametrize(("p_strong", "expected"), [(0.9, "large"), (0.5, "small")])
def test_guaranteed_strong_share_target_certifies_the_share(p_strong: float, expected: str) -> None:
    router = calibrated(p_strong)
    out = ask(simple(router), **BASE, target="strong_share=0.3", target_confidence=0.9)
    decision = out["decisions"][0]
    assert "guaranteed with 90% confidence" in decision["reason"]
    p, _, _ = calibration_arrays(router)
    count = int((p >= decision["threshold"]).sum())
    # exact binomial brute force: the most strong calls of 2000 whose 90% upper bound is <= 0.3
    k_max = largest_certified_count(N_CALIBRATION, 0.3, 0.9)
    assert 0.28 < k_max / N_CALIBRATION < 0.3
    assert k_max - math.ceil(N_CALIBRATION / 399) <= count <= k_max
    assert meta(out)["chosen_model"] == expected


@pytest.mark.parametrize(("p_strong", "expected"), [(0.6, "large"), (0.3, "small")])
def test_guaranteed_quality_target_uses_a_certified_threshold(
    p_strong: float, expected: str
) -> None:
    router = calibrated(p_strong)
    graph = build_hybrid_graph(
        models=fakes(small="4 (small)", large="4 (large)"),
        router=handle(router),
        evaluator=TableEvaluator({"small": 0.99, "large": 0.9}),
        catalog=CATALOG,
    )
    out = ask(graph, **BASE, target="quality_fraction=0.9", target_confidence=0.9)
    decision = out["decisions"][0]
    threshold = decision["threshold"]
    assert "guaranteed with 90% confidence" in decision["reason"]
    # The guarantee: 90% of the strong model's quality on the distribution, which only a
    # threshold <= QUALITY_CUT (0.5245) gives - although the calibration split alone would
    # allow a higher one (the fewest strong calls reaching 90% on it, by brute force), which
    # is what the uncertified point form returns.
    p, qs, qw = calibration_arrays(router)

    def calibration_fraction(t: float) -> float:
        return float(np.where(p >= t, qs, qw).mean() / qs.mean())

    point_cut = max(t for t in np.unique(p) if calibration_fraction(t) >= 0.9)
    assert point_cut > QUALITY_CUT
    assert threshold <= QUALITY_CUT
    assert calibration_fraction(threshold) >= 0.9
    # Not far below: certification needs the mean of Z = 0.9 q_strong - q_routed under about
    # -0.035 (empirical Bernstein at n = 2000, delta = 0.1, Var(Z) < 0.2), which the
    # distribution meets up to t = 0.4; 0.35 leaves room for the calibration draw's noise.
    assert threshold > 0.35
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

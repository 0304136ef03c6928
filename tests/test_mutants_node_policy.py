"""The policies' shared facts (``nodes/policy.py``), pinned on both sides of each boundary.

Written for the mutation run on ``nodes/policy.py`` (``mutation/node_policy.toml``; the name
``policy`` is the server's): which models were tried and which answered, the planning estimate of a
query's tokens (a quarter of its characters, at least 1) and of a call's cost (half the answer
allowance), planning costs weighed by ``cost_weight`` or relative to the priciest candidate (0.25
points; all free below a price of zero), and this turn's router threshold (a calibrated target only
with a router, halved after a strong answer to a sticky follow-up). Written before the run, which
applied every mutant: all but one equivalent were killed. Every expected value is worked out by
hand; the catalog is the fakes' (medium: 1 USD a million tokens in, 2 out).
"""

from __future__ import annotations

from typing import Any

import pytest

from routegraph.core.context import RouteContext
from routegraph.nodes.policy import (
    answered,
    approx_tokens,
    expected_cost,
    planning_costs,
    router_threshold,
    tried,
)
from routegraph.nodes.resources import Toolkit
from tests.fakes import tiny_catalog

RELATIVE = "cost relative to the priciest candidate (0.25 points at its price)"


class _Calibrated:
    """A router handle whose stored calibration gives 0.3 for every target."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, Any]] = []

    def target_threshold(self, target: str, confidence: float | None = None) -> tuple[float, str]:
        self.asked.append((target, confidence))
        return 0.3, "calibrated"


def test_tried_lists_every_call_and_answered_skips_the_unavailable() -> None:
    attempts: list[Any] = [
        {"model": "a", "source": "unavailable"},
        {"model": "b", "source": "live"},
        {"model": "c", "source": "recorded"},
    ]
    state: Any = {"attempts": attempts}
    assert tried(state) == ["a", "b", "c"]
    assert answered(state) == attempts[1:]
    assert tried({}) == [] and answered({}) == []  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("chars", "tokens"), [(0, 1), (3, 1), (4, 1), (7, 1), (8, 2), (9, 2), (12, 3), (20, 5)]
)
def test_a_query_counts_a_quarter_of_its_characters_and_at_least_one_token(
    chars: int, tokens: int
) -> None:
    assert approx_tokens("x" * chars) == tokens
    assert isinstance(approx_tokens("x" * chars), int)


def test_a_calls_expected_cost_counts_half_the_answer_allowance() -> None:
    kit = Toolkit(catalog=tiny_catalog())
    query = "x" * 40  # 10 tokens
    # 255 // 2 = 127 answer tokens: (10 x 1 + 127 x 2) / 1e6
    odd = RouteContext(max_tokens=255)
    assert expected_cost(kit, odd, "medium", query) == pytest.approx(264e-6, rel=1e-12)
    even = RouteContext(max_tokens=256)  # 128: (10 + 256) / 1e6
    assert expected_cost(kit, even, "medium", query) == pytest.approx(266e-6, rel=1e-12)
    assert expected_cost(kit, even, "small", query) == 0.0


def test_a_cost_weight_prices_usd_per_1k_queries() -> None:
    ctx = RouteContext(cost_weight=2.0)
    costs, how = planning_costs(Toolkit(), ctx, ["a", "b"], "q", usd={"a": 0.001, "b": 0.0})
    assert costs == {"a": pytest.approx(2.0, rel=1e-12), "b": 0.0}
    assert how == "2.0 x cost per 1k queries"


def test_without_a_weight_the_priciest_candidate_costs_a_quarter_point() -> None:
    usd = {"x": 2.0, "y": 4.0, "z": 0.0}
    costs, how = planning_costs(Toolkit(), RouteContext(), list(usd), "q", usd=usd)
    assert costs == {"x": 0.125, "y": 0.25, "z": 0.0}
    assert how == RELATIVE
    cheap = {"x": 0.0005, "y": 0.001}  # prices under 1 USD are not free
    costs, how = planning_costs(Toolkit(), RouteContext(), list(cheap), "q", usd=cheap)
    assert costs == {"x": pytest.approx(0.125, rel=1e-12), "y": pytest.approx(0.25, rel=1e-12)}
    assert how == RELATIVE


def test_all_free_or_no_candidates_cost_nothing() -> None:
    free = {"a": 0.0, "b": 0.0}
    assert planning_costs(Toolkit(), RouteContext(), list(free), "q", usd=free) == (
        {"a": 0.0, "b": 0.0},
        "all candidates free",
    )
    assert planning_costs(Toolkit(), RouteContext(), [], "q", usd={}) == ({}, "all candidates free")


def test_without_usd_given_the_catalog_prices_the_query() -> None:
    kit = Toolkit(catalog=tiny_catalog())
    ctx = RouteContext(max_tokens=256)
    # medium: (10 + 256) / 1e6; large: (10 x 10 + 128 x 30) / 1e6 = 3940e-6; small: free
    costs, how = planning_costs(kit, ctx, ["small", "medium", "large"], "x" * 40)
    assert costs == {
        "small": 0.0,
        "medium": pytest.approx(0.25 * 266 / 3940, rel=1e-12),
        "large": pytest.approx(0.25, rel=1e-12),
    }
    assert how == RELATIVE
    weighted = RouteContext(max_tokens=256, cost_weight=1.0)
    costs, _ = planning_costs(kit, weighted, ["medium"], "x" * 40)
    assert costs == {"medium": pytest.approx(0.266, rel=1e-12)}


def test_the_threshold_is_the_contexts_without_a_target_or_a_router() -> None:
    router = _Calibrated()
    assert router_threshold({}, RouteContext(threshold=0.4)) == (0.4, "")  # type: ignore[arg-type]
    assert router_threshold({}, RouteContext(threshold=0.4), router) == (0.4, "")  # type: ignore[arg-type]
    targeted = RouteContext(threshold=0.4, target="strong_share")
    assert router_threshold({}, targeted) == (0.4, "")  # type: ignore[arg-type]
    assert router.asked == []


def test_a_target_takes_the_routers_calibrated_threshold() -> None:
    router = _Calibrated()
    ctx = RouteContext(threshold=0.4, target="strong_share", target_confidence=0.9)
    assert router_threshold({}, ctx, router) == (0.3, " (calibrated)")  # type: ignore[arg-type]
    assert router.asked == [("strong_share", 0.9)]


def _history(*strong: bool) -> Any:
    return {"history": [{"strong": s, "chosen_model": f"m{i}"} for i, s in enumerate(strong)]}


def test_a_sticky_follow_up_to_a_strong_answer_halves_the_threshold() -> None:
    sticky = RouteContext(threshold=0.5, follow_up="sticky")
    halved = (0.25, " (sticky follow-up after m1: threshold halved)")
    assert router_threshold(_history(False, True), sticky) == halved
    assert router_threshold(_history(True, True), sticky) == halved
    assert router_threshold(_history(True, False), sticky) == (0.5, "")
    assert router_threshold({"history": []}, sticky) == (0.5, "")  # type: ignore[typeddict-item]
    assert router_threshold({}, sticky) == (0.5, "")  # type: ignore[arg-type]
    fresh = RouteContext(threshold=0.5, follow_up="fresh")
    assert router_threshold(_history(False, True), fresh) == (0.5, "")


def test_a_sticky_follow_up_halves_the_calibrated_threshold_and_says_both() -> None:
    ctx = RouteContext(threshold=0.4, target="strong_share", follow_up="sticky")
    assert router_threshold(_history(True), ctx, _Calibrated()) == (
        0.15,
        " (calibrated) (sticky follow-up after m0: threshold halved)",
    )

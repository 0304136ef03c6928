"""Routing metrics against values worked out by hand on a four-prompt table.

The table (strong = 10 USD a call, weak = 1 USD):

    prompt   strong correct   weak correct
    0        yes              yes
    1        yes              no
    2        no               no
    3        yes              no

Strong quality 0.75, weak 0.25, so the gap is 0.5 and one prompt moved to the strong model
that it answers (and the weak one does not) recovers PGR 0.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.core import metrics
from routegraph.core.errors import InvalidInputError

QS = np.array([1.0, 1.0, 0.0, 1.0])
QW = np.array([1.0, 0.0, 0.0, 0.0])
CS = np.full(4, 10.0)
CW = np.full(4, 1.0)
STRONG = (0.75, 10.0)
WEAK = (0.25, 1.0)


def curve_for(scores: list[float]) -> metrics.OperatingPoints:
    return metrics.threshold_curve(np.array(scores), QS, QW, CS, CW)


def test_threshold_curve_walks_prompts_from_highest_score():
    pts = curve_for([0.1, 0.9, 0.5, 0.7])  # order: 1, 3, 2, 0
    np.testing.assert_allclose(pts.strong_share, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(pts.quality, [0.25, 0.5, 0.75, 0.75, 0.75])
    np.testing.assert_allclose(pts.cost_usd, [1.0, 3.25, 5.5, 7.75, 10.0])
    np.testing.assert_allclose(pts.threshold[1:], [0.9, 0.7, 0.5, 0.1])
    assert pts.threshold[0] > 0.9  # "all weak": just above the best score


def test_hand_computed_summary():
    rec = metrics.summarize_curve(curve_for([0.1, 0.9, 0.5, 0.7]), STRONG, WEAK)
    # PGR 0, .5, 1, 1, 1 at shares 0, .25, .5, .75, 1 -> trapezoids .0625 + .1875 + .25 + .25
    assert rec["apgr"] == pytest.approx(0.75)
    assert rec["cpt50"] == pytest.approx(0.25)
    assert rec["cpt80"] == pytest.approx(0.25 + 0.3 / 0.5 * 0.25)  # 0.4, between two points
    # hull (1, .25) -> (5.5, .75), flat to 10: area 2.25 + 3.375 over a width of 9
    assert rec["aiq"] == pytest.approx(5.625 / 9)
    # 95% of .75 = .7125 reached on the hull at 1 + .925 * 4.5
    assert rec["cost_at_95pct_strong"] == pytest.approx(5.1625)
    assert rec["cost_ratio_at_95pct_strong"] == pytest.approx(0.51625)
    assert rec["cost_ratio_at_strong_quality"] == pytest.approx(0.55)  # .75 first at cost 5.5
    assert rec["quality_at_half_strong_cost"] == pytest.approx(0.25 + 4 / 4.5 * 0.5)
    assert len(rec["curve"]) == 5
    assert set(rec["curve"][0]) == {"threshold", "strong_share", "quality", "cost_usd"}


def test_tied_scores_cannot_be_split():
    pts = curve_for([0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(pts.strong_share, [0.0, 1.0])
    rec = metrics.summarize_curve(pts, STRONG, WEAK)
    assert rec["apgr"] == pytest.approx(0.5)
    assert rec["cpt50"] == pytest.approx(0.5)


def test_worst_router_is_below_random():
    rec = metrics.summarize_curve(curve_for([0.9, 0.1, 0.8, 0.2]), STRONG, WEAK)
    assert rec["apgr"] < 0.5


def test_single_models_and_oracle_rows_are_exact():
    q, c = np.c_[QW, QS], np.c_[CW, CS]
    rows = metrics.single_models(q, c, ["weak", "strong"])
    assert rows == {
        "weak": {"quality": 0.25, "cost_usd": 1.0},
        "strong": {"quality": 0.75, "cost_usd": 10.0},
    }
    # prompt 0: weak suffices; 1 and 3: strong; 2: nobody is right -> cheapest (weak)
    np.testing.assert_array_equal(metrics.oracle_choice(q, c), [0, 1, 0, 1])
    assert metrics.oracle(q, c) == {"quality": 0.75, "cost_usd": 5.5}


def test_random_scores_average_to_half_and_perfect_router_beats_them():
    rng = np.random.default_rng(123)
    n = 3000
    qs = (rng.random(n) < 0.8).astype(float)
    qw = (rng.random(n) < 0.65).astype(float)
    cs, cw = np.full(n, 0.01), np.full(n, 0.0005)
    rand = metrics.random_routing(qs, qw, cs, cw, seeds=20, seed=7)
    assert rand["apgr"] == pytest.approx(0.5, abs=0.05)
    curve = rand["curve"]
    assert curve[0]["quality"] == pytest.approx(qw.mean())
    assert curve[-1]["quality"] == pytest.approx(qs.mean())
    assert curve[5]["strong_share"] == pytest.approx(0.5)
    assert curve[5]["quality_std"] > 0

    strong, weak = (qs.mean(), cs.mean()), (qw.mean(), cw.mean())
    perfect = metrics.summarize_curve(
        metrics.threshold_curve(qs - qw, qs, qw, cs, cw), strong, weak
    )
    assert perfect["apgr"] > 0.5
    assert perfect["cpt80"] < 0.5
    # its best point is the oracle's quality (no strong-only-wrong prompt goes strong)
    assert perfect["max_quality"] == pytest.approx(np.maximum(qs, qw).mean())


def test_cpt_on_hand_made_curve_and_unreachable_level():
    share = np.array([0.0, 0.2, 0.6, 1.0])
    g = np.array([0.0, 0.4, 0.9, 1.0])
    assert metrics.cpt(share, g, 0.5) == pytest.approx(0.2 + 0.1 / 0.5 * 0.4)
    assert metrics.cpt(share, g, 0.9) == pytest.approx(0.6)
    assert np.isnan(metrics.cpt(share, g, 1.5))
    assert metrics.apgr(share, g) == pytest.approx(0.04 + 0.26 + 0.38)


def test_nondecreasing_hull_drops_dominated_and_interior_points():
    cost = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    quality = np.array([0.2, 0.3, 0.7, 0.6, 0.8])  # (2, .3) is under the hull, (4, .6) dominated
    hc, hq = metrics.nondecreasing_hull(cost, quality)
    np.testing.assert_allclose(hc, [1.0, 3.0, 5.0])
    np.testing.assert_allclose(hq, [0.2, 0.7, 0.8])
    # over [0, 6]: 0 below cost 1, then trapezoids .9 + .75, flat .8 from 5 to 6
    assert metrics.aiq(cost, quality, (0.0, 6.0)) == pytest.approx((0.9 + 1.5 + 0.8) / 6)


def test_lambda_sweep_moves_from_best_predicted_to_cheapest():
    # three models, cheapest first; the router predicts the truth
    quality = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    cost = np.tile([1.0, 2.0, 4.0], (4, 1))
    strong, weak = metrics.reference_models(quality, cost)
    assert (strong, weak) == (2, 0)
    pts, choices = metrics.lambda_curve(quality, [1.0, 2.0, 4.0], quality, cost, strong)
    np.testing.assert_array_equal(choices[0], [0, 1, 2, 0])  # lambda 0 = the oracle here
    np.testing.assert_array_equal(choices[-1], [0, 0, 0, 0])  # huge lambda: all cheapest
    assert pts.quality[0] == pytest.approx(0.75)
    assert pts.cost_usd[0] == pytest.approx(2.0)
    assert pts.strong_share[0] == pytest.approx(0.25)
    assert pts.quality[-1] == pytest.approx(0.25)
    assert np.all(np.diff(pts.threshold) > 0)


def test_bad_inputs_name_the_field():
    with pytest.raises(InvalidInputError, match="q_weak"):
        metrics.threshold_curve(np.ones(3), np.ones(3), np.ones(2), np.ones(3), np.ones(3))
    with pytest.raises(InvalidInputError, match="p_strong"):
        metrics.threshold_curve(np.array([np.nan]), *[np.ones(1)] * 4)
    with pytest.raises(InvalidInputError, match="points"):
        metrics.OperatingPoints.from_records([{"quality": 1.0}])


def test_equal_references_give_null_pgr_metrics():
    q = np.ones(4)
    rec = metrics.summarize_curve(
        metrics.threshold_curve(np.arange(4.0), q, q, CS, CW), (1.0, 10.0), (1.0, 1.0)
    )
    assert rec["apgr"] is None and rec["cpt50"] is None

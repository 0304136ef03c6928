"""``routers/guarantee.py``: the mutants that survived its mutation run (mutation/guarantee.toml)
with the guarantee tests alone, each pinned here with values worked out by hand.

The point thresholds use a four-prompt calibration set (strong model 4, weak 1 USD per 1,000
calls)::

    p_strong  q_strong  q_weak
    0.9       1         0
    0.7       1         0
    0.4       1         1
    0.1       0         0

    threshold  strong share  quality  USD per 1,000
    above 0.9  0.0           0.25     1.00
    0.9        0.25          0.50     1.75
    0.7        0.5           0.75     2.50
    0.4        0.75          0.75     3.25
    0.1        1.0           0.75     4.00

The strong model's own quality is 0.75.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from routegraph.core.errors import InvalidInputError
from routegraph.routers.guarantee import (
    _largest_certified_count,
    bernstein_upper,
    calibration_record,
    candidate_thresholds,
    guaranteed_threshold,
    point_threshold,
)
from tests.test_router_guarantee import largest_certified_count

P = [0.9, 0.7, 0.4, 0.1]
ABOVE_TOP = float(np.nextafter(0.9, np.inf))


def record(**changes: list[float]) -> dict:
    columns = {
        "p": P,
        "q_strong": [1.0, 1.0, 1.0, 0.0],
        "q_weak": [0.0, 0.0, 1.0, 0.0],
        "c_strong": [0.004] * 4,
        "c_weak": [0.001] * 4,
    } | changes
    return calibration_record(*(np.array(v) for v in columns.values()), "strong", "weak")


@pytest.mark.parametrize(
    ("share", "threshold"), [(0.0, ABOVE_TOP), (0.3, 0.9), (0.5, 0.7), (0.7, 0.4), (1.0, 0.1)]
)
def test_point_strong_share_counts_a_score_equal_to_the_threshold_as_strong(share, threshold):
    assert point_threshold(record(), "strong_share", share) == threshold


@pytest.mark.parametrize(
    ("budget", "threshold"), [(1.0, ABOVE_TOP), (2.0, 0.9), (2.5, 0.7), (3.3, 0.4), (9.0, 0.1)]
)
def test_point_cost_target_takes_the_most_strong_calls_within_the_budget(budget, threshold):
    assert point_threshold(record(), "cost_per_1k", budget) == threshold


def test_point_cost_target_below_the_cheapest_routing_is_refused():
    with pytest.raises(InvalidInputError, match=r"below the cheapest routing.*>= 1$"):
        point_threshold(record(), "cost_per_1k", 0.99)


@pytest.mark.parametrize(
    ("fraction", "threshold"),
    [(0.3, ABOVE_TOP), (1 / 3, ABOVE_TOP), (0.5, 0.9), (2 / 3, 0.9), (0.7, 0.7), (1.0, 0.7)],
)
def test_point_quality_target_takes_the_fewest_strong_calls_reaching_it(fraction, threshold):
    # goal = fraction * 0.75; 1/3 and 2/3 land exactly on the qualities 0.25 and 0.5
    assert point_threshold(record(), "quality_fraction", fraction) == threshold


def test_an_unknown_point_target_is_refused():
    with pytest.raises(InvalidInputError, match="unknown target 'latency'"):
        point_threshold(record(), "latency", 1.0)


def test_mismatched_or_too_few_rows_are_refused():
    broken = record() | {"q_weak": [0.0, 0.0, 1.0]}
    for call in (
        lambda r: point_threshold(r, "strong_share", 0.5),
        lambda r: guaranteed_threshold(r, "strong_share", 0.5, 0.9),
    ):
        with pytest.raises(InvalidInputError, match="mismatched or too few rows"):
            call(broken)
        with pytest.raises(InvalidInputError, match="mismatched or too few rows"):
            call(record(p=[0.5], q_strong=[1.0], q_weak=[0.0], c_strong=[1.0], c_weak=[1.0]))
    assert (
        point_threshold(
            record(
                p=[0.9, 0.1],
                **{k: [1.0, 1.0] for k in ("q_strong", "q_weak", "c_strong", "c_weak")},
            ),
            "strong_share",
            0.5,
        )
        == 0.9
    )


def test_bernstein_bound_is_maurer_pontils():
    """Maurer & Pontil (2009), Theorem 4, for z in [low, high] (span s), n samples, sample
    variance V: E[z] <= mean + sqrt(2 V ln(2 / delta) / n) + 7 s ln(2 / delta) / (3 (n - 1)).

    z = (0, 1) in [-1, 1], delta = 0.1: 0.5 + sqrt(0.5 ln 20) + 14 ln 20 / 3 = 15.70396;
    z = (0, 0.5, 1) in [0, 1], delta = 0.05: 0.5 + sqrt(ln 40 / 6) + 7 ln 40 / 6 = 5.58779.
    """
    assert bernstein_upper(np.array([0.0, 1.0]), -1.0, 1.0, 0.1) == pytest.approx(15.7039574)
    assert bernstein_upper(np.array([0.0, 0.5, 1.0]), 0.0, 1.0, 0.05) == pytest.approx(5.5877930)


def test_a_whole_quality_fraction_is_a_valid_target():
    """``quality_fraction=1`` is in range; it is refused only because no threshold certifies
    it (the bound's last term is positive), not as out of range."""
    with pytest.raises(InvalidInputError, match="cannot be certified") as err:
        guaranteed_threshold(record(), "quality_fraction", 1.0, 0.9)
    assert err.value.field == "target"
    for outside in (1.01, 0.0, -0.5):
        with pytest.raises(InvalidInputError, match=r"outside \(0, 1\]"):
            guaranteed_threshold(record(), "quality_fraction", outside, 0.9)


def test_the_record_keeps_scores_exactly_and_rounds_the_rest_to_six_places():
    """Scores stay as the router gives them (a rounded top score put the all-weak threshold
    below tied top scores); outcomes and costs round to six places."""
    stored = calibration_record(
        np.array([0.1234564, 0.9]),
        np.array([1, 0]),
        np.array([0, 1]),
        np.array([0.0000014, 2.0]),
        np.array([1.0, 1.0]),
        "s",
        "w",
    )
    assert stored["p_strong"] == [0.1234564, 0.9]
    assert stored["c_strong"] == [0.000001, 2.0]
    assert stored["n"] == 2
    assert math.isclose(stored["q_strong"][0], 1.0)


def test_a_strong_share_above_one_is_refused():
    with pytest.raises(InvalidInputError, match=r"outside \[0, 1\]") as err:
        guaranteed_threshold(record(), "strong_share", 1.5, 0.9)
    assert err.value.field == "strong_share"


def test_the_fixed_sequence_tries_400_quantiles_and_all_weak():
    p = np.random.default_rng(0).random(1000)  # 1,000 distinct scores
    thresholds = candidate_thresholds(p)
    assert len(thresholds) == 400 + 1  # the 0 quantile is the lowest score; + above the top
    assert thresholds[0] == p.min() and thresholds[-2] == p.max() and thresholds[-1] > p.max()
    assert len(candidate_thresholds(p[:7])) == 7 + 1  # fewer scores than 400: every score


def test_the_quality_walk_certifies_the_routing_it_returns_and_stops_at_the_first_rejection():
    """quality_fraction=0.5 at 90%, 120 prompts in three groups of 40 (Z = 0.5 q_s - q_routed,
    Z in [-1.5, 1], span 2.5, ln(2 / 0.1) = ln 20):

    - scores 0.1: strong right, weak wrong; 0.5: strong wrong, weak right; 0.9: both right.
    - threshold 0.1 (all strong): Z = -0.5, 0, -0.5 by group: mean -1/3, sample variance 20/357;
      bound -1/3 + sqrt(2 (20/357) ln 20 / 120) + 7 (2.5) ln 20 / (3 * 119) = -0.1336: certified.
    - threshold 0.5 (the 0.1 group weak): Z = 0.5, 0, -0.5: mean 0, bound > 0: rejected, and
      the fixed sequence stops here, although sending the 0.5 group weak too would certify again
      (Z = 0.5, -1, -0.5: bound -0.0466).
    """
    groups = [(0.1, 1.0, 0.0), (0.5, 0.0, 1.0), (0.9, 1.0, 1.0)]
    p, qs, qw = (np.repeat([g[i] for g in groups], 40) for i in range(3))
    ones = np.ones(120)
    stored = calibration_record(p, qs, qw, ones, ones, "strong", "weak")
    result = guaranteed_threshold(stored, "quality_fraction", 0.5, 0.9)
    assert result["threshold"] == 0.1
    assert result["bound"] == pytest.approx(-0.13359576)
    assert result["calibration_strong_share"] == 1.0
    assert result["calibration_quality_fraction"] == 1.0
    assert result["method"] == "learn-then-test, empirical Bernstein"
    assert result["n_calibration"] == 120


def test_a_confidence_of_0_or_1_is_refused():
    for confidence in (0.0, 1.0):
        with pytest.raises(InvalidInputError, match=r"outside \(0, 1\)") as err:
            guaranteed_threshold(record(), "quality_fraction", 0.5, confidence)
        assert err.value.field == "target_confidence"


def test_the_largest_certified_count_agrees_with_the_exact_brute_force():
    """The bisection over k against ``largest_certified_count`` (exact rational binomial tails,
    tests/test_router_guarantee.py) for every n up to 80: a bisection step that skips a k
    shows up for some n."""
    for n in range(1, 81):
        for share in (0.1, 0.3, 0.5):
            expected = largest_certified_count(n, share, 0.9)
            assert _largest_certified_count(n, share, 0.1) == expected, (n, share)


def test_a_strong_share_of_exactly_0_or_1_is_a_valid_target_and_below_0_is_not():
    everything = guaranteed_threshold(record(), "strong_share", 1.0, 0.9)
    assert (everything["threshold"], everything["calibration_strong_share"]) == (0.1, 1.0)
    with pytest.raises(InvalidInputError, match="cannot be certified"):  # 4 prompts: too few
        guaranteed_threshold(record(), "strong_share", 0.0, 0.9)
    with pytest.raises(InvalidInputError, match=r"outside \[0, 1\]"):
        guaranteed_threshold(record(), "strong_share", -0.5, 0.9)


def test_an_incomplete_or_unreadable_calibration_set_is_refused():
    incomplete = {k: v for k, v in record().items() if k != "q_weak"}
    unreadable = record() | {"p_strong": ["high", "low", "low", "low"]}
    for broken in (incomplete, unreadable):
        with pytest.raises(InvalidInputError, match="calibration_set: is incomplete"):
            point_threshold(broken, "strong_share", 0.5)


def test_a_strong_model_that_is_never_right():
    """Quality fraction of a strong model with quality 0 is reported as 0, not 0 / 0."""
    hopeless = record(q_strong=[0.0] * 4, q_weak=[0.0] * 4)
    result = guaranteed_threshold(hopeless, "strong_share", 1.0, 0.9)
    assert result["calibration_quality_fraction"] == 0.0


def test_a_quality_target_only_all_strong_reaches_is_met():
    """Strong always right, weak never: only sending everything strong reaches 100%."""
    only_strong = record(q_strong=[1.0] * 4, q_weak=[0.0] * 4)
    assert point_threshold(only_strong, "quality_fraction", 1.0) == 0.1
    assert point_threshold(only_strong, "quality_fraction", 0.75) == 0.4  # 3 of 4 strong

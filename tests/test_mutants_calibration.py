"""``routers/calibration.py`` pinned on a four-prompt validation split worked out by hand, so
that one-line mutants of the calibration code (mutation/calibration.toml) fail.

The split, prompts in descending score (models ``weak``, ``strong``; 4 and 1 USD per 1,000 calls
are 0.004 and 0.001 USD per call)::

    prompt  p_strong  q_strong  q_weak
    q0      0.9       1         0
    q1      0.7       1         0
    q2      0.4       1         1
    q3      0.1       0         0

Sending the top k prompts to the strong model (threshold = the k-th score):

    k  threshold        strong share  quality  USD per 1,000 queries
    0  just above 0.9   0.0           0.25     1.00
    1  0.9              0.25          0.50     1.75
    2  0.7              0.5           0.75     2.50
    3  0.4              0.75          0.75     3.25
    4  0.1              1.0           0.75     4.00

The strong model's own quality is 0.75.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.routers.calibration import (
    calibrate,
    check_target,
    parse_target,
    resolve_threshold,
    threshold_for_target,
)
from routegraph.routers.heuristic import HeuristicRouter

P = [0.9, 0.7, 0.4, 0.1]
Q_STRONG = [1.0, 1.0, 1.0, 0.0]
Q_WEAK = [0.0, 0.0, 1.0, 0.0]
C_STRONG, C_WEAK = 0.004, 0.001
ABOVE_TOP = float(np.nextafter(0.9, np.inf))


class ScoredRouter(HeuristicRouter):
    """Scores each prompt from a table; ``strict`` fails if asked to score at all."""

    def __init__(self, scores: dict[str, float], strict: bool = False):
        super().__init__(["weak", "strong"])
        self.scores, self.strict = scores, strict

    def strong_probability(self, prompts, strong=None, weak=None):
        assert not self.strict, "calibrate scored the prompts although p_strong was given"
        return np.array([self.scores[p] for p in prompts])


def split(
    p: list[float] = P,
    q_strong: list[float] = Q_STRONG,
    q_weak: list[float] = Q_WEAK,
    c_strong: list[float] | None = None,
) -> tuple[RoutingDataset, ScoredRouter]:
    prompts = [f"q{i}" for i in range(len(p))]
    strong_costs = c_strong if c_strong is not None else [C_STRONG] * len(p)
    data = RoutingDataset(
        name="hand",
        prompts=prompts,
        models=["weak", "strong"],
        quality=np.array([q_weak, q_strong], dtype=float).T.reshape(len(p), 2),
        cost_usd=np.array([[C_WEAK] * len(p), strong_costs], dtype=float).T.reshape(len(p), 2),
    )
    return data, ScoredRouter(dict(zip(prompts, p, strict=True)))


# --- check_target / parse_target ----------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("strong_share", 0.0),
        ("strong_share", 0.5),
        ("strong_share", 1.0),
        ("cost_per_1k", 0.0),
        ("cost_per_1k", 0.5),
        ("cost_per_1k", 5.0),
        ("quality_fraction", 0.001),
        ("quality_fraction", 0.5),
        ("quality_fraction", 1.0),
    ],
)
def test_valid_targets_are_accepted(kind: str, value: float) -> None:
    check_target(kind, value)


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("strong_share", -0.5, "outside"),
        ("strong_share", -0.01, "outside"),
        ("strong_share", 1.01, "outside"),
        ("strong_share", 1.5, "outside"),
        ("strong_share", 2.5, "outside"),
        ("cost_per_1k", -0.5, "negative"),
        ("cost_per_1k", -1.5, "negative"),
        ("cost_per_1k", math.inf, "not finite"),
        ("cost_per_1k", math.nan, "not finite"),
        ("quality_fraction", 0.0, "outside"),
        ("quality_fraction", -0.5, "outside"),
        ("quality_fraction", 1.5, "outside"),
        ("quality_fraction", 2.5, "outside"),
        ("latency", 0.5, "unknown target"),
    ],
)
def test_invalid_targets_are_refused(kind: str, value: float, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem) as err:
        check_target(kind, value)
    assert err.value.field == ("target_kind" if kind == "latency" else kind)


def test_target_text_is_split_at_the_equals_sign() -> None:
    assert parse_target(" quality_fraction =0.25") == ("quality_fraction", 0.25)
    with pytest.raises(InvalidInputError, match="negative"):
        parse_target("cost_per_1k=-1")


# --- calibrate ----------------------------------------------------------------------------
def test_strong_share_target_and_what_it_stores() -> None:
    data, router = split()
    assert calibrate(router, data, "strong_share", 0.5) == 0.7
    record = router.meta_["thresholds"]["strong_share=0.5"]
    assert record["target_kind"] == "strong_share" and record["value"] == 0.5
    assert record["threshold"] == 0.7
    assert (record["strong_model"], record["weak_model"]) == ("strong", "weak")
    assert record["val_strong_share"] == 0.5
    assert record["val_quality"] == pytest.approx(0.75)
    assert record["val_cost_per_1k"] == pytest.approx(2.5)
    assert record["n_val"] == 4
    assert record["val_fingerprint"] == data.fingerprint()
    stored = router.meta_["calibration_set"]
    assert stored["n"] == 4
    assert stored["p_strong"] == P
    assert (stored["q_strong"], stored["q_weak"]) == (Q_STRONG, Q_WEAK)
    assert (stored["c_strong"], stored["c_weak"]) == ([C_STRONG] * 4, [C_WEAK] * 4)
    assert (stored["strong_model"], stored["weak_model"]) == ("strong", "weak")


@pytest.mark.parametrize(
    ("share", "threshold"), [(0.0, ABOVE_TOP), (0.3, 0.9), (0.7, 0.4), (1.0, 0.1)]
)
def test_strong_share_target_picks_the_nearest_share(share: float, threshold: float) -> None:
    data, router = split()
    assert calibrate(router, data, "strong_share", share) == threshold


@pytest.mark.parametrize(
    ("budget", "threshold", "share"),
    [(1.0, ABOVE_TOP, 0.0), (2.0, 0.9, 0.25), (2.5, 0.7, 0.5), (3.3, 0.4, 0.75), (9.0, 0.1, 1.0)],
)
def test_cost_target_takes_the_most_strong_calls_within_the_budget(
    budget: float, threshold: float, share: float
) -> None:
    data, router = split()
    assert calibrate(router, data, "cost_per_1k", budget) == threshold
    record = router.meta_["thresholds"][f"cost_per_1k={budget:g}"]
    assert record["val_strong_share"] == share
    assert record["val_cost_per_1k"] == pytest.approx(1.0 + 3.0 * share)  # 1 + 0.75 k


def test_a_budget_below_the_cheapest_routing_is_refused() -> None:
    data, router = split()
    with pytest.raises(InvalidInputError, match=r"below the cheapest.*at least 1 USD") as err:
        calibrate(router, data, "cost_per_1k", 0.99)
    assert err.value.field == "cost_per_1k"


@pytest.mark.parametrize(
    ("fraction", "threshold", "quality"),
    [(0.3, ABOVE_TOP, 0.25), (0.5, 0.9, 0.5), (0.6, 0.9, 0.5), (0.7, 0.7, 0.75), (1.0, 0.7, 0.75)],
)
def test_quality_target_takes_the_fewest_strong_calls_reaching_it(
    fraction: float, threshold: float, quality: float
) -> None:
    # the goal is fraction * 0.75 (the strong model's quality): 0.3 -> 0.225, 0.6 -> 0.45,
    # 0.7 -> 0.525
    data, router = split()
    assert calibrate(router, data, "quality_fraction", fraction) == threshold
    record = router.meta_["thresholds"][f"quality_fraction={fraction:g}"]
    assert record["val_quality"] == pytest.approx(quality)


def test_rows_without_outcomes_or_costs_are_left_out() -> None:
    """A row whose weak outcome is missing never counts; a row whose strong cost is missing
    counts for share and quality targets (its cost read as 0) but not for a cost target."""
    data, router = split(
        p=[*P, 0.95, 0.05],
        q_strong=[*Q_STRONG, 1.0, 1.0],
        q_weak=[*Q_WEAK, math.nan, 1.0],
        c_strong=[C_STRONG] * 4 + [C_STRONG, math.nan],
    )
    calibrate(router, data, "strong_share", 0.4)
    # five rows: scores 0.9 0.7 0.4 0.1 0.05; shares 0, .2, .4, .6, .8, 1: 0.4 at threshold 0.7
    assert router.meta_["thresholds"]["strong_share=0.4"]["threshold"] == 0.7
    assert router.meta_["thresholds"]["strong_share=0.4"]["n_val"] == 5
    assert router.meta_["calibration_set"]["c_strong"] == [C_STRONG] * 4 + [0.0]
    calibrate(router, data, "cost_per_1k", 2.5)
    assert router.meta_["thresholds"]["cost_per_1k=2.5"]["n_val"] == 4
    assert router.meta_["thresholds"]["cost_per_1k=2.5"]["threshold"] == 0.7


def test_no_complete_row_is_refused_with_what_is_missing() -> None:
    nan4 = [math.nan] * 4
    data, router = split(q_weak=nan4)
    with pytest.raises(InvalidInputError, match=r"no prompt has outcomes for both strong and weak"):
        calibrate(router, data, "strong_share", 0.5)
    data, router = split(c_strong=nan4)
    with pytest.raises(InvalidInputError, match="no prompt has outcomes and costs for both"):
        calibrate(router, data, "cost_per_1k", 2.0)
    assert calibrate(router, data, "strong_share", 0.5) == 0.7  # costs are not needed here


def test_an_empty_split_is_refused_and_a_single_row_is_enough() -> None:
    data, router = split()
    with pytest.raises(InvalidInputError, match="is empty") as err:
        calibrate(router, data.subset([]), "strong_share", 0.5)
    assert err.value.field == "val_ds"
    assert calibrate(router, data.subset([0]), "strong_share", 1.0) == 0.9


def test_given_scores_are_used_instead_of_scoring_again() -> None:
    data, router = split()
    assert calibrate(router, data, "strong_share", 0.5) == 0.7  # the router's own scores
    strict = ScoredRouter({}, strict=True)
    assert calibrate(strict, data, "strong_share", 0.5, p_strong=np.array(P)) == 0.7
    reversed_scores = np.array(P[::-1])  # q3 now scores 0.9: the top two are q3 and q2
    assert calibrate(strict, data, "strong_share", 0.5, p_strong=reversed_scores) == 0.7
    assert strict.meta_["calibration_set"]["p_strong"] == P[::-1]


# --- threshold_for_target / resolve_threshold ---------------------------------------------
def test_targets_resolve_on_the_stored_calibration_set() -> None:
    data, router = split()
    calibrate(router, data, "strong_share", 0.5)
    assert threshold_for_target(router, "cost_per_1k=2") == (
        0.9,
        "cost_per_1k=2 on 4 calibration prompts",
    )
    # guaranteed: 0 strong calls of 4 has the exact 90% upper bound 1 - 0.1 ** (1 / 4) = 0.44
    # <= 0.5; 1 of 4 has 0.68 > 0.5; so no calibration prompt may go strong
    assert 1 - 0.1 ** (1 / 4) <= 0.5
    assert threshold_for_target(router, "strong_share=0.5", confidence=0.9) == (
        ABOVE_TOP,
        "strong_share=0.5 guaranteed with 90% confidence on 4 calibration prompts "
        "(exact binomial (Clopper-Pearson), fixed sequence)",
    )


def test_without_a_calibration_set_only_stored_names_resolve() -> None:
    router = HeuristicRouter(["weak", "strong"])
    router.meta_["thresholds"] = {
        "strong_share=0.3": {"target_kind": "strong_share", "value": 0.3, "threshold": 0.42}
    }
    assert threshold_for_target(router, "strong_share=0.3") == (0.42, "calibrated strong_share=0.3")
    with pytest.raises(InvalidInputError, match="stores no calibration set") as err:
        threshold_for_target(router, "strong_share=0.3", confidence=0.9)
    assert err.value.field == "target_confidence"


def test_resolve_threshold_by_number_name_or_equal_value() -> None:
    router = HeuristicRouter(["weak", "strong"])
    assert resolve_threshold(router, None) == (0.5, "default 0.5")
    assert resolve_threshold(router, 0.25) == (0.25, "given")
    assert resolve_threshold(router, " 0.7 ") == (0.7, "given")
    router.meta_["thresholds"] = {
        "cheap": {"target_kind": "strong_share", "value": 0.2, "threshold": 0.61},
        "strong_share=0.3": {"target_kind": "strong_share", "value": 0.3, "threshold": 0.42},
    }
    assert resolve_threshold(router, None) == (0.61, "calibrated cheap")
    assert resolve_threshold(router, "cheap") == (0.61, "calibrated cheap")
    assert resolve_threshold(router, "strong_share=0.30") == (0.42, "calibrated strong_share=0.3")
    assert resolve_threshold(router, "strong_share = 0.2") == (0.61, "calibrated cheap")
    for unknown in ("strong_share=0.35", "quality_fraction=0.3", "strong_share=x", "fast"):
        with pytest.raises(InvalidInputError, match="is not a number nor a calibrated") as err:
            resolve_threshold(router, unknown)
        assert err.value.allowed == "cheap, strong_share=0.3"
    with pytest.raises(InvalidInputError, match=r"allowed: a number in \[0, 1\]"):
        resolve_threshold(HeuristicRouter(["weak", "strong"]), "fast")


def test_a_quality_target_only_all_strong_reaches_is_met() -> None:
    """Strong always right, weak never: only sending everything strong reaches 100%."""
    data, router = split(q_strong=[1.0] * 4, q_weak=[0.0] * 4)
    assert calibrate(router, data, "quality_fraction", 1.0) == 0.1
    assert calibrate(router, data, "quality_fraction", 0.75) == 0.4  # 3 of 4 strong

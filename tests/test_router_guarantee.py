"""The guaranteed thresholds hold at the stated rate over many random calibration splits.

A large population of prompts plays "all future traffic". Each trial draws a calibration split
from it, picks a threshold for the target with the stored-calibration machinery, and checks the
target on the WHOLE population. The guaranteed form may fail in at most 1 - confidence of the
trials (plus binomial slack); the point form, tuned to the calibration split alone, fails far
more often - which is why the guarantee exists, and shows this test can fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from routegraph.core.errors import InvalidInputError
from routegraph.routers.guarantee import (
    calibration_record,
    clopper_pearson_upper,
    guaranteed_threshold,
    point_threshold,
)

TRIALS = 200
CONFIDENCE = 0.9


def _slack(rate: float, trials: int) -> float:
    """Upper allowance for an observed failure share when the true rate is ``rate`` (~3.1 sd)."""
    return rate + 3.1 * math.sqrt(rate * (1 - rate) / trials)


def population(n: int = 100_000, seed: int = 7) -> dict[str, np.ndarray]:
    """Prompts of varying difficulty: the weak model suffers more on hard ones; the router sees
    the difficulty through noise."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n)
    q_weak = (rng.random(n) < 0.92 - 0.6 * hard).astype(float)
    q_strong = (rng.random(n) < 0.95 - 0.25 * hard).astype(float)
    p = np.clip(hard + rng.normal(0, 0.25, n), 0, 1)
    return {"p": p, "qs": q_strong, "qw": q_weak}


def _record(pop: dict[str, np.ndarray], rows: np.ndarray) -> dict:
    zeros = np.zeros(len(rows))
    return calibration_record(
        pop["p"][rows], pop["qs"][rows], pop["qw"][rows], zeros + 10, zeros + 1, "s", "w"
    )


def _population_quality_fraction(pop: dict[str, np.ndarray], threshold: float) -> float:
    routed = np.where(pop["p"] >= threshold, pop["qs"], pop["qw"])
    return float(routed.mean() / pop["qs"].mean())


@pytest.mark.parametrize("fraction", [0.95, 0.9])
def test_quality_guarantee_holds_at_the_stated_rate(fraction):
    pop = population()
    rng = np.random.default_rng(11)
    guaranteed_fail = point_fail = 0
    for _ in range(TRIALS):
        rows = rng.choice(len(pop["p"]), size=1500, replace=False)
        record = _record(pop, rows)
        t_safe = guaranteed_threshold(record, "quality_fraction", fraction, CONFIDENCE)["threshold"]
        t_point = point_threshold(record, "quality_fraction", fraction)
        guaranteed_fail += _population_quality_fraction(pop, t_safe) < fraction
        point_fail += _population_quality_fraction(pop, t_point) < fraction
    assert guaranteed_fail / TRIALS <= _slack(1 - CONFIDENCE, TRIALS)
    assert point_fail / TRIALS >= 0.25  # the uncertified threshold misses often
    # and the guarantee is not bought by sending everything to the strong model
    share = float((pop["p"] >= t_safe).mean())
    assert share < 0.95


def test_strong_share_guarantee_holds_at_the_stated_rate():
    pop = population()
    rng = np.random.default_rng(12)
    fails = 0
    for _ in range(TRIALS):
        rows = rng.choice(len(pop["p"]), size=800, replace=False)
        t = guaranteed_threshold(_record(pop, rows), "strong_share", 0.3, CONFIDENCE)["threshold"]
        fails += float((pop["p"] >= t).mean()) > 0.3
    assert fails / TRIALS <= _slack(1 - CONFIDENCE, TRIALS)


def test_clopper_pearson_upper_bound_covers():
    rng = np.random.default_rng(0)
    n, true = 200, 0.27
    counts = rng.binomial(n, true, size=400)
    covered = np.mean([clopper_pearson_upper(int(k), n, 0.1) >= true for k in counts])
    assert covered >= 1 - _slack(0.1, 400)
    assert clopper_pearson_upper(n, n, 0.1) == 1.0


def test_uncertifiable_targets_and_bad_input_are_clear():
    pop = population(2_000)
    record = _record(pop, np.arange(50))
    with pytest.raises(InvalidInputError, match="cannot be certified"):
        guaranteed_threshold(record, "strong_share", 0.0, 0.99)
    with pytest.raises(InvalidInputError, match="no guaranteed form"):
        guaranteed_threshold(record, "cost_per_1k", 1.0, 0.9)
    with pytest.raises(InvalidInputError, match="target_confidence"):
        guaranteed_threshold(record, "quality_fraction", 0.9, 1.5)

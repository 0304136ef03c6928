"""The guaranteed thresholds hold at the stated rate over many random calibration splits.

A large population of prompts plays "all future traffic". Each trial draws a calibration split
from it, picks a threshold for the target with the stored-calibration machinery, and checks the
target on the WHOLE population. The guaranteed form may fail in at most 1 - confidence of the
trials (plus binomial slack); the point form, tuned to the calibration split alone, fails far
more often - which is why the guarantee exists, and shows this test can fail.

A guarantee has two sides: "at most 30% strong calls" is also met by sending none, so the
strong-share tests check that the chosen threshold spends the allowance too - against a brute
force over every count of strong calls with the binomial tail in exact rational arithmetic, not
against the library's own bisection.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from routegraph.core.errors import InvalidInputError
from routegraph.routers.guarantee import (
    MAX_TESTS,
    calibration_record,
    candidate_thresholds,
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


def largest_certified_count(n: int, share: float, confidence: float) -> int:
    """The most strong calls k of n whose exact one-sided upper bound on the strong share, at
    ``confidence``, stays <= ``share`` (-1: none), by brute force in exact rational arithmetic.

    The Clopper-Pearson bound U(k) solves P(Binomial(n, U) <= k) = 1 - confidence and that cdf
    falls as the rate grows, so U(k) <= share exactly when P(Binomial(n, share) <= k) <=
    1 - confidence; the cdf grows with k, so the walk stops at the first k past it. With k = n
    the bound is 1.
    """
    s, delta = Fraction(str(share)), 1 - Fraction(str(confidence))
    if s >= 1:
        return n
    yes, no, whole = s.numerator, s.denominator - s.numerator, s.denominator**n
    cdf_numerator, best = 0, -1  # P(Binomial(n, s) <= k) * denominator**n
    for k in range(n):
        cdf_numerator += math.comb(n, k) * yes**k * no ** (n - k)
        if cdf_numerator * delta.denominator > delta.numerator * whole:
            break
        best = k
    return best


def assert_strong_share_is_tight(
    record: dict, share: float, confidence: float, result: dict
) -> None:
    """Both sides of a guaranteed ``strong_share``: the calibration count of strong calls at the
    chosen threshold is certified (the guarantee), and no threshold on the fixed sequence would
    certify more - nor, up to the sequence's spacing, would any threshold at all."""
    p = np.asarray(record["p_strong"], dtype=float)
    n = len(p)
    k_max = largest_certified_count(n, share, confidence)
    assert k_max >= 0, "pick a target that can be certified"
    count = int((p >= result["threshold"]).sum())
    # the guarantee: no more strong calls than the exact bound certifies
    assert count <= k_max, (count, k_max)
    assert result["calibration_strong_share"] == pytest.approx(count / n)
    # the other side, exactly: the smallest threshold of the sequence whose count is certified
    sequence = candidate_thresholds(p)
    admissible = [t for t in sequence if int((p >= t).sum()) <= k_max]
    assert result["threshold"] == float(min(admissible)), (count, k_max)
    # and with no reference to the sequence: the most strong calls any threshold could certify
    # (every score is a threshold; ties move together), less one step of the <= MAX_TESTS
    # quantiles the sequence tries (np.quantile may land one ulp above a score: one count)
    reachable = [0, *(int((p >= v).sum()) for v in np.unique(p))]
    best = max(c for c in reachable if c <= k_max)
    step = math.ceil(n / (MAX_TESTS - 1))
    assert best - step <= count, (count, best, step)


@pytest.mark.parametrize(
    ("n", "share", "confidence"),
    [(300, 0.3, 0.9), (800, 0.3, 0.9), (1500, 0.5, 0.8), (150, 0.2, 0.95)],
)
def test_strong_share_guarantee_spends_its_allowance(n, share, confidence):
    pop = population()
    rng = np.random.default_rng(n)
    for _ in range(5):
        record = _record(pop, rng.choice(len(pop["p"]), size=n, replace=False))
        result = guaranteed_threshold(record, "strong_share", share, confidence)
        assert_strong_share_is_tight(record, share, confidence, result)


def test_largest_certified_count_matches_known_bounds():
    # 0 of n: the exact upper bound is 1 - delta ** (1 / n); 0 of 22 at 90%: 0.0994, 0 of 21:
    # 0.1036 - so 22 prompts certify "at most 10% strong" with no strong call, 21 cannot
    assert 1 - 0.1 ** (1 / 22) < 0.1 < 1 - 0.1 ** (1 / 21)
    assert largest_certified_count(22, 0.1, 0.9) == 0
    assert largest_certified_count(21, 0.1, 0.9) == -1
    assert largest_certified_count(10, 1.0, 0.9) == 10
    for n, k in [(50, 3), (200, 54), (800, 230)]:  # agrees with the library's bisection
        bound = clopper_pearson_upper(k, n, 0.1)
        assert largest_certified_count(n, bound + 1e-9, 0.9) == k
        assert largest_certified_count(n, bound - 1e-9, 0.9) == k - 1


def test_strong_share_guarantee_holds_at_the_stated_rate():
    """Over random calibration splits: the share on the whole population exceeds 0.3 in at most
    1 - confidence of the trials, and is not bought by sending (almost) nothing strong."""
    pop = population()
    rng = np.random.default_rng(12)
    n, target = 800, 0.3
    fails, shares = 0, []
    for _ in range(TRIALS):
        rows = rng.choice(len(pop["p"]), size=n, replace=False)
        t = guaranteed_threshold(_record(pop, rows), "strong_share", target, CONFIDENCE)
        share = float((pop["p"] >= t["threshold"]).mean())
        fails += share > target
        shares.append(share)
    assert fails / TRIALS <= _slack(1 - CONFIDENCE, TRIALS)
    # The certified count sits about z(0.9) = 1.28 standard errors below the target: 0.3 -
    # 1.28 * sqrt(0.3 * 0.7 / 800) = 0.279 on average; the per-trial spread of the population
    # share is another sqrt(0.3 * 0.7 / 800) = 0.016. Allow twice the margin on the mean and
    # five standard errors on any single trial.
    margin = 1.2816 * math.sqrt(target * (1 - target) / n)
    assert np.mean(shares) >= target - 2 * margin
    assert min(shares) >= target - margin - 5 * math.sqrt(target * (1 - target) / n)


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

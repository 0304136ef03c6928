"""The learn report's intervals (``routegraph.app.log_intervals``): right width, paired draws,
and the arithmetic of how many records would settle an estimate."""

from __future__ import annotations

import numpy as np
import pytest

from routegraph.app.log_intervals import direction, interval, records_to_settle, resampled_means


def test_bootstrap_interval_has_the_binomial_width_and_covers_the_mean() -> None:
    rng = np.random.default_rng(3)
    outcomes = (rng.random(400) < 0.7).astype(float)
    draws = resampled_means(outcomes[:, None])[:, 0]
    low, high = interval(draws)
    assert low < outcomes.mean() < high
    # 90%: +/- 1.645 standard errors of a proportion
    expected = 1.645 * np.sqrt(outcomes.mean() * (1 - outcomes.mean()) / 400)
    assert (high - low) / 2 == pytest.approx(expected, rel=0.15)


def test_draws_are_paired_across_columns() -> None:
    """A difference of two columns that move together is known far better than either."""
    rng = np.random.default_rng(0)
    a = rng.random(500)
    b = a + 0.01  # the same records, shifted
    draws = resampled_means(np.column_stack([a, b]))
    assert np.allclose(draws[:, 1] - draws[:, 0], 0.01)
    assert interval(draws[:, 0])[1] - interval(draws[:, 0])[0] > 0.03


def test_records_to_settle_scale_with_the_square_of_the_width() -> None:
    assert records_to_settle([0.50, 0.54], 100) is None  # +/- 0.02 already
    assert records_to_settle([0.50, 0.58], 100) == 400  # twice the tolerance: 4x the records
    with pytest.raises(ValueError, match="no records"):
        resampled_means(np.zeros((0, 2)))


def test_direction_only_when_the_interval_excludes_zero() -> None:
    assert direction([0.01, 0.05], "higher", "lower") == "higher"
    assert direction([-0.05, -0.01], "higher", "lower") == "lower"
    assert direction([-0.01, 0.05], "higher", "lower") == "cannot tell"

"""How sure ``routegraph learn``'s report is: intervals from resampling the log's records.

Why: an off-policy estimate rests on the few records where exploration observed the model the
new version would call. With a few percent of exploration, a few hundred records place an
operating point within several points of quality, not within one (BENCHMARKS.md, "After the
stream"), and a report of point estimates alone cannot say when it is guessing. Each figure
therefore comes with a percentile bootstrap interval over records (drawn with replacement; one
set of draws for all figures of a table, so differences are paired), and where an interval is
wider than :data:`TOLERANCE`, with the number of records (at the log's own exploration share)
that would narrow it: a bootstrap interval shrinks as one over the square root of the records.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.9
"""Coverage of every interval the report gives."""
DRAWS = 1000
TOLERANCE = 0.02
"""Half-width of a quality interval the report calls settled (two points of quality)."""
_CHUNK = 200


def resampled_means(columns: np.ndarray, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """Each column's mean (n, k) -> (draws, k), over ``draws`` resamples of the n records.

    The same records are drawn for every column, so a ratio or difference of two columns'
    means taken draw by draw is paired."""
    columns = np.asarray(columns, float)
    n = columns.shape[0]
    if n == 0:
        raise ValueError("no records to resample")
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, draws, _CHUNK):
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(_CHUNK, draws - start))
        out.append(weights @ columns / n)
    return np.vstack(out)


def interval(values: np.ndarray, level: float = LEVEL, digits: int = 4) -> list[float]:
    """The central ``level`` percentile interval of bootstrap ``values``."""
    low, high = np.percentile(np.asarray(values, float), [50 * (1 - level), 50 * (1 + level)])
    return [round(float(low), digits), round(float(high), digits)]


def records_to_settle(
    bounds: list[float], records: int, tolerance: float = TOLERANCE
) -> int | None:
    """Records a log like this one needs for an interval ``bounds`` (from ``records``) to
    narrow to +/- ``tolerance``; None when it already has."""
    half_width = (bounds[1] - bounds[0]) / 2
    if half_width <= tolerance + 1e-9:
        return None
    return int(math.ceil(records * (half_width / tolerance) ** 2))


def direction(bounds: list[float], up: str, down: str) -> str:
    """What an interval of a change says: ``up`` or ``down`` when it excludes zero, else that
    the log cannot tell."""
    if bounds[0] > 0:
        return up
    if bounds[1] < 0:
        return down
    return "cannot tell"

"""The guarantee tests catch a broken guarantee: mutants of ``routers/guarantee.py``, built in
memory (the file on disk is never touched), must fail the checks the real module passes.

Mutant "last admissible": the strong-share walk takes the LAST certified threshold on the fixed
sequence instead of the first. It still never exceeds the target (it sends no prompt to the
strong model), so a one-sided check passes it; ``assert_strong_share_is_tight`` must not.
"""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest

from routegraph.routers import guarantee
from tests.test_router_guarantee import _record, assert_strong_share_is_tight, population

ORIGINAL = "j = int(ok[0])"
LAST_ADMISSIBLE = "j = int(ok[-1])"


def mutant(original: str, replacement: str) -> types.ModuleType:
    """``routegraph.routers.guarantee`` with one source line replaced, as a fresh module."""
    source = inspect.getsource(guarantee)
    assert source.count(original) == 1, f"mutation site {original!r} moved: update the mutant"
    module = types.ModuleType("guarantee_mutant")
    code = compile(source.replace(original, replacement), guarantee.__file__, "exec")
    exec(code, module.__dict__)  # the project's own source, one line changed
    return module


@pytest.mark.parametrize(("n", "share", "confidence"), [(300, 0.3, 0.9), (800, 0.3, 0.9)])
def test_last_admissible_threshold_is_caught(n, share, confidence):
    pop = population()
    record = _record(pop, np.random.default_rng(n).choice(len(pop["p"]), n, replace=False))
    real = guarantee.guaranteed_threshold(record, "strong_share", share, confidence)
    assert_strong_share_is_tight(record, share, confidence, real)

    broken = mutant(ORIGINAL, LAST_ADMISSIBLE)
    bad = broken.guaranteed_threshold(record, "strong_share", share, confidence)
    assert bad["calibration_strong_share"] == 0.0  # one-sided: "at most 30%" still holds
    assert bad["calibration_strong_share"] <= share
    with pytest.raises(AssertionError):
        assert_strong_share_is_tight(record, share, confidence, bad)

"""The paired bootstrap behind ``benchmarks/apgr_difference.py`` (BENCHMARKS.md quotes its
intervals for the shipped default's in-distribution APGR)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "apgr_difference.py"


def load_script():
    spec = importlib.util.spec_from_file_location("apgr_difference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_router_against_itself_differs_by_nothing_and_a_real_gap_is_told_apart() -> None:
    script = load_script()
    rng = np.random.default_rng(3)
    q_weak = (rng.random(300) < 0.5).astype(float)
    q_strong = np.ones(300)
    knows = 1.0 - q_weak + 0.01 * rng.random(300)  # high where the weak model fails
    guesses = rng.random(300)
    same = script.paired_bootstrap(knows, knows, q_strong, q_weak, 200, 0)
    assert same["difference"] == 0.0 and same["interval_95"] == [0.0, 0.0]
    assert not same["distinguishable_from_zero"]
    better = script.paired_bootstrap(knows, guesses, q_strong, q_weak, 200, 0)
    assert better["difference"] > 0.15 and better["interval_95"][0] > 0
    assert better["distinguishable_from_zero"] and better["n"] == 300

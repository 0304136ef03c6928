"""Wall-clock timing shared by the benchmark scripts (run them as ``python benchmarks/X.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def time_calls(
    fn: Callable[[str], object], prompts: list[str], warmup: int = 5, warmup_suffix: str = ""
) -> list[float]:
    """Milliseconds per ``fn(prompt)`` after ``warmup`` untimed calls.

    ``warmup_suffix`` makes the warm-up prompts differ from the timed ones, so per-text caches
    (embeddings) do not make the timed calls look faster than a new prompt is.
    """
    for prompt in prompts[:warmup]:
        fn(prompt + warmup_suffix)
    out = []
    for prompt in prompts:
        started = time.perf_counter()
        fn(prompt)
        out.append((time.perf_counter() - started) * 1e3)
    return out

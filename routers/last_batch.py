"""Reuse of the last small batch's result, for the next question about the same prompts.

Why: one routing step asks its router about the same query several times: P(strong) to decide,
its novelty for the decision record, and each candidate's predicted quality for the outcome
record. With the shipped ensemble each question re-embedded the prompt and searched its
neighbours again in every member: 4.4 ms of CPU a request at the median, 2.7 ms when the work
is done once (``benchmarks/decision_latency.py --per-request``). Only small batches (one
request's) are kept, one per memo; what is kept is shared between callers, so its arrays are
made read-only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

MAX_PROMPTS = 8
"""Batches up to this size are kept (a routing step asks about one prompt)."""

T = TypeVar("T")


class LastBatch:
    """The result computed for the last small batch of prompts (and settings), if any."""

    __slots__ = ("_entry",)

    def __init__(self) -> None:
        self._entry: tuple[tuple[Any, ...], Any] | None = None

    def get(self, prompts: Sequence[str], compute: Callable[[], T], settings: Any = ()) -> T:
        """``compute()``, or what it returned for the same ``prompts`` and ``settings`` last
        time. Threads may share a memo: an entry is replaced whole, never changed."""
        key = (tuple(prompts), settings)
        entry = self._entry
        if entry is not None and entry[0] == key:
            return entry[1]  # type: ignore[no-any-return]
        value = compute()
        if len(key[0]) <= MAX_PROMPTS:
            _freeze(value)
            self._entry = (key, value)
        return value

    def clear(self) -> None:
        self._entry = None


def _freeze(value: Any) -> None:
    """Make the arrays of a kept result read-only: a caller that wrote into one would change
    what the next caller gets."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    elif isinstance(value, dict):
        for item in value.values():
            _freeze(item)
    elif isinstance(value, tuple):
        for item in value:
            _freeze(item)


MEMO_PREFIX = "_last_batch_"


def remember_last_batch(method: Callable[[Any, list[str]], T]) -> Callable[[Any, list[str]], T]:
    """Keep ``method(self, prompts)``'s result for the last small batch, per instance. The
    method must depend only on ``prompts`` and the trained state; ``fit`` must call
    :func:`forget_batches` (a refit changes that state)."""
    name = MEMO_PREFIX + method.__name__

    @functools.wraps(method)
    def remembered(self: Any, prompts: list[str]) -> T:
        memo = self.__dict__.get(name)
        if memo is None:
            memo = self.__dict__[name] = LastBatch()
        return memo.get(prompts, lambda: method(self, prompts))

    return remembered


def forget_batches(router: Any) -> None:
    """Drop every result :func:`remember_last_batch` kept on ``router``."""
    for name, memo in list(vars(router).items()):
        if name.startswith(MEMO_PREFIX) and isinstance(memo, LastBatch):
            memo.clear()

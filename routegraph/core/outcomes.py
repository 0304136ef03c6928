"""The outcome log: one record per routed request, and the feedback that arrives later.

Why: a deployment only learns what the models it actually called did. Each routed turn is an
experiment with a logged policy - which models were called and with what probability, what the
evaluator said of each answer, what it cost - and later, maybe, what the user thought. The
``finalize`` node writes the record through this module into the graph's LangGraph store
(``runtime.store``): the same SQLite file or PostgreSQL database that keeps threads when a graph
runs under ``routegraph serve --db`` / ``routegraph chat``, LangGraph Server's own store under
``langgraph dev``, or any ``BaseStore`` a Python caller compiles the graph with. Every door
(Python, Studio, agents, the HTTP API) feeds the same log, and ``routegraph learn`` reads it.

Records are plain JSON values under the namespace :data:`NAMESPACE`, keyed by the outcome id
the final message carries in ``response_metadata["routegraph"]["outcome_id"]``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore, Item

from routegraph.core.errors import InvalidInputError, RouteGraphError, check_unit_interval

NAMESPACE = ("routegraph", "outcomes")
PAGE = 500


class OutcomeNotFoundError(RouteGraphError, LookupError):
    """Feedback named an outcome the store does not hold."""


def new_outcome_id() -> str:
    return uuid.uuid4().hex[:24]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def save_outcome(store: BaseStore, record: dict[str, Any]) -> None:
    """Write ``record`` (it must carry its ``id``); not indexed for vector search."""
    store.put(NAMESPACE, record["id"], record, index=False)


def check_feedback(score: object, comment: object = None) -> tuple[float, str | None]:
    """A score in [0, 1] and an optional short text comment, else an error naming the field."""
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise InvalidInputError("score", f"{score!r} is not a number", "a number in [0, 1]")
    check_unit_interval("score", float(score))
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise InvalidInputError("comment", "is not a text of at most 2,000 characters", "text")
    return float(score), comment


@dataclass(frozen=True)
class _Rating:
    """A checked feedback request: which outcome (by key, or by a thread/turn filter) and the
    feedback to attach."""

    key: str
    where: dict[str, Any] | None
    feedback: dict[str, Any]
    missing: str


def _rating(
    outcome_id: str | None,
    thread_id: str | None,
    turn: int | None,
    score: object,
    comment: object,
    source: str,
) -> _Rating:
    checked_score, checked_comment = check_feedback(score, comment)
    feedback = {"score": checked_score, "comment": checked_comment, "source": source,
                "at": now_iso()}  # fmt: skip
    key = strip_completion_prefix(outcome_id)
    if key:
        return _Rating(key, None, feedback, f"no outcome {outcome_id!r} in the log")
    if thread_id and isinstance(turn, int) and not isinstance(turn, bool):
        where = {"thread_id": thread_id, "turn": turn}
        missing = f"no outcome for turn {turn} of thread {thread_id!r} in the log"
        return _Rating("", where, feedback, missing)
    raise InvalidInputError(
        "id", "names no outcome", "an outcome or completion id, or thread_id with turn"
    )


def _rated(
    rating: _Rating, items: Sequence[Item | None], owner: str | None = None
) -> dict[str, Any]:
    """The found record with its new feedback, else OutcomeNotFoundError. With ``owner`` (an
    API key's id) a record another key's request left is not found either: a key rates only
    its own answers (the same 404 as an unknown id, so ids of other keys cannot be probed)."""
    if not items or items[0] is None:
        raise OutcomeNotFoundError(rating.missing)
    if owner is not None and items[0].value.get("key") != owner:
        raise OutcomeNotFoundError(rating.missing)
    record = dict(items[0].value)
    record["feedback"] = rating.feedback
    return record


def record_feedback(
    store: BaseStore,
    outcome_id: str | None = None,
    *,
    score: float,
    comment: str | None = None,
    thread_id: str | None = None,
    turn: int | None = None,
    source: str = "python",
) -> dict[str, Any]:
    """Attach a user's verdict (``score`` in [0, 1]: 1 good, 0 bad) to a logged outcome, named
    by its id (or completion id) or by ``thread_id`` and ``turn``; returns the updated record.
    Later feedback on the same outcome replaces earlier feedback."""
    rating = _rating(outcome_id, thread_id, turn, score, comment, source)
    if rating.where is None:
        record = _rated(rating, [store.get(NAMESPACE, rating.key)])
    else:
        record = _rated(rating, store.search(NAMESPACE, filter=rating.where, limit=1))
    save_outcome(store, record)
    return record


async def arecord_feedback(
    store: BaseStore,
    outcome_id: str | None = None,
    *,
    score: float,
    comment: str | None = None,
    thread_id: str | None = None,
    turn: int | None = None,
    source: str = "api",
    owner: str | None = None,
) -> dict[str, Any]:
    """:func:`record_feedback` for async stores and servers; with ``owner`` only the outcomes
    of that API key's own requests can be rated."""
    rating = _rating(outcome_id, thread_id, turn, score, comment, source)
    found: Sequence[Item | None]
    if rating.where is None:
        found = [await store.aget(NAMESPACE, rating.key)]
    else:
        found = await store.asearch(NAMESPACE, filter=rating.where, limit=1)
    record = _rated(rating, found, owner)
    await store.aput(NAMESPACE, record["id"], record, index=False)
    return record


def strip_completion_prefix(outcome_id: str | None) -> str | None:
    """An OpenAI completion id (``chatcmpl-<outcome id>``) names its outcome too."""
    if outcome_id is None:
        return None
    return outcome_id.removeprefix("chatcmpl-")


def iter_outcomes(store: BaseStore) -> Iterator[dict[str, Any]]:
    """Every logged record, page by page."""
    offset = 0
    while True:
        page = store.search(NAMESPACE, limit=PAGE, offset=offset)
        for item in page:
            yield dict(item.value)
        if len(page) < PAGE:
            return
        offset += PAGE


async def aread_outcomes(store: BaseStore) -> list[dict[str, Any]]:
    """Every logged record (async stores)."""
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = await store.asearch(NAMESPACE, limit=PAGE, offset=offset)
        out.extend(dict(item.value) for item in page)
        if len(page) < PAGE:
            return out
        offset += PAGE

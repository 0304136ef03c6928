"""``POST /v1/feedback``: a user's verdict on a routed answer, added to the outcome log.

Body: ``{"id": "chatcmpl-..."}`` (the completion id, or the ``outcome_id`` of the routing
trace) or ``{"thread_id": ..., "turn": N}``, plus ``"score"`` in [0, 1] (1 good, 0 bad) and an
optional ``"comment"``. ``routegraph learn`` reads the verdicts as labels.
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import BaseStore

from routegraph.app.server.errors import ApiError
from routegraph.core.errors import InvalidInputError
from routegraph.core.outcomes import OutcomeNotFoundError, arecord_feedback

FIELDS = ("id", "thread_id", "turn", "score", "comment")


async def apply_feedback(store: BaseStore, body: Any, owner: str | None = None) -> dict[str, Any]:
    """Validate ``body`` and record it; ApiError 400 (bad field) or 404 (unknown outcome, or
    one another key's request left when ``owner`` names the caller's key)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.", None)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(400, f"Unknown field(s) {unknown}; allowed: {list(FIELDS)}.", unknown[0])
    outcome_id = body.get("id")
    if outcome_id is not None and not isinstance(outcome_id, str):
        raise ApiError(400, f"'id' must be a string, not {type(outcome_id).__name__}.", "id")
    thread_id = body.get("thread_id")
    if thread_id is not None and not isinstance(thread_id, str):
        raise ApiError(400, "'thread_id' must be a string.", "thread_id")
    if "score" not in body:
        raise ApiError(400, "'score' is required: a number in [0, 1] (1 good, 0 bad).", "score")
    try:
        return await arecord_feedback(
            store,
            outcome_id,
            score=body["score"],
            comment=body.get("comment"),
            thread_id=thread_id,
            turn=body.get("turn"),
            source="api",
            owner=owner,
        )
    except InvalidInputError as exc:
        raise ApiError(400, str(exc), exc.field) from None
    except OutcomeNotFoundError as exc:
        raise ApiError(404, f"{exc}.", "id", code="outcome_not_found") from None

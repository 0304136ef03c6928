"""Where a kept thread really stands: its last completed turn, whatever happened after it.

A turn can stop half-way: the client disconnects (the run is cancelled), the process is killed
(kill -9), or no model could answer (the client got a 502). LangGraph has by then saved the
question, and maybe some steps, as checkpoints. Continuing from the newest checkpoint would keep
a question nobody answered and skip a turn number. So a new turn starts from the newest
checkpoint whose state is a completed, answered turn (``turn == len(history)``, the last one
with a ``chosen_model``), which LangGraph forks from: the interrupted attempt is left as if it
never happened and the question can simply be asked again.

Clients that speak OpenAI's stateless protocol resend the whole conversation even with a
``thread_id``; :func:`new_messages` keeps only what the thread does not already hold, so no
turn is stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple


def completed(values: dict[str, Any]) -> bool:
    """Whether a thread state ends with an answered turn (or holds nothing at all): numbered
    as many turns as it has records, the last one answered by a model, and ending with that
    answer (a run's input checkpoint has the new question after the last answer)."""
    history = list(values.get("history") or [])
    messages = list(values.get("messages") or [])
    if int(values.get("turn") or 0) != len(history) or len(history) == 0 and messages:
        return False
    if history and history[-1].get("chosen_model") is None:
        return False
    return not messages or messages[-1].type == "ai"


@dataclass
class ThreadPoint:
    """The checkpoint a new turn continues from."""

    config: RunnableConfig
    """``thread_id`` and, where the newest checkpoint is not completed, the completed one's
    ``checkpoint_id`` (LangGraph forks from it)."""
    values: dict[str, Any]
    interrupted: bool
    """Whether something after the completed point was left behind."""


async def thread_point(saver: BaseCheckpointSaver[str], thread_id: str) -> ThreadPoint | None:
    """The newest completed point of ``thread_id``; None for a thread with none (new, or
    whose only turns were interrupted)."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    newest = await saver.aget_tuple(config)
    if newest is None:
        return None
    if completed(_values(newest)):
        return ThreadPoint(config, _values(newest), interrupted=False)
    async for saved in saver.alist(config):
        if saved.config["configurable"].get("checkpoint_ns", "") != "":
            continue
        if completed(_values(saved)) and _values(saved).get("messages"):
            return ThreadPoint(saved.config, _values(saved), interrupted=True)
    # no answered turn at all: the new turn starts the thread afresh
    return ThreadPoint(config, {}, interrupted=True)


def _values(saved: CheckpointTuple) -> dict[str, Any]:
    return dict(saved.checkpoint.get("channel_values") or {})


def _same(stored: BaseMessage, sent: BaseMessage) -> bool:
    return stored.type == sent.type and stored.text.strip() == sent.text.strip()


def new_messages(stored: list[BaseMessage], sent: list[BaseMessage]) -> list[BaseMessage]:
    """``sent`` without the prefix the thread already holds (a client that resends the whole
    conversation); ``sent`` itself when it does not start with the thread's messages."""
    if stored and len(sent) > len(stored) and all(map(_same, stored, sent)):
        return sent[len(stored) :]
    return sent

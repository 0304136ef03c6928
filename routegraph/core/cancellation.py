"""Stop a run's model calls when nobody waits for the answer any more.

Cancelling an asyncio task does not stop a model call running in a worker thread: llama.cpp
keeps decoding (a request abandoned after 5 s once decoded for 23 minutes and held the model
lock the whole time). So the server sets a :class:`threading.Event` for the run in
:data:`CANCEL_EVENT` (a context variable: LangGraph's tasks and LangChain's executor threads
copy the context, so every call of the run sees it) and sets the event when the client goes
away; the local model checks it before it starts and between tokens, and gives up.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from routegraph.core.errors import RouteGraphError

CANCEL_EVENT: ContextVar[threading.Event | None] = ContextVar(
    "routegraph_cancel_event", default=None
)


class RunCancelledError(RouteGraphError):
    """The run was cancelled (its client left, or the server is shutting down)."""


def cancelled() -> bool:
    """Whether this run has been cancelled."""
    event = CANCEL_EVENT.get()
    return event is not None and event.is_set()


def raise_if_cancelled() -> None:
    if cancelled():
        raise RunCancelledError("the run was cancelled")


@contextmanager
def cancel_scope() -> Iterator[threading.Event]:
    """Give the runs started inside this block (tasks created here copy it) one event."""
    event = threading.Event()
    token = CANCEL_EVENT.set(event)
    try:
        yield event
    finally:
        CANCEL_EVENT.reset(token)


T = TypeVar("T")


async def run_in_worker(work: Callable[[], T]) -> T:
    """``work()`` on the loop's default executor, in this context (it sees the run's cancel
    event). If the caller is cancelled, the event is set and this waits for ``work`` to stop
    before re-raising: a thread cannot be killed, and what it would still write (a checkpoint,
    an outcome record) must land before the caller cleans up (gives back a thread lease), not
    after. ``work`` must look at :func:`cancelled` often enough for that wait to be short."""
    context = contextvars.copy_context()
    event = CANCEL_EVENT.get()
    if event is None:  # no scope around the caller: the work gets its own event to stop by
        event = threading.Event()
        context.run(CANCEL_EVENT.set, event)
    future = asyncio.get_running_loop().run_in_executor(None, context.run, work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        event.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # how it stopped (RunCancelledError, mostly) is of no use now
        raise

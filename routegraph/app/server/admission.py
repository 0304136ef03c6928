"""Whether a request may start now: its key's rate and budget, and its thread being free.

Checked in this order, each atomically in the ledger (:mod:`routegraph.app.ledger`), after the
request's settings passed validation and before any model runs:

1. the key's requests per minute (429 ``rate_limit_exceeded`` with ``Retry-After``);
2. the thread: one turn at a time per thread, across every process on the database. A second
   request on a busy thread follows its multitask strategy (LangGraph's names): ``reject`` (the
   default) answers 409 ``thread_busy`` at once; ``enqueue`` waits for the turn in progress to
   end, up to the server's queue timeout (then 409 saying how long it waited). Requests queued
   in one process run in the order they arrived; across processes, in the order their claims
   win. Either way no accepted turn is lost or overwritten, and each runs on the thread as the
   turn before it left it;
3. the key's total budget: the run's worst case (its ``budget_usd``) is reserved; when less is
   left the run is held to what is left, and when nothing is left the request gets 429
   ``insufficient_quota``.

:meth:`Admission.release` settles the reservation at the run's real cost (at the worst case
when the run failed before reporting one) and frees the thread, whatever happened.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from routegraph.app.ledger import LEASE_S, Ledger, new_holder
from routegraph.app.server.chat_request import ChatRequest
from routegraph.app.server.errors import ApiError

DEFAULT_QUEUE_TIMEOUT_S = 120.0
CLAIM_POLL_S = 0.1
"""How often a queued request retries the thread's lease (held by another process)."""


@dataclass
class ThreadQueues:
    """Per-thread FIFO locks of this process: queued turns of one thread run in arrival order
    (asyncio's locks wake waiters first come, first served). Locks are dropped when idle."""

    timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)

    async def wait_turn(self, ledger: Ledger, thread_id: str, holder: str) -> float | None:
        """Hold ``thread_id``'s local lock and its lease; None when both are held, else the
        seconds waited in vain (the timeout). Cancellation leaves nothing held."""
        started = time.monotonic()
        lock = self.locks.setdefault(thread_id, asyncio.Lock())
        self.users[thread_id] = self.users.get(thread_id, 0) + 1
        try:
            await asyncio.wait_for(lock.acquire(), self.timeout_s)
        except TimeoutError:
            self._leave(thread_id)
            return time.monotonic() - started
        except BaseException:  # cancelled while waiting in line: leave the line
            self._leave(thread_id)
            raise
        try:
            while not await ledger.claim_thread(thread_id, holder):
                if time.monotonic() - started >= self.timeout_s:
                    self.done(thread_id)
                    return time.monotonic() - started
                await asyncio.sleep(CLAIM_POLL_S)
        except BaseException:
            await asyncio.shield(ledger.release_thread(thread_id, holder))
            self.done(thread_id)
            raise
        return None

    def done(self, thread_id: str) -> None:
        """Release the local lock taken by :meth:`wait_turn`."""
        lock = self.locks.get(thread_id)
        if lock is not None and lock.locked():
            lock.release()
        self._leave(thread_id)

    def _leave(self, thread_id: str) -> None:
        self.users[thread_id] = self.users.get(thread_id, 1) - 1
        if self.users[thread_id] <= 0:
            self.users.pop(thread_id, None)
            self.locks.pop(thread_id, None)


@dataclass
class Admission:
    """What a started request holds until it ends."""

    ledger: Ledger
    key_id: str | None = None
    reserved: float = 0.0
    thread_id: str | None = None
    holder: str = ""
    released: bool = False

    renewer: asyncio.Task[None] | None = None
    queue: ThreadQueues | None = None
    """Where the thread's local lock is held (an ``enqueue`` request), released at the end."""

    def keep_alive(self) -> None:
        """Renew the thread lease and the reservation while the run lives (a run may outlast
        one lease: a slow local model, a long cascade)."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(LEASE_S / 3)
                if self.thread_id is not None:
                    await self.ledger.claim_thread(self.thread_id, self.holder)
                if self.key_id is not None:
                    await self.ledger.renew_reservation(self.holder)

        if self.thread_id is not None or self.key_id is not None:
            self.renewer = asyncio.get_running_loop().create_task(renew())

    async def release(self, cost_usd: float | None) -> None:
        """Settle the spend (``None``: unknown, charged at the reservation) and free the thread;
        safe to call twice, and shielded from the caller's cancellation."""
        if self.released:
            return
        self.released = True
        if self.renewer is not None:
            self.renewer.cancel()
        await asyncio.shield(self._release(cost_usd))

    async def _release(self, cost_usd: float | None) -> None:
        if self.key_id is not None and self.reserved > 0:
            spent = self.reserved if cost_usd is None else min(cost_usd, self.reserved)
            await self.ledger.settle(self.key_id, self.reserved, spent, self.holder)
        if self.thread_id is not None:
            await self.ledger.release_thread(self.thread_id, self.holder)
            if self.queue is not None:
                self.queue.done(self.thread_id)


async def admit(
    ledger: Ledger, chat: ChatRequest, budget_usd: float, queues: ThreadQueues | None = None
) -> Admission:
    """Admit ``chat`` (whose run may spend up to ``budget_usd``) or raise the ApiError saying
    why not. On success the request's budget may have been lowered to what its key has left.
    ``queues`` hold ``enqueue`` requests in line (default: a queue of this call's own)."""
    key = chat.key
    admission = Admission(ledger, holder=new_holder())
    if key is not None and key.requests_per_minute:
        wait = await ledger.count_request(key.id, key.requests_per_minute)
        if wait is not None:
            raise ApiError(
                429,
                f"Key {key.id} is over its rate of {key.requests_per_minute} requests per "
                f"minute; retry in {wait:.0f} s.",
                None,
                code="rate_limit_exceeded",
                headers={"retry-after": str(max(1, round(wait)))},
            )
    if chat.thread_id is not None:
        kept = chat.kept_thread_id or chat.thread_id
        if chat.multitask_strategy == "enqueue":
            queue = queues or ThreadQueues()
            waited = await queue.wait_turn(ledger, kept, admission.holder)
            if waited is not None:
                raise ApiError(
                    409,
                    f"Thread {chat.thread_id!r} was still answering other turns after "
                    f"{waited:.0f} s in the queue (this server's queue timeout); retry later.",
                    "thread_id",
                    code="thread_busy",
                )
            admission.queue = queue
        elif not await ledger.claim_thread(kept, admission.holder):
            raise ApiError(
                409,
                f"Thread {chat.thread_id!r} is answering another turn; retry when it has "
                'finished (one turn at a time per thread), or send "multitask_strategy": '
                '"enqueue" to wait for it.',
                "thread_id",
                code="thread_busy",
            )
        admission.thread_id = kept
    if key is not None and key.budget_usd is not None:
        reserved = await ledger.reserve(key.id, budget_usd, key.budget_usd, admission.holder)
        if reserved <= 0.0:
            await admission.release(0.0)
            spent, _ = await ledger.spend(key.id)
            raise ApiError(
                429,
                f"Key {key.id} has used its budget of ${key.budget_usd:g} (spent "
                f"${spent:.6f}, the rest is held by requests in flight).",
                None,
                code="insufficient_quota",
            )
        admission.key_id, admission.reserved = key.id, reserved
        if reserved < budget_usd:
            chat.context["budget_usd"] = reserved
            chat.context_params.setdefault("budget_usd", "routegraph.budget_usd")
    admission.keep_alive()
    return admission

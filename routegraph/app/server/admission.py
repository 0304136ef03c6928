"""Whether a request may start now: its key's rate and budget, and its thread being free.

Checked in this order, each atomically in the ledger (:mod:`routegraph.app.ledger`), after the
request's settings passed validation and before any model runs:

1. the key's requests per minute (429 ``rate_limit_exceeded`` with ``Retry-After``);
2. the thread: one turn at a time per thread, across every process on the database; a second
   request on a busy thread is rejected with 409 ``thread_busy`` (LangGraph's ``reject``
   multitask strategy), so no accepted turn is ever lost or overwritten;
3. the key's total budget: the run's worst case (its ``budget_usd``) is reserved; when less is
   left the run is held to what is left, and when nothing is left the request gets 429
   ``insufficient_quota``.

:meth:`Admission.release` settles the reservation at the run's real cost (at the worst case
when the run failed before reporting one) and frees the thread, whatever happened.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from routegraph.app.ledger import LEASE_S, Ledger, new_holder
from routegraph.app.server.chat_request import ChatRequest
from routegraph.app.server.errors import ApiError


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


async def admit(ledger: Ledger, chat: ChatRequest, budget_usd: float) -> Admission:
    """Admit ``chat`` (whose run may spend up to ``budget_usd``) or raise the ApiError saying
    why not. On success the request's budget may have been lowered to what its key has left."""
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
        if not await ledger.claim_thread(kept, admission.holder):
            raise ApiError(
                409,
                f"Thread {chat.thread_id!r} is answering another turn; retry when it has "
                "finished (one turn at a time per thread).",
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

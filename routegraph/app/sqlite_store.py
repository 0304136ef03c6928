"""The outcome log's store on a SQLite file (``serve --db FILE``, ``chat``, ``learn``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from langgraph.store.base import Op, Result
from langgraph.store.sqlite import SqliteStore


class ThreadedSqliteStore(SqliteStore):
    """LangGraph's synchronous SQLite store, awaitable through a worker thread.

    Why not ``AsyncSqliteStore``: the graphs' nodes are synchronous and run in worker threads,
    and each outcome record they wrote went from that thread to the event loop, on to
    ``aiosqlite``'s thread and back (about 0.8 ms of CPU a write; BENCHMARKS.md "Serving a
    team"). Here a node's write runs where the node runs, under the store's lock; async callers
    (feedback, the dashboard, ``learn``) get the same work on a worker thread."""

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))

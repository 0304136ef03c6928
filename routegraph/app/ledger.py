"""Shared counters a team's gateway needs to be right across processes: thread leases, per-key
spend and per-key request rates, in the database that keeps the threads.

Why here and not in memory: several ``serve`` processes on one PostgreSQL database (or several
workers on one SQLite file) must agree that a thread is busy, that a key's budget is used up,
that a key made its 60th request this minute. Each check is ONE conditional SQL statement
(``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE`` / ``UPDATE ... WHERE``), which both SQLite
(one writer at a time) and PostgreSQL (row locks, the condition re-checked after a wait) apply
atomically; whether a row changed says whether the claim was granted. Spend is reserved at the
run's worst case before it starts and settled at its real cost after, so 50 concurrent requests
cannot all pass a check that only one of them could afford. Spend survives a restart.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from typing import Any

TABLES = (
    "CREATE TABLE IF NOT EXISTS routegraph_thread_leases ("
    " thread_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS routegraph_key_spend ("
    " key_id TEXT PRIMARY KEY, spent DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " reserved DOUBLE PRECISION NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS routegraph_key_reservations ("
    " holder TEXT PRIMARY KEY, key_id TEXT NOT NULL, amount DOUBLE PRECISION NOT NULL,"
    " expires DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS routegraph_key_rate ("
    " key_id TEXT NOT NULL, minute BIGINT NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY (key_id, minute))",
)
CLAIM_THREAD = (
    "INSERT INTO routegraph_thread_leases (thread_id, holder, expires) VALUES (%s, %s, %s) "
    "ON CONFLICT (thread_id) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
    "WHERE routegraph_thread_leases.expires < %s OR routegraph_thread_leases.holder = %s"
)
RELEASE_THREAD = "DELETE FROM routegraph_thread_leases WHERE thread_id = %s AND holder = %s"
READ_HOLDER = "SELECT holder FROM routegraph_thread_leases WHERE thread_id = %s"
TAKE_OVER = (
    "UPDATE routegraph_thread_leases SET holder = %s, expires = %s "
    "WHERE thread_id = %s AND holder = %s"
)
NEW_SPEND_ROW = (
    "INSERT INTO routegraph_key_spend (key_id, spent, reserved) VALUES (%s, 0, 0) "
    "ON CONFLICT (key_id) DO NOTHING"
)
RESERVE = (
    "UPDATE routegraph_key_spend SET reserved = reserved + %s "
    "WHERE key_id = %s AND spent + reserved + %s <= %s"
)
SETTLE = (
    "UPDATE routegraph_key_spend SET reserved = reserved - %s, spent = spent + %s WHERE key_id = %s"
)
READ_SPEND = "SELECT spent, reserved FROM routegraph_key_spend WHERE key_id = %s"
ADD_RESERVATION = (
    "INSERT INTO routegraph_key_reservations (holder, key_id, amount, expires) "
    "VALUES (%s, %s, %s, %s)"
)
RENEW_RESERVATION = "UPDATE routegraph_key_reservations SET expires = %s WHERE holder = %s"
DROP_RESERVATION = "DELETE FROM routegraph_key_reservations WHERE holder = %s"
RECLAIM_EXPIRED = (
    "DELETE FROM routegraph_key_reservations WHERE key_id = %s AND expires < %s RETURNING amount"
)
RELEASE_RESERVED = "UPDATE routegraph_key_spend SET reserved = reserved - %s WHERE key_id = %s"
SPEND_ONLY = "UPDATE routegraph_key_spend SET spent = spent + %s WHERE key_id = %s"
COUNT_REQUEST = (
    "INSERT INTO routegraph_key_rate (key_id, minute, count) VALUES (%s, %s, 1) "
    "ON CONFLICT (key_id, minute) DO UPDATE SET count = routegraph_key_rate.count + 1 "
    "WHERE routegraph_key_rate.count < %s"
)
FORGET_OLD_MINUTES = "DELETE FROM routegraph_key_rate WHERE minute < %s"
RECLAIM_EVERY_S = 10.0
"""How often a key's expired reservations are looked for while its requests fit its budget."""
LEASE_S = 30.0
"""A thread lease lasts this long unless renewed (a running turn renews it every third of it).
A process killed mid-turn blocks its thread until then, unless the next claim comes from the
same machine, which sees that the holder's process is gone and takes the lease over."""


def new_holder() -> str:
    """``host/pid/random``: unique per run, and tells a later claim on the same machine whether
    the holder's process is still alive."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex}"


def holder_is_dead(holder: str) -> bool:
    """Whether ``holder`` ran in a process of this machine that no longer exists."""
    host, _, rest = holder.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Ledger:
    """Leases, spend and rates on one database; ``execute(sql, params) -> rows changed`` and
    ``fetch(sql, params) -> first row`` are the database's (see :func:`open_ledger`)."""

    def __init__(self, execute: Any, fetch: Any, fetch_all: Any = None):
        self._execute = execute
        self._fetch = fetch
        self._fetch_all = fetch_all
        self._reclaimed: dict[str, float] = {}
        """When this process last gave back a key's expired reservations (monotonic s)."""

    async def setup(self) -> None:
        for statement in TABLES:
            await self._execute(statement, ())

    # -- threads ------------------------------------------------------------------------------
    async def claim_thread(self, thread_id: str, holder: str, lease_s: float = LEASE_S) -> bool:
        """Whether ``holder`` now has the thread (it was free, expired, or already its own)."""
        now = time.time()
        changed = await self._execute(CLAIM_THREAD, (thread_id, holder, now + lease_s, now, holder))
        if changed > 0:
            return True
        row = await self._fetch(READ_HOLDER, (thread_id,))
        if row is None or not holder_is_dead(str(row[0])):
            return False
        # compare-and-swap: only if the dead holder still has it
        return await self._execute(TAKE_OVER, (holder, now + lease_s, thread_id, row[0])) > 0

    async def release_thread(self, thread_id: str, holder: str) -> None:
        await self._execute(RELEASE_THREAD, (thread_id, holder))

    # -- spend --------------------------------------------------------------------------------
    async def reserve(
        self, key_id: str, worst_case: float, budget: float, holder: str = ""
    ) -> float:
        """Reserve up to ``worst_case`` USD of ``key_id``'s ``budget``: the whole worst case
        if it fits, else what is left; 0.0 when nothing is left (the caller refuses the
        request). The run must then be held to the returned amount.

        Each reservation is also a row with an expiry (renewed while its run lives): what a
        process killed mid-run had reserved is given back to the key once it expires, here:
        before a reservation that does not fit is refused, and at most every
        :data:`RECLAIM_EVERY_S` otherwise. The usual request (a known key within budget) costs
        two statements; checking everything every time cost five round trips to the database."""
        granted = 0.0
        now = time.monotonic()
        if now - self._reclaimed.get(key_id, -RECLAIM_EVERY_S) >= RECLAIM_EVERY_S:
            await self._prepare(key_id, now)
        if await self._execute(RESERVE, (worst_case, key_id, worst_case, budget)) > 0:
            granted = worst_case
        else:  # no row yet, over budget, or held by reservations that may have expired
            await self._prepare(key_id, now)
            if await self._execute(RESERVE, (worst_case, key_id, worst_case, budget)) > 0:
                granted = worst_case
            else:
                spent, reserved = await self.spend(key_id)
                left = budget - spent - reserved
                if left > 1e-12 and await self._execute(RESERVE, (left, key_id, left, budget)) > 0:
                    granted = left
        if granted > 0 and holder:
            expires = time.time() + LEASE_S
            await self._execute(ADD_RESERVATION, (holder, key_id, granted, expires))
        return granted

    async def _prepare(self, key_id: str, now: float) -> None:
        """Make sure ``key_id`` has its spend row, and give back its expired reservations."""
        await self._execute(NEW_SPEND_ROW, (key_id,))
        await self._reclaim_expired(key_id)
        self._reclaimed[key_id] = now

    async def _reclaim_expired(self, key_id: str) -> None:
        if self._fetch_all is None:
            return
        rows = await self._fetch_all(RECLAIM_EXPIRED, (key_id, time.time()))
        total = sum(float(row[0]) for row in rows)
        if total > 0:  # each expired row was deleted by exactly one caller: given back once
            await self._execute(RELEASE_RESERVED, (total, key_id))

    async def renew_reservation(self, holder: str) -> None:
        await self._execute(RENEW_RESERVATION, (time.time() + LEASE_S, holder))

    async def settle(self, key_id: str, reserved: float, actual: float, holder: str = "") -> None:
        """Turn a reservation into what the run really spent (if its reservation expired
        meanwhile and was given back, only the spend is added)."""
        if holder and self._fetch_all is not None:
            still_held = await self._execute(DROP_RESERVATION, (holder,)) > 0
            if not still_held:
                await self._execute(SPEND_ONLY, (max(0.0, actual), key_id))
                return
        await self._execute(SETTLE, (reserved, max(0.0, actual), key_id))

    async def spend(self, key_id: str) -> tuple[float, float]:
        """(spent, reserved) USD of ``key_id``."""
        row = await self._fetch(READ_SPEND, (key_id,))
        return (float(row[0]), float(row[1])) if row else (0.0, 0.0)

    # -- rate ---------------------------------------------------------------------------------
    async def count_request(self, key_id: str, per_minute: int) -> float | None:
        """Count one request of ``key_id`` in this minute; None if allowed, else the seconds
        until the next minute starts (the request is not counted)."""
        now = time.time()
        minute = int(now // 60)
        if await self._execute(COUNT_REQUEST, (key_id, minute, per_minute)) > 0:
            if minute % 10 == 0:
                await self._execute(FORGET_OLD_MINUTES, (minute - 1,))
            return None
        return 60.0 - (now % 60)


def sqlite_ledger(connection: Any, inline: sqlite3.Connection | None = None) -> Ledger:
    """A ledger on an ``aiosqlite`` connection in autocommit mode (each statement atomic).

    ``inline``: a plain connection to the same file that never waits for its write lock
    (busy timeout 0), used on the event loop itself. A ledger statement takes tens of
    microseconds, and each round trip through ``aiosqlite``'s thread cost about 0.2 ms of CPU
    (five of them a request; ``benchmarks/sqlite_costs.py``). When the file is locked by
    another writer the statement fails at once, changing nothing, and goes through
    ``connection``, which waits in its own thread: the loop never blocks on a lock."""

    def run_inline(sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor | None:
        if inline is None:
            return None
        try:
            return inline.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return None  # another writer has the file: wait for it off the loop
            raise
        except sqlite3.ProgrammingError:
            return None  # called from another thread than the one that opened it: the slow way

    async def execute(sql: str, params: tuple[Any, ...]) -> int:
        sql = sql.replace("%s", "?")
        cursor: Any = run_inline(sql, params)
        if cursor is None:
            cursor = await connection.execute(sql, params)
        return int(cursor.rowcount)

    async def fetch_all(sql: str, params: tuple[Any, ...]) -> list[Any]:
        sql = sql.replace("%s", "?")
        cursor = run_inline(sql, params)
        if cursor is not None:
            return cursor.fetchall()
        return list(await connection.execute_fetchall(sql, params))

    async def fetch(sql: str, params: tuple[Any, ...]) -> Any:
        rows = await fetch_all(sql, params)  # the ledger's reads are one row by key
        return rows[0] if rows else None

    return Ledger(execute, fetch, fetch_all)


def postgres_ledger(pool: Any) -> Ledger:
    """A ledger on a ``psycopg_pool`` pool of autocommit connections."""

    async def execute(sql: str, params: tuple[Any, ...]) -> int:
        async with pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return int(cursor.rowcount)

    async def fetch(sql: str, params: tuple[Any, ...]) -> Any:
        async with pool.connection() as conn:
            row = await (await conn.execute(sql, params)).fetchone()
            return None if row is None else tuple(row.values() if isinstance(row, dict) else row)

    async def fetch_all(sql: str, params: tuple[Any, ...]) -> list[Any]:
        async with pool.connection() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
            return [tuple(r.values() if isinstance(r, dict) else r) for r in rows]

    return Ledger(execute, fetch, fetch_all)


class MemoryLedger(Ledger):
    """The same rules for one process without a database (``serve`` without ``--db``): nothing
    survives a restart. Methods never await between reading and writing, so asyncio runs each
    claim whole."""

    def __init__(self) -> None:
        super().__init__(None, None)
        self._leases: dict[str, tuple[str, float]] = {}
        self._spend: dict[str, list[float]] = {}
        self._rate: dict[tuple[str, int], int] = {}

    async def setup(self) -> None:
        return None

    async def claim_thread(self, thread_id: str, holder: str, lease_s: float = LEASE_S) -> bool:
        now = time.time()
        current = self._leases.get(thread_id)
        if current is not None and current[1] >= now and current[0] != holder:
            return False
        self._leases[thread_id] = (holder, now + lease_s)
        return True

    async def release_thread(self, thread_id: str, holder: str) -> None:
        if self._leases.get(thread_id, ("",))[0] == holder:
            del self._leases[thread_id]

    async def reserve(
        self, key_id: str, worst_case: float, budget: float, holder: str = ""
    ) -> float:
        row = self._spend.setdefault(key_id, [0.0, 0.0])
        grant = min(worst_case, budget - row[0] - row[1])
        if grant <= 1e-12:
            return 0.0
        row[1] += grant
        return grant

    async def renew_reservation(self, holder: str) -> None:
        return None  # one process: a reservation cannot outlive its run

    async def settle(self, key_id: str, reserved: float, actual: float, holder: str = "") -> None:
        row = self._spend.setdefault(key_id, [0.0, 0.0])
        row[1] -= reserved
        row[0] += max(0.0, actual)

    async def spend(self, key_id: str) -> tuple[float, float]:
        spent, reserved = self._spend.get(key_id, [0.0, 0.0])
        return spent, reserved

    async def count_request(self, key_id: str, per_minute: int) -> float | None:
        now = time.time()
        minute = int(now // 60)
        count = self._rate.get((key_id, minute), 0)
        if count >= per_minute:
            return 60.0 - (now % 60)
        self._rate = {k: v for k, v in self._rate.items() if k[1] >= minute - 1}
        self._rate[(key_id, minute)] = count + 1
        return None

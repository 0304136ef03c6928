"""Where conversations and outcomes are kept: a SQLite file or a PostgreSQL server.

``routegraph chat`` and ``routegraph serve --db`` both open their store here. A SQLite file keeps
a machine's chats across restarts; a PostgreSQL URL lets several processes (on one machine or
many) share threads, so any of them can continue a conversation another one started. Both are
LangGraph checkpointers (``langgraph-checkpoint-sqlite`` / ``-postgres``), async so one server
process serves many clients; the outcome log (one record per routed request, feedback, what
``routegraph learn`` reads) is the matching LangGraph store on the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from routegraph.app.ledger import Ledger, postgres_ledger, sqlite_ledger
from routegraph.app.wal_checkpoints import DEFER_CHECKPOINTS, WalCheckpointer, defer_checkpoints
from routegraph.core.errors import InvalidInputError

DB_VARIABLE = "ROUTEGRAPH_DB"
POSTGRES_SCHEMES = ("postgres://", "postgresql://")
SETUP_LOCK = 7_290_114_356
"""PostgreSQL advisory-lock key held while creating tables, so processes that start together
do not race on the migrations."""


def default_chat_db() -> str:
    """``$ROUTEGRAPH_DB`` if set (file or URL), else ``$XDG_DATA_HOME/routegraph/chats.sqlite``."""
    env = os.environ.get(DB_VARIABLE)
    if env:
        return env if is_postgres(env) else str(Path(env).expanduser())
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(base / "routegraph" / "chats.sqlite")


def is_postgres(db: str) -> bool:
    return db.startswith(POSTGRES_SCHEMES)


def describe(db: str) -> str:
    """The store for messages: the file, or the server without its password."""
    if not is_postgres(db):
        return f"SQLite {db}"
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(db)
    where = info.get("host") or "localhost"
    return f"PostgreSQL {info.get('dbname', '')} at {where}"


@dataclass
class Persistence:
    """The two LangGraph stores on one database: threads (checkpointer) and the outcome log
    (a key-value store, see :mod:`routegraph.core.outcomes`)."""

    checkpointer: BaseCheckpointSaver[str]
    store: BaseStore
    ledger: Ledger
    """Thread leases, per-key spend and rates (:mod:`routegraph.app.ledger`)."""


@asynccontextmanager
async def open_persistence(db: str | Path) -> AsyncIterator[Persistence]:
    """Threads and outcomes on ``db``: a ``postgresql://`` URL or a SQLite file path.

    Tables are created on first use (SQLite file and its folder too).
    """
    db = str(db)
    if is_postgres(db):
        async with _postgres(db) as both:
            yield both
        return
    path = Path(db.removeprefix("sqlite:///")).expanduser()
    if path.is_dir():
        raise InvalidInputError("--db", f"{path} is a folder", "a SQLite file or postgresql:// URL")
    path.parent.mkdir(parents=True, exist_ok=True)
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from routegraph.app.sqlite_store import ThreadedSqliteStore

    # Threads and the ledger share one autocommit connection; the outcome store, which opens
    # its own transactions (BEGIN ... COMMIT, which the saver's commit() would end early on a
    # shared connection), has its own (see ThreadedSqliteStore). All wait for the file's write
    # lock rather than fail, except the ledger's inline one (see sqlite_ledger):
    # under load, connections without a busy timeout failed with "database is locked"
    # (benchmarks/gateway_overhead.py). The file is in WAL mode (the saver's setup sets it) with
    # synchronous=NORMAL: a commit no longer waits for the disk (an fsync cost ~3.4 ms per
    # write here, four writes per request), the database stays consistent, and what is lost
    # to a power cut (not to a crash of this process) is the last moments' commits. Operators
    # who need commits to survive a power cut set ROUTEGRAPH_SQLITE_SYNCHRONOUS=FULL.
    # Checkpoints of the log (copying it into the file) run on a thread of their own, not in
    # the commit that happens to fill it: see routegraph.app.wal_checkpoints.
    synchronous = sqlite_synchronous()
    async with aiosqlite.connect(str(path), isolation_level=None, timeout=30) as conn:
        await conn.execute("PRAGMA busy_timeout = 30000")
        await conn.execute(f"PRAGMA synchronous = {synchronous}")
        await conn.execute(DEFER_CHECKPOINTS)
        store_conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=30
        )
        inline = sqlite3.connect(path, isolation_level=None, timeout=30)
        with contextlib.closing(store_conn), contextlib.closing(inline):
            for connection in (store_conn, inline):
                connection.execute(f"PRAGMA synchronous = {synchronous}")
                defer_checkpoints(connection)
            saver, store = AsyncSqliteSaver(conn), ThreadedSqliteStore(store_conn)
            async with setup_lock(path):  # switching a new file to WAL needs it alone: under
                # the lock, or processes starting together got "database is locked" here
                await conn.execute("PRAGMA journal_mode = WAL")
                await saver.setup()
                await asyncio.to_thread(store.setup)
                await sqlite_ledger(conn).setup()
            # set up like the others (a new file may be locked by a process creating it); from
            # now on it never waits: see sqlite_ledger
            inline.execute("PRAGMA busy_timeout = 0")
            with WalCheckpointer(path):
                yield Persistence(saver, store, sqlite_ledger(conn, inline))


@asynccontextmanager
async def setup_lock(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on ``<db>.setup.lock`` while the tables are created or migrated.

    Why: the workers of ``serve --workers N`` open a new file at the same moment, and two
    processes running the store's migrations together failed one of them ("duplicate column
    name"); uvicorn then stopped the whole server mid-traffic. Where ``fcntl`` is missing
    (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        yield
        return
    with open(path.with_name(path.name + ".setup.lock"), "a") as handle:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


SYNCHRONOUS_VARIABLE = "ROUTEGRAPH_SQLITE_SYNCHRONOUS"
SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")


def sqlite_synchronous() -> str:
    """SQLite's ``synchronous`` setting for the database file (``$ROUTEGRAPH_SQLITE_SYNCHRONOUS``,
    default ``NORMAL``); anything else is refused naming the variable."""
    value = os.environ.get(SYNCHRONOUS_VARIABLE, "NORMAL").strip().upper()
    if value not in SYNCHRONOUS_MODES:
        raise InvalidInputError(SYNCHRONOUS_VARIABLE, f"{value!r} is not a mode", SYNCHRONOUS_MODES)
    return value


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[Persistence]:
    """A connection pool (so concurrent requests do not queue on one connection) shared by the
    saver and the store, whose tables are created under an advisory lock."""
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.store.postgres.aio import AsyncPostgresStore
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    try:
        pool = AsyncConnectionPool(url, kwargs=kwargs, min_size=1, max_size=8, open=False)
        await pool.open(wait=True, timeout=30)
    except (psycopg.Error, TimeoutError) as exc:
        raise InvalidInputError("--db", f"cannot connect to {describe(url)} ({exc})") from None
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        store = AsyncPostgresStore(pool)  # type: ignore[arg-type]
        ledger = postgres_ledger(pool)
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
            try:
                await saver.setup()
                await store.setup()
                await ledger.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
        yield Persistence(saver, store, ledger)
    finally:
        await pool.close()

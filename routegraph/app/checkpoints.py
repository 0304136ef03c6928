"""Where conversations are kept: one checkpointer for a SQLite file or a PostgreSQL server.

``routegraph chat`` and ``routegraph serve --db`` both open their store here. A SQLite file keeps
a machine's chats across restarts; a PostgreSQL URL lets several processes (on one machine or
many) share threads, so any of them can continue a conversation another one started. Both are
LangGraph checkpointers (``langgraph-checkpoint-sqlite`` / ``-postgres``), async so one server
process serves many clients.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

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


@asynccontextmanager
async def open_checkpointer(db: str | Path) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """An async checkpointer on ``db``: a ``postgresql://`` URL or a SQLite file path.

    Tables are created on first use (SQLite file and its folder too).
    """
    db = str(db)
    if is_postgres(db):
        async with _postgres(db) as saver:
            yield saver
        return
    path = Path(db.removeprefix("sqlite:///")).expanduser()
    if path.is_dir():
        raise InvalidInputError("--db", f"{path} is a folder", "a SQLite file or postgresql:// URL")
    path.parent.mkdir(parents=True, exist_ok=True)
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(path)) as sqlite_saver:
        await sqlite_saver.setup()
        yield sqlite_saver


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """A connection pool (so concurrent requests do not queue on one connection) and a saver
    whose tables are created under an advisory lock."""
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
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
        async with pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
            try:
                await saver.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
        yield saver
    finally:
        await pool.close()

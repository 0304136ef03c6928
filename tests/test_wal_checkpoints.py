"""SQLite's write-ahead log is copied back on a thread of its own, never inside a request's commit.

A commit that fills the log past 1,000 pages runs the checkpoint (a copy and an fsync) itself;
in ``serve`` that was the ledger's commit on the event loop, stalling every request of the
process (``routegraph/app/wal_checkpoints.py``). ``log frames`` below is what
``PRAGMA wal_checkpoint`` reports as the log's length: it only drops once a checkpoint has run
and the next commit starts the log over.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from routegraph.app import wal_checkpoints
from routegraph.app.wal_checkpoints import WalCheckpointer, defer_checkpoints


def log_frames(path: Path) -> int:
    """Frames in ``path``'s log, read by a checkpoint that copies them but cannot restart it."""
    with sqlite3.connect(path) as probe:
        busy, frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    probe.close()
    return int(frames)


def fill_log(connection: sqlite3.Connection, commits: int) -> None:
    for i in range(commits):
        connection.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 200))


def deferring_writer(db: Path) -> sqlite3.Connection:
    """A connection in WAL mode that leaves checkpoints to the thread, with 1,200 commits."""
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    defer_checkpoints(writer)
    writer.execute("CREATE TABLE t (i INTEGER, s TEXT)")
    fill_log(writer, 1200)
    return writer


def test_the_ledger_commits_on_the_event_loop_without_checkpointing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,500 ledger commits (each at least one page) leave the log uncopied while the
    checkpoint thread waits: no commit on the loop ran a checkpoint (before: the log restarted
    at 1,000 pages, inside whichever commit crossed them)."""
    from routegraph.app.checkpoints import open_persistence

    monkeypatch.setattr(wal_checkpoints, "INTERVAL_S", 3600.0)
    db = tmp_path / "gateway.sqlite"

    async def commit_many() -> int:
        async with open_persistence(str(db)) as kept:
            for _ in range(1500):
                await kept.ledger.count_request("key-1", 10**6)
            return log_frames(db)

    assert asyncio.run(commit_many()) >= 1500


def test_the_checkpoint_thread_copies_the_log_back_so_it_starts_over(tmp_path: Path) -> None:
    db = tmp_path / "log.sqlite"
    writer = deferring_writer(db)
    with WalCheckpointer(db, interval_s=0.05) as thread:
        deadline = time.monotonic() + 10
        while thread.checkpoints < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert thread.checkpoints >= 2
        fill_log(writer, 3)  # the first commit after a full checkpoint starts the log over
        assert log_frames(db) < 50
    writer.close()


def test_without_the_thread_the_deferred_log_keeps_growing(tmp_path: Path) -> None:
    """The control for the test above: with checkpoints deferred and no thread, nothing copies
    the log back, so the same writes leave it long."""
    db = tmp_path / "log.sqlite"
    writer = deferring_writer(db)
    fill_log(writer, 3)
    assert log_frames(db) >= 1200
    writer.close()

"""Copying a SQLite write-ahead log back into its database on a thread of its own.

Why: in WAL mode SQLite copies the log into the database file (a "checkpoint", with an fsync)
inside whichever commit pushes the log past 1,000 pages, and that commit waits for it. In
``serve`` that commit is usually the ledger's, which runs on the event loop, so every second
or two at 100 requests/s one commit stalled every request of the process: the gateway's p95
at 100 requests/s fell from 14.6-20.1 ms to 10.1-10.5 ms when no request-path connection
checkpointed (``benchmarks/gateway_overhead.py``, BENCHMARKS.md). So the connections that serve
requests keep only a far-off automatic limit (:data:`BACKSTOP_PAGES`, should this thread ever
fall behind), and :class:`WalCheckpointer` checkpoints every :data:`INTERVAL_S` from its own
connection in ``PASSIVE`` mode, which never waits for, nor blocks, readers or writers (a
checkpoint by another process at that moment just makes this one a no-op).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from types import TracebackType

INTERVAL_S = 1.0
"""How often the log is copied back: at 100 requests/s about 500 pages arrive a second."""
BACKSTOP_PAGES = 10_000
"""``wal_autocheckpoint`` of the request-path connections: far above what arrives between two
of this thread's checkpoints, so a request pays for one only if the thread stops working."""

DEFER_CHECKPOINTS = f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}"
"""The statement that leaves a connection's checkpoints to :class:`WalCheckpointer`."""

log = logging.getLogger(__name__)


def defer_checkpoints(connection: sqlite3.Connection) -> None:
    """Leave checkpoints of ``connection``'s log to :class:`WalCheckpointer`."""
    connection.execute(DEFER_CHECKPOINTS)


class WalCheckpointer:
    """A daemon thread running ``PRAGMA wal_checkpoint(PASSIVE)`` on ``path`` every
    ``interval_s`` seconds, and once more when stopped (``with`` or :meth:`stop`)."""

    def __init__(self, path: str | Path, interval_s: float | None = None) -> None:
        self.path = str(path)
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self.checkpoints = 0
        """Checkpoints run so far (a test and a curious operator can read it)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="sqlite-wal-checkpoints", daemon=True
        )

    def __enter__(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval_s):
                self._checkpoint(connection)
            self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as error:  # a locked or closing file: try again next time
            log.debug("WAL checkpoint of %s skipped: %s", self.path, error)

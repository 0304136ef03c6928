"""Several processes opening one new SQLite file at once all start.

``serve --workers N`` starts N processes on a database file that may not exist yet; each
creates (or migrates) the tables. Run together, the store's migrations failed one process in
about eight ("duplicate column name"), and uvicorn then stopped the whole server. The table
set-up now holds a lock file; this starts four processes at the same instant, several times.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import OFFLINE_ENV, PROJECT_ROOT

OPEN_AT = """
import asyncio, sys, time
from routegraph.app.checkpoints import open_persistence

async def main() -> None:
    while time.time() < float(sys.argv[2]):
        await asyncio.sleep(0.001)
    async with open_persistence(sys.argv[1]) as kept:
        await kept.ledger.spend("key-x")

asyncio.run(main())
"""


def test_processes_opening_a_new_file_together_all_start(tmp_path: Path) -> None:
    import os

    env = {**os.environ, **OFFLINE_ENV}
    failures = []
    for attempt in range(6):
        db = tmp_path / f"gateway{attempt}.sqlite"
        start = time.time() + 2.5  # every process imported and waiting by then
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AT, str(db), str(start)],
                env=env,
                cwd=PROJECT_ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(4)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                failures.append(err.strip().splitlines()[-1])
    assert failures == []

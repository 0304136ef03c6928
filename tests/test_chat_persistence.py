"""``routegraph chat`` keeps a conversation in SQLite and resumes it in a new process.

Each session is a separate ``routegraph chat`` process fed through stdin, on the real embedded
SmolLM2 model: the second process is told only "And of Italy?", so answering it needs the first
session's turn, which only the SQLite file can have carried across.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLOUD_ENV_VARS, OFFLINE_ENV, PROJECT_ROOT, executable

pytestmark = pytest.mark.slow

SETTINGS = ["--router", "heuristic", "--max-tokens", "32"]


def chat(db: Path, *args: str, text: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **OFFLINE_ENV, "COLUMNS": "200"}
    for key in CLOUD_ENV_VARS:
        env.pop(key, None)
    return subprocess.run(
        [executable("routegraph"), "chat", "--db", str(db), *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=PROJECT_ROOT,
    )


def test_chat_resumes_a_thread_after_a_restart(tmp_path: Path, smollm2_gguf: Path) -> None:
    db = tmp_path / "chats.sqlite"
    first = chat(db, "--thread", "trip", "--graph", "hybrid", *SETTINGS,
                 text="What is the capital of France?\n")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "thread trip · new thread · graph hybrid" in first.stdout
    assert "paris" in first.stdout.lower()
    assert "routegraph chat --thread trip" in first.stdout  # how to resume

    # A new process: no --graph (the thread's graph is reused), only the follow-up question.
    second = chat(db, "--thread", "trip", *SETTINGS,
                  text="And of Italy?\n/bogus\n/good right\n/quit\n")  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "unknown command /bogus" in second.stdout  # not sent as a turn (history below)
    assert "noted: turn 2 rated 1" in second.stdout
    assert "resuming (1 earlier turns) · graph hybrid" in second.stdout
    assert "rome" in second.stdout.lower().split("and of italy?")[1]

    history = chat(db, "--thread", "trip", "--history", "--json")
    assert history.returncode == 0, history.stderr
    turns = json.loads(history.stdout)["turns"]
    assert [t["turn"] for t in turns] == [1, 2]
    assert [t["query"] for t in turns] == ["What is the capital of France?", "And of Italy?"]
    assert all(t["chosen_model"] == "smollm2-135m" and t["cost_usd"] == 0.0 for t in turns)
    # The second turn's prompt carried the first turn (more input tokens than it alone has).
    assert turns[1]["input_tokens"] > turns[0]["input_tokens"] + turns[0]["output_tokens"]

    table = chat(db, "--thread", "trip", "--history")
    assert "answered by" in table.stdout and "And of Italy?" in table.stdout
    assert "total cost: $0.000000" in table.stdout

    with sqlite3.connect(db) as conn:
        threads = {row[0] for row in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
        outcomes = [json.loads(row[0]) for row in conn.execute("SELECT value FROM store")]
    assert threads == {"trip"}
    # One outcome record per turn, in the same file; /good rated the second one.
    assert sorted((o["turn"], (o["feedback"] or {}).get("score")) for o in outcomes) == [
        (1, None),
        (2, 1.0),
    ]
    assert {o["thread_id"] for o in outcomes} == {"trip"}


def test_history_of_an_unknown_thread_is_a_clear_error(tmp_path: Path) -> None:
    result = chat(tmp_path / "chats.sqlite", "--thread", "nope", "--history")
    assert result.returncode == 2
    assert "--thread: no thread 'nope'" in result.stderr


def test_chat_on_minions_reads_the_document(tmp_path: Path, smollm2_gguf: Path) -> None:
    """MinionS runs parallel local workers; the chat still prints every answer (a concurrent
    llama.cpp load once silenced the process's stdout for good)."""
    document = tmp_path / "report.txt"
    document.write_text("ACME annual report.\n\nRevenue in 2025 was 12 million dollars.\n")
    result = chat(tmp_path / "chats.sqlite", "--graph", "minions", "--document", str(document),
                  "--router", "heuristic", "--max-tokens", "48", "--set", "max_rounds=1",
                  "--set", "max_subtasks=2", text="What was the revenue in 2025?\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "graph minions" in result.stdout
    assert "smollm2-135m>" in result.stdout  # the answer line
    assert "kept" in result.stdout.splitlines()[-1]


def test_chat_document_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    result = chat(tmp_path / "c.sqlite", "--graph", "minions", "--document", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "--document: cannot read" in result.stderr


@pytest.mark.parametrize(("setting", "pragma"), [(None, 1), ("full", 2)])
def test_sqlite_commits_skip_the_fsync_unless_the_operator_asks_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, pragma: int
) -> None:
    """WAL with synchronous=NORMAL (1) by default: a commit does not wait for the disk;
    ``ROUTEGRAPH_SQLITE_SYNCHRONOUS=FULL`` (2) for commits that survive a power cut."""
    import asyncio

    from routegraph.app.checkpoints import SYNCHRONOUS_VARIABLE, open_persistence

    if setting is None:
        monkeypatch.delenv(SYNCHRONOUS_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SYNCHRONOUS_VARIABLE, setting)

    async def read() -> tuple[int, str]:
        async with open_persistence(str(tmp_path / "db.sqlite")) as kept:
            conn = kept.checkpointer.conn  # type: ignore[attr-defined]
            async with conn.execute("PRAGMA synchronous") as cursor:
                sync = (await cursor.fetchone())[0]
            async with conn.execute("PRAGMA journal_mode") as cursor:
                journal = (await cursor.fetchone())[0]
        return sync, journal

    assert asyncio.run(read()) == (pragma, "wal")


def test_an_unknown_sqlite_synchronous_mode_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from routegraph.app.checkpoints import SYNCHRONOUS_VARIABLE, open_persistence
    from routegraph.core.errors import InvalidInputError

    monkeypatch.setenv(SYNCHRONOUS_VARIABLE, "sometimes")

    async def open_it() -> None:
        async with open_persistence(str(tmp_path / "db.sqlite")):
            pass

    with pytest.raises(InvalidInputError) as refused:
        asyncio.run(open_it())
    assert refused.value.field == SYNCHRONOUS_VARIABLE and "NORMAL" in str(refused.value)

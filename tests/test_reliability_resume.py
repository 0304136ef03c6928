"""Crash and resume: a process killed in the middle of a cascade leaves its thread in a SQLite
checkpoint; a new process resumes the thread and finishes it without repeating the model calls
that had completed (only the call that was in flight when the process died is made again).

The models are fakes that log every call to a file (branch logic: what is claimed is which
calls happen, not what they answer); the process, the kill (SIGKILL) and the checkpointer are
real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PROJECT_ROOT

SCRIPT = r"""
import json, sqlite3, sys, time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from routegraph.core.providers.result import chat_result
from routegraph.graphs.cascade import build_cascade_graph
from tests.fakes import TableEvaluator, tiny_catalog

mode, db, log = sys.argv[1:4]


class LoggedModel(BaseChatModel):
    label: str
    answer: str
    pause_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "logged"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any):
        with open(log, "a") as f:
            f.write(self.label + "\n")
        time.sleep(self.pause_s)
        return chat_result(self.answer, 100, 50, {"source": "live"})


models = {
    "small": LoggedModel(label="small", answer="5"),
    "medium": LoggedModel(label="medium", answer="4?", pause_s=600 if mode == "crash" else 0),
    "large": LoggedModel(label="large", answer="4"),
}
graph = build_cascade_graph(
    models=models,
    evaluator=TableEvaluator({"small": 0.1, "medium": 0.2, "large": 0.95}),
    catalog=tiny_catalog(),
)
graph.checkpointer = SqliteSaver(sqlite3.connect(db, check_same_thread=False))
config = {"configurable": {"thread_id": "crash-test"}}
context = {"models": ["small", "medium", "large"], "weak_model": "small", "strong_model": "large"}
if mode == "crash":
    graph.invoke({"messages": [HumanMessage("What is 2 + 2?")]}, config, context=context)
else:
    before = graph.get_state(config)
    out = graph.invoke(None, config, context=context)  # resume from the last checkpoint
    print(json.dumps({
        "next_before": list(before.next),
        "answer": out["messages"][-1].text,
        "path": [a["model"] for a in out["attempts"]],
        "turns": len(out["history"]),
        "cost_usd": out["cost_usd"],
    }))
"""


def start(mode: str, db: Path, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode, str(db), str(log)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_a_cascade_killed_mid_call_resumes_without_repeating_finished_calls(
    tmp_path: Path,
) -> None:
    db, log = tmp_path / "threads.sqlite", tmp_path / "calls.log"
    crashing = start("crash", db, log)
    try:
        deadline = time.monotonic() + 180
        while "medium" not in calls(log):  # tier 2 is now in flight
            assert crashing.poll() is None, crashing.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "tier 2 never started"
            time.sleep(0.1)
        time.sleep(0.5)
        os.killpg(crashing.pid, signal.SIGKILL)  # no clean shutdown, no final checkpoint
    finally:
        if crashing.poll() is None:
            os.killpg(crashing.pid, signal.SIGKILL)
        crashing.wait(timeout=30)
    assert crashing.returncode == -signal.SIGKILL
    assert calls(log) == ["small", "medium"]

    resumed = start("resume", db, log)
    out, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])

    assert result["next_before"] == ["generate"]  # the thread stopped before tier 2's answer
    # small answered before the crash and is not asked again; the call in flight is redone.
    assert calls(log) == ["small", "medium", "medium", "large"]
    assert result["path"] == ["small", "medium", "large"]
    assert result["answer"] == "4" and result["turns"] == 1
    # cost counts each finished call once: small is free, medium and large are priced
    medium, large = 100 * 1.0 / 1e6 + 50 * 2.0 / 1e6, 100 * 10.0 / 1e6 + 50 * 30.0 / 1e6
    assert abs(result["cost_usd"] - (medium + large)) < 1e-12

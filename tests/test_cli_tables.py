"""Every CLI table stays readable in an 80-column terminal: no cell wraps into one word per line.

Checked on the real renderers (``models``, the run trace of ``ask`` / ``demo``, the ``bench``
tables) at ``Console(width=80)``: every line fits, and every name, header and number that a user
reads appears whole on one line.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from routegraph.app.bench import report
from routegraph.app.cli import main
from routegraph.app.commands.render import fit_to_width, print_table, render_run
from tests.conftest import PROJECT_ROOT

WIDTH = 80


def rendered(draw) -> list[str]:
    buffer = io.StringIO()
    console = Console(width=WIDTH, file=buffer, color_system=None)
    draw(console)
    lines = buffer.getvalue().splitlines()
    assert lines and max(len(line) for line in lines) <= WIDTH
    return lines


def whole(lines: list[str], text: str) -> bool:
    return any(text in line for line in lines)


def test_models_table_fits_80_columns(monkeypatch, capsys) -> None:
    from routegraph.core.catalog import load_catalog

    monkeypatch.setenv("COLUMNS", str(WIDTH))
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    for spec in load_catalog():
        assert whole(lines, spec.name), spec.name
    assert whole(lines, "recorded answers (benchmark prompts only)")


def test_run_trace_fits_80_columns() -> None:
    record = {
        "graph": "specialist",
        "decisions": [
            {
                "step": 1,
                "action": "route",
                "router": "specialist",
                "chosen_model": "mistral-7b-instruct-v0.2",
                "reason": "best predicted quality net of cost among nine candidates: 0.71",
            },
            {"step": 1, "action": "escalate", "reason": "confidence 0.412 < 0.8"},
            {
                "step": 2,
                "action": "route",
                "router": "specialist",
                "chosen_model": "llama-3.1-70b-instruct",
                "reason": "next best untried model",
            },
            {"step": 2, "action": "accept", "reason": "confidence 0.913 >= 0.8"},
        ],
        "attempts": [
            {"source": "recorded", "confidence": 0.412, "cost_usd": 0.000123},
            {"source": "recorded", "confidence": 0.913, "cost_usd": 0.000845},
        ],
        "chosen_model": "llama-3.1-70b-instruct",
        "source": "recorded",
        "confidence": 0.913,
        "answer": "The answer is (B).",
        "cost_usd": 0.000968,
        "steps": 2,
        "escalated": True,
        "cloud_used": False,
        "local_tokens": 0,
        "remote_tokens": 812,
        "notes": [],
    }
    lines = rendered(lambda console: render_run(record, console))
    for text in ("mistral-7b-instruct-v0.2", "llama-3.1-70b-instruct", "recorded", "0.000845"):
        assert whole(lines, text), text
    # Reasons are sentences: printed below the table as prose, never squeezed into a column.
    assert whole(lines, "1 route: [specialist] best predicted quality net of cost among")
    assert whole(lines, "1 escalate: confidence 0.412 < 0.8")


@pytest.mark.parametrize("name", ["gsm8k.json", "mmlu_pro.json"])
def test_bench_tables_fit_80_columns(name: str) -> None:
    result = json.loads(Path(PROJECT_ROOT, "benchmarks", "results", name).read_text())

    def draw(console: Console) -> None:
        print_table(console, report.baseline_table(result))
        print_table(console, report.router_table(result))

    lines = rendered(draw)
    for router in result["routers"]:
        assert whole(lines, router), router
    for model in result["models"]:
        assert whole(lines, model), model
    for header, _, _ in report.ROUTER_COLUMNS:
        assert whole(lines, header), header


def test_a_wide_table_is_cut_into_parts_that_repeat_the_labels() -> None:
    from rich.table import Table

    table = Table(title="wide")
    table.add_column("name")
    for i in range(12):
        table.add_column(f"metric number {i}")
    table.add_row("matrix_factorization", *[f"{i}.123" for i in range(12)])
    parts = fit_to_width(table, WIDTH)
    assert len(parts) > 1
    assert all(part.columns[0].header == "name" for part in parts)
    assert sum(len(part.columns) - 1 for part in parts) == 12
    lines = rendered(lambda console: [console.print(part) for part in parts])
    assert sum("matrix_factorization" in line for line in lines) == len(parts)

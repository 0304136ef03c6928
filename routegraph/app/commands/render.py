"""Shared terminal rendering of a run record (rich), used by ``ask`` and ``demo``."""

from __future__ import annotations

from copy import copy
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

SOURCE_LABEL = {
    "live": "live",
    "recorded": "recorded (replayed benchmark answer)",
    "unavailable": "unavailable",
}
"""How the answer's source reads in sentences; the trace table shows the bare key."""


def trace_table(record: dict[str, Any], title: str = "") -> tuple[Table, list[str]]:
    """The routing trace as a table that fits 80 columns, plus one "why" line per step.

    Why the reasons sit below the table: they are sentences, and a sentence column squeezes
    every other cell of an 80-column terminal into one word per line.
    """
    table = Table(title=title or f"graph: {record['graph']}", title_justify="left")
    for column in ("#", "action", "model", "source"):
        table.add_column(column, no_wrap=True, overflow="fold")
    for column in ("conf", "USD"):
        table.add_column(column, justify="right", no_wrap=True)
    reasons: list[str] = []
    attempts = iter(record["attempts"])
    for decision in record["decisions"]:
        step = str(decision.get("step", ""))
        action = decision.get("action", "")
        row = [step, action, str(decision.get("chosen_model") or "-"), "", "", ""]
        reason = decision.get("reason", "")
        if action in ("route", "escalate", "cascade", "re-route") and decision.get("router"):
            reason = f"[{decision['router']}] {reason}"
        if action == "accept" or (action == "escalate" and not decision.get("router")):
            attempt = next(attempts, None)
            if attempt:
                row[3] = attempt["source"] or ""
                confidence = attempt["confidence"]
                row[4] = f"{confidence:.3f}" if confidence is not None else "-"
                row[5] = f"{attempt['cost_usd']:.6f}"
        table.add_row(*(Text(cell) for cell in row))
        if reason:
            reasons.append(f"{step} {action}: {reason}")
    return table, reasons


def render_run(record: dict[str, Any], console: Console | None = None, title: str = "") -> None:
    """Print the routing trace, the answer, its cost and any plain-language notes."""
    console = console or Console()
    table, reasons = trace_table(record, title)
    print_table(console, table)
    for line in reasons:
        console.print(Text(line, style="dim"))
    src = SOURCE_LABEL.get(record.get("source") or "", record.get("source") or "")
    console.print(
        f"[bold]answer[/bold] ({record['chosen_model']}, {src}, confidence {record['confidence']}):"
    )
    console.print(record["answer"], markup=False, highlight=False)
    console.print(
        f"cost: ${record['cost_usd']:.6f}  steps: {record['steps']}  "
        f"escalated: {record['escalated']}  cloud used: {record['cloud_used']}  "
        f"tokens local/remote: {record['local_tokens']}/{record['remote_tokens']}"
    )
    for note in record["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)


def fit_to_width(table: Table, width: int, keep: int = 1) -> list[Table]:
    """``table`` cut into tables no wider than ``width``, each repeating the first ``keep``
    columns (the row labels).

    Why: a wide metrics table on an 80-column terminal makes rich shrink every column until
    cells wrap into one word per line; side-by-side halves that each fit read as they were meant.
    """
    measure = Console(width=100_000).measure
    if measure(table).maximum <= width or len(table.columns) <= keep + 1:
        return [table]
    labels = [copy(column) for column in table.columns[:keep]]
    for column in labels:
        column.no_wrap = True
    groups: list[list[Any]] = [[]]
    for column in table.columns[keep:]:
        trial = _with_columns(table, labels + groups[-1] + [column], title=False)
        if groups[-1] and measure(trial).maximum > width:
            groups.append([])
        groups[-1].append(column)
    return [
        _with_columns(table, labels + group, title=index == 0) for index, group in enumerate(groups)
    ]


def _with_columns(table: Table, columns: list[Any], title: bool) -> Table:
    part = Table(
        title=table.title if title else None,
        title_justify=table.title_justify,
        box=table.box,
        show_header=table.show_header,
        show_lines=table.show_lines,
    )
    part.columns = [copy(column) for column in columns]
    part.rows = list(table.rows)
    return part


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` so it stays readable at the console's width (see :func:`fit_to_width`)."""
    for part in fit_to_width(table, console.width):
        console.print(part)

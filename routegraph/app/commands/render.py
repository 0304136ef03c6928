"""Shared terminal rendering of a run record (rich), used by ``ask`` and ``demo``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

SOURCE_LABEL = {
    "live": "live",
    "recorded": "recorded (replayed benchmark answer)",
    "unavailable": "unavailable",
}


def render_run(record: dict[str, Any], console: Console | None = None, title: str = "") -> None:
    """Print the routing trace, the answer, its cost and any plain-language notes."""
    console = console or Console()
    table = Table(title=title or f"graph: {record['graph']}", show_lines=False)
    for column in ("step", "action", "model", "source", "confidence", "cost USD", "reason"):
        table.add_column(column)
    attempts = iter(record["attempts"])
    for decision in record["decisions"]:
        row = [
            str(decision.get("step", "")),
            decision.get("action", ""),
            str(decision.get("chosen_model") or "-"),
            "",
            "",
            "",
            decision.get("reason", ""),
        ]
        if decision.get("action") in ("route", "escalate", "cascade", "re-route") and decision.get(
            "router"
        ):
            row[6] = f"[{decision['router']}] {row[6]}"
        if decision.get("action") in ("accept",) or (
            decision.get("action") == "escalate" and not decision.get("router")
        ):
            attempt = next(attempts, None)
            if attempt:
                row[3] = SOURCE_LABEL.get(attempt["source"], attempt["source"] or "")
                row[4] = (
                    f"{attempt['confidence']:.3f}" if attempt["confidence"] is not None else "-"
                )
                row[5] = f"{attempt['cost_usd']:.6f}"
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
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

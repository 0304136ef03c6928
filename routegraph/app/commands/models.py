"""``routegraph models``: the catalog and what is reachable now."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from routegraph.app.commands.render import print_table
from routegraph.core.catalog import load_catalog
from routegraph.core.models import availability


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "models",
        help="list the model catalog and which models are reachable",
        description="List every catalog model with provider, tier, price per million tokens, "
        "and whether it can be called now (configuration only; no network probe).",
    )
    parser.add_argument("--catalog", help="catalog TOML file (default: packaged catalog)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    rows = []
    for spec in catalog:
        ok, reason = availability(spec)
        rows.append(
            {
                "name": spec.name,
                "provider": spec.provider,
                "model": spec.model,
                "tier": spec.tier,
                "input_price": spec.input_price,
                "output_price": spec.output_price,
                "available": ok,
                "status": reason,
                "fallback": spec.fallback,
            }
        )
    if args.json:
        print(json.dumps({"catalog": catalog.source, "models": rows}, indent=2))
        return 0
    console = Console()
    table, notes = catalog_table(rows, catalog.source)
    print_table(console, table)
    for line in notes:
        console.print(line)
    return 0


def catalog_table(rows: list[dict], source: str) -> tuple[Table, list[Text]]:
    """The catalog as a table that fits 80 columns, then one line per distinct status.

    Why the statuses sit below: they are sentences ("recorded answers (benchmark prompts
    only)") shared by many rows; in a column they squeeze every other cell into one word per
    line on a normal terminal.
    """
    table = Table(title="model catalog; prices in USD per 1M tokens", title_justify="left")
    table.add_column("name", no_wrap=True, overflow="fold")
    for column in ("provider", "tier"):
        table.add_column(column, no_wrap=True)
    for column in ("in $", "out $"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("ok", no_wrap=True)
    table.add_column("see", justify="right", no_wrap=True)
    notes: dict[str, int] = {}
    for r in rows:
        note = notes.setdefault(r["status"], len(notes) + 1)
        table.add_row(
            r["name"],
            r["provider"],
            r["tier"],
            f"{r['input_price']:g}",
            f"{r['output_price']:g}",
            "yes" if r["available"] else "no",
            Text(f"[{note}]"),
        )
    lines = [Text(f"[{n}] {status}") for status, n in notes.items()]
    return table, [Text(f"catalog: {source}"), *lines]

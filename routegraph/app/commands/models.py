"""``routegraph models``: the catalog and what is reachable now."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

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
    table = Table(title=f"model catalog ({catalog.source}); prices in USD per 1M tokens")
    for column in ("name", "provider", "tier", "in $", "out $", "reachable", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["name"],
            r["provider"],
            r["tier"],
            f"{r['input_price']:g}",
            f"{r['output_price']:g}",
            "yes" if r["available"] else "no",
            r["status"],
        )
    Console().print(table)
    return 0

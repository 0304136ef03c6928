"""``routegraph models``: the catalog and what is reachable now."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

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
        description="List every catalog model (the packaged catalog with your routegraph.toml "
        "over it) with provider, tier, price per million tokens and whether it can be called "
        "now (configuration only, unless --check calls each one).",
    )
    parser.add_argument("--catalog", help="catalog TOML file (default: packaged catalog)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--check",
        action="store_true",
        help="call every reachable model once (a 4-token answer) and report: reachable / auth "
        "error / timeout / ..., latency, and whether it returns log-probabilities (which the "
        "logprob evaluator needs)",
    )
    parser.add_argument(
        "--timeout", type=float, default=20.0, help="seconds per check call (default: 20)"
    )
    parser.set_defaults(func=run)


def check_model(spec: Any, timeout_s: float) -> dict[str, Any]:
    """One short call to ``spec``: its verdict, latency and whether log-probabilities came."""
    from langchain_core.messages import HumanMessage

    from routegraph.core.errors import ModelUnavailableError
    from routegraph.core.models import ModelSettings, build_chat_model
    from routegraph.nodes.health import classify

    started = time.perf_counter()
    try:
        chat = build_chat_model(spec, ModelSettings(max_tokens=4, timeout_s=timeout_s))
        reply = chat.invoke([HumanMessage("Say OK.")])
    except ModelUnavailableError as exc:
        return {"check": "unavailable", "detail": exc.reason}
    except Exception as exc:  # what the endpoint did is the report
        fault = classify(exc)
        verdict = {"auth": "auth error"}.get(fault.kind, fault.kind)
        return {"check": verdict, "detail": fault.detail,
                "latency_s": round(time.perf_counter() - started, 3)}  # fmt: skip
    logprobs = (reply.response_metadata or {}).get("logprobs")
    return {
        "check": "reachable",
        "latency_s": round(time.perf_counter() - started, 3),
        "logprobs": bool(logprobs and logprobs.get("content")),
        "detail": (reply.text or "")[:40],
    }


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
                "context_window": spec.context_window,
                "price_source": spec.price_source,
            }
        )
        if args.check and ok and spec.provider != "replay":
            rows[-1].update(check_model(spec, args.timeout))
    if args.json:
        print(json.dumps({"catalog": catalog.source, "models": rows}, indent=2))
        return 0
    console = Console()
    table, notes = catalog_table(rows, catalog.source)
    print_table(console, table)
    for line in notes:
        console.print(line)
    if args.check:
        print_table(console, check_table(rows))
    failed = [r for r in rows if r.get("check") not in (None, "reachable")]
    return 1 if args.check and failed else 0


def check_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="models --check: one 4-token call each", title_justify="left")
    for column in ("name", "check", "latency s", "logprobs", "detail"):
        table.add_column(column, overflow="fold")
    for r in rows:
        if "check" not in r:
            continue
        table.add_row(
            r["name"], r["check"], str(r.get("latency_s", "")),
            "" if "logprobs" not in r else ("yes" if r["logprobs"] else "no"),
            str(r.get("detail", "")),
        )  # fmt: skip
    return table


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

"""``routegraph keys create | list | revoke``: the API keys ``routegraph serve`` accepts.

Keys live in a JSON keys file (``--file``, else ``$ROUTEGRAPH_KEYS_FILE``, else
``routegraph-keys.json`` here) as SHA-256 hashes with each key's rights; the key itself is
printed once, at creation. A running server re-reads the file when it changes, so a revoked key
stops working on the next request.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from routegraph.app.commands.options import parse_key_values
from routegraph.app.commands.render import print_table
from routegraph.app.server.keys import (
    KEYS_FILE_VARIABLE,
    LIMIT_FIELDS,
    create_key,
    read_keys_file,
    revoke_key,
)
from routegraph.core.errors import InvalidInputError

DEFAULT_FILE = "routegraph-keys.json"


def keys_file(args: argparse.Namespace) -> Path:
    return Path(args.file or os.environ.get(KEYS_FILE_VARIABLE) or DEFAULT_FILE).expanduser()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "keys",
        help="create, list and revoke the API keys routegraph serve accepts",
        description="Manage the keys file routegraph serve reads (--keys, or "
        f"${KEYS_FILE_VARIABLE}): keys are stored hashed, each with the graphs and models it "
        "may use, ceilings on per-request settings, a total budget and a request rate.",
    )
    parser.add_argument(
        "--file",
        help=f"keys file (default: ${KEYS_FILE_VARIABLE}, else ./{DEFAULT_FILE})",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="add a key and print it (once)",
        description="Add a key to the keys file and print it; only its hash is stored.",
    )
    create.add_argument("name", help="whom the key is for (a team, a user, an app)")
    create.add_argument("--graphs", help="comma-separated graph ids it may use (default: all)")
    create.add_argument("--models", help="comma-separated catalog models it may use (default: all)")
    create.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="FIELD=N",
        help=f"ceiling on a per-request setting, repeatable; fields: {', '.join(LIMIT_FIELDS)}",
    )
    create.add_argument("--budget-usd", type=float, help="total USD the key may spend")
    create.add_argument("--rpm", type=int, help="requests per minute allowed")
    create.add_argument(
        "--admin", action="store_true", help="may read /dashboard (every key's figures)"
    )
    create.add_argument("--json", action="store_true", help="print the key and entry as JSON")
    create.set_defaults(func=run_create)
    listing = actions.add_parser(
        "list", help="show the keys (ids, names, rights; never the keys)",
        description="Show every key's id, name, rights and whether it is revoked.",
    )  # fmt: skip
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser(
        "revoke", help="revoke a key by id", description="Mark a key revoked (kept for the record)."
    )
    revoke.add_argument("key_id", metavar="KEY_ID", help="the id keys list shows (key-...)")
    revoke.set_defaults(func=run_revoke)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _names(raw: str | None, option: str) -> list[str] | None:
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise InvalidInputError(option, "is empty", "comma-separated names")
    return names


def check_rights(graphs: list[str] | None, models: list[str] | None) -> None:
    """A key naming a graph or model that does not exist could never be used: refuse it now,
    naming the allowed values (models: the catalog ``serve`` reads, with the user's config)."""
    from routegraph.core.catalog import load_catalog
    from routegraph.graphs.registry import GRAPH_IDS

    unknown = sorted(set(graphs or ()) - set(GRAPH_IDS))
    if unknown:
        raise InvalidInputError("--graphs", f"unknown graph(s) {unknown}", GRAPH_IDS)
    if models:
        catalog = load_catalog()
        for name in models:
            catalog.get(name, field="--models")


def run_create(args: argparse.Namespace) -> int:
    limits = parse_key_values(args.limit, "--limit")
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"--limit {name}", f"{value!r} is not a number", "a number")
    graphs, models = _names(args.graphs, "--graphs"), _names(args.models, "--models")
    check_rights(graphs, models)
    secret, entry = create_key(
        keys_file(args),
        args.name,
        graphs=graphs,
        models=models,
        limits=limits,
        budget_usd=args.budget_usd,
        requests_per_minute=args.rpm,
        admin=args.admin,
    )
    if args.json:
        print(json.dumps({"key": secret, **entry.public()}, indent=2))
    else:
        print(f"created {entry.id} ({entry.name}) in {keys_file(args)}")
        print(f"key (shown once, store it now): {secret}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    keys = read_keys_file(keys_file(args))
    if args.json:
        print(json.dumps([k.public() for k in keys], indent=2))
        return 0
    rows = [
        [
            k.id,
            k.name,
            "revoked" if k.revoked else "active",
            ",".join(k.graphs) if k.graphs else "all",
            ",".join(k.models) if k.models else "all",
            ", ".join(f"{n}<={v:g}" for n, v in k.limits.items()) or "server's",
            "-" if k.budget_usd is None else f"${k.budget_usd:g}",
            "-" if k.requests_per_minute is None else str(k.requests_per_minute),
            "yes" if k.admin else "",
        ]
        for k in keys
    ]
    table = Table(title=f"API keys in {keys_file(args)}")
    columns = ("id", "name", "state", "graphs", "models", "limits", "budget", "rpm", "admin")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    print_table(Console(), table)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    key = revoke_key(keys_file(args), args.key_id)
    print(f"revoked {key.id} ({key.name})")
    return 0

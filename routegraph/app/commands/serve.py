"""``routegraph serve``: the OpenAI-compatible API on its own (uvicorn), one process, async.

It binds 127.0.0.1 unless ``--host`` says otherwise: the API has no authentication, so exposing
it is a decision the operator makes explicitly. ``--db`` keeps threads (``thread_id`` requests)
in a SQLite file or a PostgreSQL database; several ``serve`` processes on one PostgreSQL database
continue each other's threads, and keeps the outcome log there (``POST /v1/feedback`` rates
answers; ``routegraph learn`` refits from it); ``--router`` picks the router requests use unless
they name one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from routegraph.core.errors import InvalidInputError

DEFAULT_PORT = 8000


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="serve the graphs as an OpenAI-compatible API (/v1/chat/completions)",
        description="Serve every routing graph behind an OpenAI-compatible API: GET /v1/models "
        "lists routegraph-<graph> and router-<router>-<threshold> ids, POST "
        "/v1/chat/completions answers (streamed with stream=true) with the routing trace in the "
        "'routegraph' field and x-routegraph-* headers. Point any OpenAI client's base URL at "
        "http://HOST:PORT/v1.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 exposes the "
        "unauthenticated API to the network)",
    )
    parser.add_argument(
        "--db",
        help="keep threads (requests with thread_id) in this SQLite file or postgresql:// URL "
        "(default: $ROUTEGRAPH_DB; unset: no threads, every request carries its conversation)",
    )
    parser.add_argument(
        "--router",
        help="router for requests that name none: default, heuristic, random or a router "
        "folder; a versioned folder (routegraph learn) follows its promoted version without a "
        "restart",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default: info)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from routegraph.app.checkpoints import DB_VARIABLE, describe
    from routegraph.app.server.app import create_app

    if not 0 < args.port < 65536:
        raise InvalidInputError("--port", f"{args.port} is not a TCP port", "1-65535")
    if args.router and Path(args.router).is_dir():
        from routegraph.routers.registry import load_router

        load_router(args.router)  # a folder with nothing promoted (or broken) stops the start
    db = args.db or os.environ.get(DB_VARIABLE) or None
    app = create_app(db=db or "", defaults={"router": args.router} if args.router else None)
    where = describe(db) if db else "none (stateless: each request carries its conversation)"
    print(
        f"routegraph serve: OpenAI-compatible API at http://{args.host}:{args.port}/v1 "
        f"(threads: {where})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0

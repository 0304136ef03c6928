"""``routegraph serve``: the OpenAI-compatible API on its own (uvicorn), async, in one process or
``--workers N`` processes on one port.

It binds 127.0.0.1 unless ``--host`` says otherwise. With keys (``--keys FILE`` from ``routegraph
keys create``, or ``ROUTEGRAPH_API_KEYS``) every request needs ``Authorization: Bearer <key>``;
binding any other address without keys is refused unless ``--insecure-no-auth`` says the
operator means it. ``--db`` keeps threads (``thread_id`` requests)
in a SQLite file or a PostgreSQL database; several ``serve`` processes on one PostgreSQL database
continue each other's threads, and keeps the outcome log there (``POST /v1/feedback`` rates
answers; ``routegraph learn`` refits from it); ``--router`` picks the router requests use unless
they name one, and ``--set KEY=VALUE`` any other setting, the operator's own included (``explore``:
requests may not spend the operator's money on extra calls). ``--workers N`` runs N processes
(uvicorn's supervisor); they need ``--db``, where
they share leases, rates, spend, threads and the outcome log, and ``/metrics`` sums them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from routegraph.core.errors import InvalidInputError, RouteGraphError

DEFAULT_PORT = 8000
DEFAULT_MODEL_THREADS = 128
"""Blocking model calls one ``serve`` process runs at once (``--model-threads``)."""
SETTINGS_VARIABLE = "ROUTEGRAPH_SERVE_SETTINGS"
"""How ``--workers N`` hands its checked settings to the processes it starts (JSON)."""


def decision_log(level: str) -> None:
    """One JSON line per request on stderr (``routegraph.decisions``) at ``info`` and
    ``debug``: graph, key id, status, chosen model, confidence, cost, latency; no prompt."""
    import logging

    from routegraph.app.server.observe import DECISIONS_LOGGER

    logger = logging.getLogger(DECISIONS_LOGGER)
    if level not in ("info", "debug") or logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        help="address to bind (default: 127.0.0.1, this machine only); another address needs "
        "keys (--keys or $ROUTEGRAPH_API_KEYS) or --insecure-no-auth",
    )
    parser.add_argument(
        "--keys",
        help="keys file written by routegraph keys create (default: $ROUTEGRAPH_KEYS_FILE); "
        "with it or $ROUTEGRAPH_API_KEYS, requests need Authorization: Bearer <key>",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow binding a non-loopback address with no keys (anyone who can reach the "
        "port can spend the configured models' money)",
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
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a run setting for every request (repeatable; values are JSON when they parse), "
        "checked at start. Requests may override these except the operator's own: explore "
        "(e.g. --set explore=0.1: a share of requests also asks one other candidate, so "
        "routegraph learn sees models the router does not pick), call_retries, catalog_path",
    )
    parser.add_argument(
        "--multitask",
        choices=("reject", "enqueue"),
        default="reject",
        help="what a request on a thread that is answering another turn does unless it says "
        "(multitask_strategy in the body): reject (409 at once; default) or enqueue (wait "
        "for the turn in progress, in arrival order)",
    )
    parser.add_argument(
        "--queue-timeout",
        type=float,
        default=120.0,
        help="seconds an enqueued request waits for its thread before a 409 (default: 120)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds running requests get to finish on SIGTERM / Ctrl-C before they are "
        "cancelled, model calls included (default: 10)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on the port (default: 1); more than one needs --db, where they "
        "share leases, rates, spend, threads and the outcome log; /metrics sums them all",
    )
    parser.add_argument(
        "--model-threads",
        type=int,
        default=DEFAULT_MODEL_THREADS,
        help="blocking model calls each process runs at once, i.e. upstream calls in flight "
        f"(default: {DEFAULT_MODEL_THREADS}; Python's own pool would allow the cores + 4, at "
        "most 32, however slow the upstream); each waiting call holds one thread",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default: info)",
    )
    parser.set_defaults(func=run)


def build_app(settings: dict[str, Any]) -> Any:
    """The app from checked settings (``run`` builds them; each ``--workers`` process reads
    them back in :func:`worker_app`)."""
    from routegraph.app.server.app import create_app
    from routegraph.app.server.keys import KeyRing

    return create_app(
        db=settings["db"],
        defaults=operator_settings(settings),
        keys=KeyRing.from_environment(settings["keys"]),
        multitask=settings["multitask"],
        queue_timeout_s=settings["queue_timeout"],
        model_threads=settings["model_threads"],
    )


def operator_settings(settings: dict[str, Any]) -> dict[str, Any] | None:
    """What every request runs under unless it says otherwise (``--set``, ``--router``)."""
    chosen = dict(settings.get("operator") or {})
    if settings["router"]:
        chosen["router"] = settings["router"]
    return chosen or None


def checked_operator_settings(pairs: list[str]) -> dict[str, Any]:
    """``--set`` pairs, refused at start (naming the field) when a run could not use them."""
    from routegraph.app.commands.options import parse_key_values
    from routegraph.core.context import context_from_dict

    chosen = parse_key_values(pairs, "--set")
    try:
        context_from_dict(chosen)
    except InvalidInputError as exc:  # named as typed: --set explore, or --set for a bad key
        name = "--set" if exc.field == "context" else f"--set {exc.field}"
        raise InvalidInputError(name, exc.problem, exc.allowed) from None
    if isinstance(chosen.get("router"), str):
        check_router_folder(chosen["router"], "--set router")
    return chosen


def check_router_folder(router: str, flag: str) -> None:
    """A router folder given at start must load now: one with nothing promoted, or broken,
    would otherwise start a server that fails every request. Names (``default``...) pass."""
    if not Path(router).is_dir():
        return
    from routegraph.routers.registry import load_router

    try:
        load_router(router)
    except RouteGraphError as exc:
        raise InvalidInputError(
            flag, str(exc), "a folder written by train, learn or promote"
        ) from None


def worker_app() -> Any:
    """The app of one ``--workers`` process (uvicorn imports this factory in each process)."""
    settings = json.loads(os.environ[SETTINGS_VARIABLE])
    decision_log(settings["log_level"])
    return build_app(settings)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from routegraph.app.checkpoints import DB_VARIABLE, describe
    from routegraph.app.server.observe import MULTIPROCESS_VARIABLE

    if not 0 < args.port < 65536:
        raise InvalidInputError("--port", f"{args.port} is not a TCP port", "1-65535")
    if args.router:
        check_router_folder(args.router, "--router")
    from routegraph.app.server.keys import KeyRing

    if args.keys and not Path(args.keys).expanduser().is_file():
        raise InvalidInputError("--keys", f"{args.keys} does not exist", "a file from keys create")
    keys = KeyRing.from_environment(args.keys)
    if not keys.enabled and not is_loopback(args.host) and not args.insecure_no_auth:
        raise InvalidInputError(
            "--host",
            f"{args.host} exposes the API beyond this machine and no keys are configured",
            "127.0.0.1 / localhost / ::1, or keys (--keys, $ROUTEGRAPH_API_KEYS), or "
            "--insecure-no-auth",
        )
    db = args.db or os.environ.get(DB_VARIABLE) or None
    if not args.queue_timeout > 0:
        raise InvalidInputError("--queue-timeout", f"{args.queue_timeout}", "seconds > 0")
    if not args.shutdown_timeout >= 0:
        raise InvalidInputError("--shutdown-timeout", f"{args.shutdown_timeout}", "seconds >= 0")
    if args.workers < 1:
        raise InvalidInputError("--workers", f"{args.workers}", "an integer >= 1")
    if args.model_threads < 1:
        raise InvalidInputError("--model-threads", f"{args.model_threads}", "an integer >= 1")
    if args.workers > 1 and not db:
        raise InvalidInputError(
            "--workers",
            f"{args.workers} processes without --db would each keep their own leases, rates "
            "and spend, so a key's budget and rate would hold per process only",
            "1, or --db FILE.sqlite / postgresql://... (shared by the processes)",
        )
    settings = {
        "db": db or "",
        "router": args.router,
        "operator": checked_operator_settings(args.set),
        "keys": args.keys,
        "multitask": args.multitask,
        "queue_timeout": args.queue_timeout,
        "model_threads": args.model_threads,
        "log_level": args.log_level,
    }
    where = describe(db) if db else "none (stateless: each request carries its conversation)"
    processes = f"; {args.workers} processes" if args.workers > 1 else ""
    print(
        f"routegraph serve: OpenAI-compatible API at http://{args.host}:{args.port}/v1 "
        f"(threads: {where}; keys: {'required' if keys.enabled else 'none'}{processes})",
        file=sys.stderr,
        flush=True,
    )
    served = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "timeout_graceful_shutdown": args.shutdown_timeout,
    }
    if args.workers == 1:
        app = build_app(settings)
        decision_log(args.log_level)
        uvicorn.run(app, **served)
        return 0
    made_metrics_dir = not os.environ.get(MULTIPROCESS_VARIABLE)
    if made_metrics_dir:  # the workers' counts, summed by any worker's /metrics
        os.environ[MULTIPROCESS_VARIABLE] = tempfile.mkdtemp(prefix="routegraph-metrics-")
    os.environ[SETTINGS_VARIABLE] = json.dumps(settings)
    try:
        uvicorn.run(
            "routegraph.app.commands.serve:worker_app",
            factory=True,
            workers=args.workers,
            **served,
        )
    finally:
        if made_metrics_dir:
            shutil.rmtree(os.environ.pop(MULTIPROCESS_VARIABLE), ignore_errors=True)
    return 0

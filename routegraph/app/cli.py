"""``routegraph`` command line: one sub-command per module in ``routegraph.app.commands``.

Every sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (taking the parsed arguments, returning an exit code). Errors raised on purpose
(:class:`RouteGraphError`) are printed as one line, never as a stack trace.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from routegraph.core.errors import RouteGraphError

COMMAND_MODULES = (
    "demo", "ask", "chat", "models", "train", "route", "bench", "serve", "keys", "learn",
    "profile",
)  # fmt: skip


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("routegraph")
    except PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routegraph",
        description="Route every LLM request to the model best suited to it (LangGraph graphs).",
    )
    parser.add_argument("--version", action="version", version=f"routegraph {package_version()}")
    parser.add_argument(
        "--config",
        help="your model pool (TOML, [models.<name>] tables over the packaged catalog; "
        "default: $ROUTEGRAPH_CONFIG, ./routegraph.toml, ~/.config/routegraph/routegraph.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"routegraph.app.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"routegraph.app.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:  # every command reads the catalog through load_catalog, which reads this
        import os

        from routegraph.core.catalog import CONFIG_VARIABLE

        os.environ[CONFIG_VARIABLE] = args.config
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a pipe closed early shows here, not as a traceback at exit
        return code
    except RouteGraphError as exc:
        print(f"routegraph {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `routegraph ... | head`: the reader has what it wanted
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)  # so the exit's own flush cannot fail again
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a pipe closed early


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

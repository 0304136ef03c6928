"""``routegraph ask``: answer one question through a routing graph, with its trace."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from routegraph.app.commands.options import parse_key_values
from routegraph.app.commands.render import render_run
from routegraph.app.runner import run_graph, summarize
from routegraph.core.errors import InvalidInputError
from routegraph.graphs.registry import GRAPH_IDS

CLOUD_HINT = (
    "The graph wanted the cloud model but none is configured: set OPENAI_API_KEY (and "
    "optionally OPENAI_BASE_URL, ROUTEGRAPH_CLOUD_MODEL) or OLLAMA_HOST. The answer above is the "
    "best local answer."
)


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values are JSON when they parse as JSON, else strings."""
    return parse_key_values(pairs, "--set")


def context_from_args(args: argparse.Namespace) -> dict[str, Any]:
    context = parse_settings(args.set or [])
    for name in (
        "router",
        "evaluator",
        "threshold",
        "confidence_threshold",
        "max_steps",
        "budget_usd",
        "max_tokens",
    ):
        value = getattr(args, name, None)
        if value is not None:
            context[name] = value
    if getattr(args, "models", None):
        context["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    return context


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``ask`` and ``demo``: the run context."""
    parser.add_argument("--router", help="default, heuristic, random, or a router directory")
    parser.add_argument(
        "--evaluator", help="logprob, self_eval, self_consistency, verifier, reference or none"
    )
    parser.add_argument("--threshold", type=float, help="router threshold in [0, 1]")
    parser.add_argument(
        "--confidence-threshold",
        dest="confidence_threshold",
        type=float,
        help="accept answers at least this confident, in [0, 1]",
    )
    parser.add_argument("--max-steps", dest="max_steps", type=int, help="most model calls")
    parser.add_argument("--budget-usd", dest="budget_usd", type=float, help="most USD per run")
    parser.add_argument(
        "--max-tokens", dest="max_tokens", type=int, help="most generated tokens per call"
    )
    parser.add_argument(
        "--models",
        help="comma-separated catalog names (cascade tiers, specialist candidates), cheapest first",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any other context field, e.g. --set cost_weight=0.1 (repeatable)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "ask",
        help="answer a question through a routing graph",
        description="Answer QUESTION through a routing graph and show which models were called, "
        "how confident each answer was, what it cost, and why.",
    )
    parser.add_argument("question", help="the question (text); '-' reads it from stdin")
    parser.add_argument(
        "--graph", default="hybrid", choices=GRAPH_IDS, help="routing technique (default: hybrid)"
    )
    parser.add_argument("--document", type=Path, help="long context file (minions graph)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_run_options(parser)
    parser.set_defaults(func=run)


def read_question(question: str) -> str:
    """The question itself, or (for ``-``) stdin decoded as strict UTF-8."""
    if question != "-":
        return question
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            "question", f"stdin is not valid UTF-8 (byte {exc.start})", "UTF-8 text"
        ) from None


def run(args: argparse.Namespace) -> int:
    args.question = read_question(args.question)
    document = None
    if args.document:
        try:
            document = args.document.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError("--document", f"cannot read {args.document} ({exc})") from None
    state = run_graph(args.graph, args.question, context_from_args(args), document=document)
    record = summarize(args.graph, state)
    wanted_cloud = any(
        a["source"] == "unavailable" and a.get("tier") != "local" for a in record["attempts"]
    ) or any("not available" in n or "unavailable" in n for n in record["notes"])
    if wanted_cloud and not record["cloud_used"]:
        record["notes"].append(CLOUD_HINT)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        render_run(record)
    return 0

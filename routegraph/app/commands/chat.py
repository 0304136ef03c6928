"""``routegraph chat``: an interactive terminal chat on any graph, kept between sessions.

Every turn runs the graph on a LangGraph thread whose checkpoints live in a SQLite file (or a
PostgreSQL database), so ``routegraph chat --thread ID`` continues a conversation after the
program, or the machine, restarted: the models see the earlier turns and the state's ``history``
keeps what each turn cost and which model answered (``--history`` prints it). ``/good`` and
``/bad`` rate the newest answer in the outcome log kept in the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from routegraph.app.commands.ask import add_run_options, context_from_args
from routegraph.core.context import context_from_dict
from routegraph.core.errors import InvalidInputError
from routegraph.graphs.registry import GRAPH_IDS, build_graph

DEFAULT_GRAPH = "hybrid"
QUIT = ("/quit", "/exit")
FEEDBACK = {"/good": 1.0, "/bad": 0.0}
"""Chat commands that rate the newest answer (an optional comment may follow)."""
COMMANDS = ("/history", "/good [comment]", "/bad [comment]", "/quit")
COMMAND_LIKE = re.compile(r"^/[A-Za-z]+(\s|$)")
"""A line whose first word is a slash and letters is a command (a path like /etc/hosts is not)."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "chat",
        help="chat in the terminal through a routing graph; conversations are kept",
        description="Chat through a routing graph. Each conversation is a thread kept in a "
        "SQLite file (or PostgreSQL), so --thread ID resumes it after a restart. Type /history "
        "for the turns so far, /good or /bad [comment] to rate the last answer (kept in the "
        "outcome log that routegraph learn reads), /quit (or Ctrl-D) to leave.",
    )
    parser.add_argument(
        "--graph",
        choices=GRAPH_IDS,
        help=f"routing technique (default: the thread's graph, else {DEFAULT_GRAPH})",
    )
    parser.add_argument("--thread", help="thread id to resume (default: start a new thread)")
    parser.add_argument(
        "--db",
        help="SQLite file or postgresql:// URL keeping the threads "
        "(default: $ROUTEGRAPH_DB, else ~/.local/share/routegraph/chats.sqlite)",
    )
    parser.add_argument(
        "--history",
        action="store_true",
        help="print each turn of --thread (question, model that answered, confidence, cost) "
        "and exit",
    )
    parser.add_argument("--json", action="store_true", help="with --history: print JSON")
    parser.add_argument(
        "--document",
        type=Path,
        help="long context file for the minions graph (kept in the thread from the next turn on)",
    )
    add_run_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from routegraph.app.checkpoints import default_chat_db

    if args.history and not args.thread:
        raise InvalidInputError("--history", "needs --thread ID", "--thread ID --history")
    context = context_from_args(args)
    context_from_dict(context)  # bad settings fail before the chat starts, naming the field
    if args.document:
        try:
            args.document_text = args.document.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError("--document", f"cannot read {args.document} ({exc})") from None
    db = args.db or default_chat_db()
    return asyncio.run(chat(args, db, context))


async def chat(args: argparse.Namespace, db: str, context: dict[str, Any]) -> int:
    from routegraph.app.checkpoints import describe, open_persistence

    console = Console(highlight=False)
    async with open_persistence(db) as kept:
        saver = kept.checkpointer
        thread = args.thread or uuid.uuid4().hex[:12]
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        values = await thread_values(saver, config)
        if args.history:
            if values is None:
                raise InvalidInputError("--thread", f"no thread {thread!r} in {describe(db)}")
            print_history(console, values, args.json)
            return 0
        graph_id = args.graph or thread_graph(values) or DEFAULT_GRAPH
        graph = build_graph(graph_id).copy(update={"checkpointer": saver, "store": kept.store})
        turns = len((values or {}).get("history", []))
        status = f"resuming ({turns} earlier turns)" if values else "new thread"
        console.print(
            f"[bold]thread {thread}[/bold] · {status} · graph {graph_id} · {escape(describe(db))}"
        )
        console.print(
            f"[dim]resume later: routegraph chat --thread {thread}; /good or /bad rates the "
            "last answer; /quit to leave[/dim]"
        )
        while True:
            line = await read_line(console)
            if line is None or line.strip() in QUIT:
                console.print(f"[dim]thread {thread} kept[/dim]")
                return 0
            text = line.strip()
            if not text:
                continue
            if text == "/history":
                print_history(console, await thread_values(saver, config) or {}, False)
                continue
            verdict = FEEDBACK.get(text.split(maxsplit=1)[0])
            if verdict is not None:
                values = await thread_values(saver, config)
                await give_feedback(console, kept.store, thread, values, text, verdict)
                continue
            if COMMAND_LIKE.match(text):  # a mistyped command must not become a paid turn
                word = text.split(maxsplit=1)[0]
                console.print(f"[red]unknown command {word}[/red]; commands: {', '.join(COMMANDS)}")
                continue
            inputs: dict[str, Any] = {"messages": [HumanMessage(text)]}
            if getattr(args, "document_text", None):
                inputs["document"] = args.document_text
            with Console(stderr=True).status("routing...", spinner="dots"):
                state = await graph.ainvoke(inputs, config, context=dict(context))
            print_answer(console, state["messages"][-1])


async def give_feedback(
    console: Console,
    store: BaseStore,
    thread: str,
    values: dict[str, Any] | None,
    text: str,
    score: float,
) -> None:
    """``/good`` or ``/bad [comment]``: the user's verdict on this thread's newest answer,
    found by the thread and the turn its history ends on."""
    from routegraph.core.outcomes import OutcomeNotFoundError, arecord_feedback

    history = (values or {}).get("history") or []
    if not history:
        console.print("[yellow]no answer to rate yet in this thread[/yellow]")
        return
    turn = int(history[-1].get("turn") or len(history))
    comment = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else None
    try:
        await arecord_feedback(
            store, thread_id=thread, turn=turn, score=score, comment=comment, source="chat"
        )
    except OutcomeNotFoundError as exc:
        console.print(f"[yellow]{escape(str(exc))}[/yellow]")
        return
    console.print(f"[dim]noted: turn {turn} rated {score:g}[/dim]")


async def read_line(console: Console) -> str | None:
    """One line of input (None at end of input); the prompt only where a person types."""
    interactive = sys.stdin.isatty()
    if interactive:
        console.print("[bold cyan]you>[/bold cyan] ", end="")
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        return None
    if not interactive:
        console.print(f"[bold cyan]you>[/bold cyan] {escape(line.rstrip())}")
    return line


async def thread_values(
    saver: BaseCheckpointSaver[str], config: RunnableConfig
) -> dict[str, Any] | None:
    """The thread's latest state (None if the thread does not exist)."""
    saved = await saver.aget_tuple(config)
    if saved is None:
        return None
    return dict(saved.checkpoint.get("channel_values", {}))


def thread_graph(values: dict[str, Any] | None) -> str | None:
    """The graph that answered the thread's last turn."""
    for message in reversed((values or {}).get("messages", [])):
        if isinstance(message, AIMessage):
            graph = (message.response_metadata.get("routegraph") or {}).get("graph")
            if graph in GRAPH_IDS:
                return str(graph)
    return None


def print_answer(console: Console, message: AIMessage) -> None:
    meta = message.response_metadata.get("routegraph", {})
    console.print(f"[bold green]{escape(str(meta.get('chosen_model')))}>[/bold green] ", end="")
    console.print(message.text, markup=False)
    for call in message.tool_calls:
        console.print(f"  tool call: {call['name']}({json.dumps(call['args'])})", markup=False)
    confidence = meta.get("confidence")
    console.print(
        f"[dim]  {meta.get('source')} · confidence "
        f"{'-' if confidence is None else f'{confidence:.3f}'} · steps {meta.get('steps')} · "
        f"path {' > '.join(meta.get('path', []))} · ${meta.get('cost_usd', 0.0):.6f}[/dim]"
    )
    for note in meta.get("notes", []):
        console.print(f"[yellow]  note: {escape(note)}[/yellow]")


def print_history(console: Console, values: dict[str, Any], as_json: bool) -> None:
    """Each turn: its question, the model that answered, confidence, steps, tokens and cost."""
    turns = values.get("history", [])
    rows = [
        {
            "turn": t.get("turn"),
            "query": t.get("query"),
            "chosen_model": t.get("chosen_model"),
            "served_by": t.get("served_by"),
            "confidence": t.get("confidence"),
            "steps": t.get("steps"),
            "escalated": t.get("escalated"),
            "cost_usd": t.get("cost_usd", 0.0),
            "input_tokens": t.get("input_tokens", 0),
            "output_tokens": t.get("output_tokens", 0),
        }
        for t in turns
    ]
    if as_json:
        total = round(sum(r["cost_usd"] or 0.0 for r in rows), 8)
        print(json.dumps({"turns": rows, "total_cost_usd": total}, indent=2))
        return
    table = Table(title=f"{len(rows)} turns")
    for column in ("turn", "question", "answered by", "confidence", "steps", "tokens", "cost USD"):
        table.add_column(column)
    for r in rows:
        confidence = "-" if r["confidence"] is None else f"{r['confidence']:.3f}"
        by = str(r["chosen_model"])
        if r["served_by"] and r["served_by"] != r["chosen_model"]:
            by += f" (served by {r['served_by']})"
        question = str(r["query"] or "")
        question = question if len(question) <= 60 else question[:57] + "..."
        table.add_row(
            str(r["turn"]),
            escape(question),
            escape(by),
            confidence,
            str(r["steps"]),
            f"{r['input_tokens']}+{r['output_tokens']}",
            f"{r['cost_usd']:.6f}",
        )
    console.print(table)
    console.print(f"total cost: ${sum(r['cost_usd'] or 0.0 for r in rows):.6f}")

"""Turns: what one run of a graph sees of a conversation, and what it leaves behind.

A checkpointed thread (Studio, ``langgraph dev``, ``routegraph chat``) keeps one state across
many runs. Each run is a turn: :func:`begin_turn` clears the per-turn keys so the policies and
the bounds (``max_steps``, ``budget_usd``) judge this question alone; :func:`turn_record` is
what ``finalize`` appends to ``history`` so earlier turns stay readable.

Inside a LangChain agent a turn may be a tool loop: the model answers with tool calls, the agent
runs the tools and calls the graph again with the tool results. :func:`tool_loop_model` finds
the model that asked for the tools, so the route step keeps it (switching models mid-loop breaks
tool-call ids and prompt caches).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, trim_messages
from langgraph.types import Overwrite

from routegraph.core.data.tokens import count_tokens
from routegraph.core.state import Attempt, RouteState, TurnRecord


def begin_turn(state: RouteState) -> dict[str, Any]:
    """Start a turn: number it and reset every per-turn key (``history`` is kept)."""
    return {
        "turn": int(state.get("turn") or 0) + 1,
        "attempts": Overwrite([]),
        "decisions": Overwrite([]),
        "cost_usd": Overwrite(0.0),
        "notes": Overwrite([]),
        "local_tokens": Overwrite(0),
        "remote_tokens": Overwrite(0),
        "worker_results": Overwrite([]),
        "pending": None,
        "next_model": None,
        "last_message": None,
        "subtasks": [],
        "round": 0,
    }


MESSAGE_FRAMING_TOKENS = 6
"""Tokens a chat template adds around each message (chatml: ``<|im_start|>role\n`` ...
``<|im_end|>\n``)."""


def message_tokens(messages: Sequence[BaseMessage]) -> int:
    """Tokens of ``messages`` as the embedded model's BPE tokenizer counts them (the counter
    the cost code uses), framing and tool calls included. A characters-over-4 estimate
    under-counted short messages badly: 500 one-word messages overflowed a 2,048-token window
    that the estimate said they fitted."""
    total = 0
    for message in messages:
        total += count_tokens(message.text) + MESSAGE_FRAMING_TOKENS
        for call in getattr(message, "tool_calls", None) or []:
            total += count_tokens(f"{call.get('name')} {json.dumps(call.get('args', {}))}")
    return total


def conversation(messages: Sequence[BaseMessage], max_tokens: int) -> list[BaseMessage]:
    """The messages sent to a model: the whole conversation (earlier turns, tool calls and
    results included), oldest turns dropped first to fit ``max_tokens``; the system message and
    the newest user message are always kept."""
    messages = list(messages)
    if message_tokens(messages) <= max_tokens:
        return messages
    kept = trim_messages(
        messages,
        max_tokens=max_tokens,
        token_counter=message_tokens,
        strategy="last",
        start_on="human",
        include_system=True,
        allow_partial=False,
    )
    if any(isinstance(m, HumanMessage) for m in kept):
        return list(kept)
    last_human = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    system = [m for m in messages[:1] if m.type == "system"]
    return system + messages[last_human:]


def tool_loop_model(messages: Sequence[BaseMessage]) -> str | None:
    """The catalog model that asked for tools in this turn, if the turn is a tool loop.

    A tool loop is an AIMessage written by a routegraph graph, with tool calls, after the
    newest user message; the model it names keeps answering until the loop ends.
    """
    human = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    start = human[-1] + 1 if human else 0
    for message in reversed(messages[start:]):
        if isinstance(message, AIMessage) and message.tool_calls:
            meta = message.response_metadata.get("routegraph") or {}
            model = meta.get("chosen_model")
            return str(model) if model else None
    return None


def turn_record(
    state: RouteState, query: str, chosen: Attempt | None, strong: bool, meta: dict[str, Any]
) -> TurnRecord:
    """The history entry of the turn that ``finalize`` is closing."""
    attempts = state.get("attempts", [])
    return {
        "turn": int(state.get("turn") or 1),
        "query": query,
        "chosen_model": chosen["model"] if chosen else None,
        "served_by": chosen.get("served_by") if chosen else None,
        "confidence": chosen.get("confidence") if chosen else None,
        "steps": len(attempts),
        "cost_usd": meta["cost_usd"],
        "input_tokens": sum(int(a.get("input_tokens", 0)) for a in attempts),
        "output_tokens": sum(int(a.get("output_tokens", 0)) for a in attempts),
        "escalated": bool(meta["escalated"]),
        "cloud_used": bool(meta["cloud_used"]),
        "strong": strong,
        "attempts": list(attempts),
        "decisions": list(state.get("decisions", [])),
    }

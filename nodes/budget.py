"""Budgets are caps: what a call could cost at most, checked before the call is made.

``budget_usd`` bounds what one run spends. Checking it after a call lets the call that crosses
it through (the cascade that spent $0.00327 of a $0.001 budget); so every call is priced at its
worst case first, and a call that could overrun what is left is not made. The worst case is an
upper bound, not an estimate: a byte-level BPE token covers at least one byte, so a prompt has
at most as many tokens as UTF-8 bytes (plus chat-template framing), and a provider stops at
``max_tokens``. A replayed answer costs what its recording cost, known before the call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from routegraph.core.catalog import ModelSpec

MESSAGE_FRAMING = 8
"""Tokens a chat template may add around one message (role markers, separators)."""
REPLY_FRAMING = 4
"""Tokens a chat template adds to prime the reply."""


def _content_bytes(message: BaseMessage) -> int:
    content = message.content
    size = len(content.encode()) if isinstance(content, str) else len(json.dumps(content).encode())
    if isinstance(message, AIMessage) and message.tool_calls:
        size += len(json.dumps(message.tool_calls, default=str).encode())
    return size


def prompt_token_bound(
    messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] = ()
) -> int:
    """Most input tokens ``messages`` (and the tool schemas bound to the call) can count as."""
    total = REPLY_FRAMING + sum(_content_bytes(m) + MESSAGE_FRAMING for m in messages)
    if tools:
        total += len(json.dumps(list(tools)).encode())
    return total


def recorded_cost(chat: Any, messages: Sequence[BaseMessage]) -> float | None:
    """What a replayed call will cost (its recording's cost), or None for any other model."""
    from routegraph.core.providers.replay import ReplayChatModel, find_recording

    if not isinstance(chat, ReplayChatModel):
        return None
    prompt = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
    recording = find_recording(chat.model_id, prompt, chat.index)
    return None if recording is None else float(recording.cost_usd)


def worst_case_cost(
    spec: ModelSpec,
    messages: Sequence[BaseMessage],
    max_tokens: int,
    tools: Sequence[dict[str, Any]] = (),
    chat: Any = None,
) -> float:
    """The most one call of ``spec`` on ``messages`` can cost, in USD."""
    if chat is not None:
        replayed = recorded_cost(chat, messages)
        if replayed is not None:
            return replayed
    return spec.cost(prompt_token_bound(messages, tools), max_tokens)


def left(budget_usd: float, spent: float) -> float:
    """What remains of this turn's budget (never negative)."""
    return max(0.0, float(budget_usd) - float(spent))

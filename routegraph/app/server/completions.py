"""A routed answer (the graph's final ``AIMessage``) in OpenAI's chat-completion shapes.

The answer becomes ``choices[0].message`` (text and tool calls), the turn's token usage becomes
``usage``, and the routing trace (chosen model, confidence, steps, cost...) travels twice: as the
extra response field ``routegraph`` and as ``x-routegraph-*`` headers, so a client that only sees
headers (a proxy, a log) still learns why a model answered.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

TRACE_KEYS = ("graph", "turn", "chosen_model", "served_by", "source", "confidence", "steps",
              "cost_usd", "path", "escalated", "cloud_used", "local_tokens", "remote_tokens",
              "notes", "outcome_id", "explored")  # fmt: skip
HEADER_KEYS = ("graph", "chosen_model", "confidence", "steps", "cost_usd", "escalated",
               "cloud_used")  # fmt: skip


def completion_id(outcome_id: str | None = None) -> str:
    """``chatcmpl-<outcome id>`` where the turn was logged (so ``POST /v1/feedback`` takes the
    completion id as it is), else a fresh random id."""
    return f"chatcmpl-{outcome_id or uuid.uuid4().hex[:24]}"


def trace_of(message: BaseMessage, thread_id: str | None = None) -> dict[str, Any]:
    """The routing trace the graph put in ``response_metadata["routegraph"]``."""
    meta = message.response_metadata.get("routegraph", {}) if message else {}
    trace = {key: meta.get(key) for key in TRACE_KEYS if key in meta}
    if thread_id:
        trace["thread_id"] = thread_id
    return trace


def trace_headers(trace: dict[str, Any]) -> dict[str, str]:
    """``x-routegraph-chosen-model: smollm2-135m``, ... (header values are plain text)."""
    headers = {}
    for key in (*HEADER_KEYS, "thread_id"):
        value = trace.get(key)
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        headers[f"x-routegraph-{key.replace('_', '-')}"] = text
    return headers


def usage_of(message: BaseMessage) -> dict[str, int]:
    """This turn's tokens over every model call, from the message's ``usage_metadata``."""
    usage = getattr(message, "usage_metadata", None) or {}
    prompt = int(usage.get("input_tokens", 0))
    completion = int(usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens", prompt + completion)),
    }


def openai_tool_calls(message: BaseMessage) -> list[dict[str, Any]]:
    """LangChain tool calls -> OpenAI's ``{"id", "type": "function", "function": {...}}``."""
    calls = getattr(message, "tool_calls", None) or []
    return [
        {
            "id": call.get("id") or f"call_{i}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call.get("args", {}))},
        }
        for i, call in enumerate(calls)
    ]


def finish_reason(message: BaseMessage) -> str:
    if getattr(message, "tool_calls", None):
        return "tool_calls"
    if message.response_metadata.get("finish_reason") == "length":
        return "length"
    return "stop"


def completion_body(
    model: str, message: AIMessage, trace: dict[str, Any], cid: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion`` object for the graph's final message."""
    reply: dict[str, Any] = {"role": "assistant", "content": message.text}
    tool_calls = openai_tool_calls(message)
    if tool_calls:
        reply["tool_calls"] = tool_calls
        reply["content"] = message.text or None
    return {
        "id": cid or completion_id(trace.get("outcome_id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": finish_reason(message),
            }
        ],
        "usage": usage_of(message),
        "routegraph": trace,
    }


def chunk_body(
    cid: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` makes the choice-less usage chunk."""
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    ]  # fmt: skip
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event line as OpenAI streams it."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def messages_as_openai(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """A thread's messages in OpenAI's shape (role, content, tool calls; the trace on answers)."""
    roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
    out = []
    for message in messages:
        item: dict[str, Any] = {"role": roles.get(message.type, message.type),
                                "content": message.text}  # fmt: skip
        if isinstance(message, AIMessage):
            calls = openai_tool_calls(message)
            if calls:
                item["tool_calls"] = calls
            trace = trace_of(message)
            if trace:
                item["routegraph"] = trace
        if message.type == "tool":
            item["tool_call_id"] = getattr(message, "tool_call_id", None)
        out.append(item)
    return out

"""Read an OpenAI ``/v1/chat/completions`` body into what a routing graph takes.

Every check names the offending body field (OpenAI's ``param``), so a client sees
``messages[1].role`` or ``routegraph.threshold`` rather than a stack trace. The graph's own
settings (router, thresholds, budget...) travel in the extra body field ``routegraph``;
``temperature``, ``max_tokens``, ``seed``, ``stop``, ``tools`` and ``tool_choice`` are OpenAI's own
fields, mapped onto the same run context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from routegraph.app.server.errors import ApiError
from routegraph.app.server.keys import ApiKey
from routegraph.app.server.model_ids import ModelTarget, resolve_model_id

MULTITASK_STRATEGIES = ("reject", "enqueue")
"""What a request on a thread busy with another turn does (``multitask_strategy``; LangGraph's
names): 409 at once, or wait its turn (:mod:`routegraph.app.server.admission`)."""

ROLES = ("system", "developer", "user", "assistant", "tool")
TOOL_CHOICES = ("none", "auto", "required")
IGNORED_FIELDS = frozenset(
    {"user", "metadata", "store", "logprobs", "top_logprobs", "parallel_tool_calls",
     "presence_penalty", "frequency_penalty", "top_p", "response_format",
     "service_tier", "logit_bias", "reasoning_effort", "modalities"}
)  # fmt: skip
"""Accepted for compatibility; routing decides the model, so these do not reach it."""
KNOWN_FIELDS = frozenset(
    {"model", "messages", "stream", "stream_options", "temperature", "max_tokens",
     "max_completion_tokens", "seed", "n", "tools", "tool_choice", "routegraph", "thread_id",
     "stop", "multitask_strategy"}
) | IGNORED_FIELDS  # fmt: skip


@dataclass
class ChatRequest:
    """A validated chat-completion request."""

    target: ModelTarget
    messages: list[BaseMessage]
    context: dict[str, Any]
    """Run-context settings: the model id's, then ``routegraph``'s, then OpenAI's fields."""
    stream: bool = False
    include_usage: bool = False
    thread_id: str | None = None
    context_params: dict[str, str] = field(default_factory=dict)
    """Context field -> the body field it came from (for error messages)."""
    key: ApiKey | None = None
    """The API key the request came with (None where the server asks for none)."""
    multitask_strategy: str | None = None
    """What to do when ``thread_id`` is answering another turn: ``reject`` (409) or
    ``enqueue`` (wait for it); None: the server's default."""

    @property
    def kept_thread_id(self) -> str | None:
        """The thread's id in the store: under its key's id, so a thread belongs to the key
        that made it and no other key can read or continue it."""
        return owned_thread_id(self.thread_id, self.key)


def owned_thread_id(thread_id: str | None, key: ApiKey | None) -> str | None:
    if thread_id is None or key is None:
        return thread_id
    return f"{key.id}/{thread_id}"


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate ``body``; raise :class:`ApiError` (400, or 404 for an unknown model)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", param=None)
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise ApiError(
            400,
            f"Unrecognized request argument(s): {', '.join(unknown)}. Routing settings go in "
            "the 'routegraph' object.",
            param=unknown[0],
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' is required: a model id from GET /v1/models.", "model")
    try:
        target = resolve_model_id(model)
    except LookupError as exc:
        raise ApiError(404, str(exc), "model", code="model_not_found") from None
    messages = parse_messages(body.get("messages"))
    context = dict(target.context)
    params = {key: "model" for key in context}
    extra = body.get("routegraph", {})
    if not isinstance(extra, dict):
        raise ApiError(400, "'routegraph' must be an object of routing settings.", "routegraph")
    context.update(extra)
    params.update({key: f"routegraph.{key}" for key in extra})
    for key, value in openai_settings(body).items():
        context[key] = value
        newer = key == "max_tokens" and body.get("max_tokens") is None  # max_completion_tokens
        params[key] = "max_completion_tokens" if newer else key
    thread_id = body.get("thread_id")
    if thread_id is not None and (not isinstance(thread_id, str) or not thread_id.strip()):
        raise ApiError(400, "'thread_id' must be a non-empty string.", "thread_id")
    strategy = body.get("multitask_strategy")
    if strategy is not None and strategy not in MULTITASK_STRATEGIES:
        raise ApiError(
            400,
            f"'multitask_strategy' {strategy!r} is not one of: {', '.join(MULTITASK_STRATEGIES)}"
            " (what a request on a thread that is answering another turn does).",
            "multitask_strategy",
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false.", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise ApiError(400, "'stream_options' must be {\"include_usage\": bool}.", "stream_options")
    return ChatRequest(
        target=target,
        messages=messages,
        context=context,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        thread_id=thread_id,
        context_params=params,
        multitask_strategy=strategy,
    )


def openai_settings(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's generation fields as run-context settings (checked for type here, for range
    by the graph's context validation)."""
    settings: dict[str, Any] = {}
    n = body.get("n", 1)
    if n != 1:
        raise ApiError(400, "Only n=1 is supported: routing returns one answer.", "n")
    temperature = body.get("temperature")
    if temperature is not None:
        if not is_number(temperature) or not 0 <= temperature <= 2:
            raise ApiError(400, "'temperature' must be a number in [0, 2].", "temperature")
        settings["temperature"] = float(temperature)
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ApiError(400, f"'{name}' must be an integer >= 1.", name)
        settings["max_tokens"] = value
    seed = body.get("seed")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ApiError(400, "'seed' must be an integer.", "seed")
        settings["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise ApiError(400, "'stop' must be a string or a list of strings.", "stop")
        if len(stops) > 4:
            raise ApiError(400, "'stop' takes at most 4 sequences.", "stop")
        settings["stop"] = stops
    tools = body.get("tools")
    if tools is not None:
        settings["tools"] = parse_tools(tools)
    tool_choice = body.get("tool_choice")
    if tool_choice is not None:
        settings["tool_choice"] = parse_tool_choice(tool_choice, settings.get("tools", []))
    return settings


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise ApiError(400, "'tools' must be a list of function tools.", "tools")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not function["name"]
        ):
            raise ApiError(
                400,
                f'tools[{i}] must be {{"type": "function", "function": {{"name": ..., '
                '"parameters": {...}}}.',
                f"tools[{i}]",
            )
        if not isinstance(function.get("parameters", {}), dict):
            raise ApiError(400, f"tools[{i}].function.parameters must be a JSON schema object.",
                           f"tools[{i}].function.parameters")  # fmt: skip
    return tools


def parse_tool_choice(choice: Any, tools: list[dict[str, Any]]) -> str | dict[str, Any]:
    names = [t["function"]["name"] for t in tools]
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise ApiError(
                400,
                f"'tool_choice' {choice!r} is not one of {', '.join(TOOL_CHOICES)} or "
                '{"type": "function", "function": {"name": ...}}.',
                "tool_choice",
            )
        if choice == "required" and not tools:
            raise ApiError(400, "'tool_choice' is 'required' but no 'tools' were given.",
                           "tool_choice")  # fmt: skip
        return choice
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str) or name not in names:
        raise ApiError(
            400,
            f"'tool_choice' names {name!r}, which is not among the tools ({', '.join(names)}).",
            "tool_choice",
        )
    return {"type": "function", "function": {"name": name}}


def parse_messages(raw: Any) -> list[BaseMessage]:
    """OpenAI chat messages -> LangChain messages (text content; tool calls and results)."""
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list of chat messages.", "messages")
    messages: list[BaseMessage] = []
    for i, item in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise ApiError(400, f"{where} must be an object with 'role' and 'content'.", where)
        role = item.get("role")
        if role not in ROLES:
            raise ApiError(
                400, f"{where}.role {role!r} is not one of {', '.join(ROLES)}.", f"{where}.role"
            )
        content = text_content(
            item.get("content"), f"{where}.content", optional=role == "assistant"
        )
        if role in ("system", "developer"):
            messages.append(SystemMessage(content))
        elif role == "user":
            if not content.strip():
                raise ApiError(400, f"{where}.content is empty.", f"{where}.content")
            messages.append(HumanMessage(content))
        elif role == "assistant":
            messages.append(AIMessage(content, tool_calls=tool_calls_of(item, where)))
        else:
            call_id = item.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise ApiError(400, f"{where}.tool_call_id is required for a tool message.",
                               f"{where}.tool_call_id")  # fmt: skip
            messages.append(ToolMessage(content, tool_call_id=call_id))
    if not any(isinstance(m, HumanMessage) for m in messages):
        raise ApiError(400, "'messages' has no user message to answer.", "messages")
    return messages


def text_content(content: Any, where: str, optional: bool = False) -> str:
    """A message's text: a string, or a list of ``{"type": "text"}`` parts."""
    if content is None and optional:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ApiError(400, f"{where}[{j}] is a {kind!r} part; only text is supported.",
                               f"{where}[{j}]")  # fmt: skip
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise ApiError(400, f"{where} must be a string or a list of text parts.", where)


def tool_calls_of(item: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """An assistant message's OpenAI ``tool_calls`` as LangChain tool calls."""
    calls = []
    for j, call in enumerate(item.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        args: Any = None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            try:
                args = json.loads(function.get("arguments") or "{}")
            except (TypeError, json.JSONDecodeError):
                args = None
        if not isinstance(args, dict) or not isinstance(function, dict):
            raise ApiError(
                400,
                f"{where}.tool_calls[{j}] must have function.name and JSON-object arguments.",
                f"{where}.tool_calls[{j}]",
            )
        call_id = call.get("id") or f"call_{j}"
        calls.append({"id": call_id, "name": function["name"], "args": args})
    return calls

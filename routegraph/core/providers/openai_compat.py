"""``ChatOpenAI`` for self-hosted OpenAI-compatible servers that read the spec strictly.

Streams: llama-cpp-python's server repeats the function name (and call id) in every streamed
chunk of a tool call, where OpenAI sends them once; LangChain adds chunks up by concatenating
names, so a call to ``Joke`` arrived as ``JokeJoke``. The stream is normalised here: a name or
id already seen for a call's index is not sent again.

In an agent's tool loop the conversation sent back to the model holds the assistant message that
asked for the tools. ``langchain-openai`` sends that message with ``"content": null`` (the
OpenAI API accepts it); llama-cpp-python's server (0.3.x) types ``content`` as a string and
answers HTTP 500, so the loop dies on its second step. This subclass sends ``""`` instead, which
every server accepts and which means the same thing. The same server types the content of
system, assistant and tool messages as a string, where OpenAI also takes a list of text parts
(what LangChain sends for an ``AIMessage`` with list content, e.g. Anthropic-style blocks): such a
list is sent as the one string it spells.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI


class ToolCallNames:
    """Per-stream memory of the tool-call names and ids already sent, by call index."""

    def __init__(self) -> None:
        self.seen: dict[int | None, tuple[str | None, str | None]] = {}

    def fix(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        message = chunk.message
        if not isinstance(message, AIMessageChunk) or not message.tool_call_chunks:
            return chunk
        fixed = []
        for piece in message.tool_call_chunks:
            index = piece.get("index")
            name, call_id = self.seen.get(index, (None, None))
            if index in self.seen and piece.get("name") in (name, None):
                piece = {**piece, "name": None}  # type: ignore[typeddict-item]
            if index in self.seen and piece.get("id") in (call_id, None):
                piece = {**piece, "id": None}  # type: ignore[typeddict-item]
            if index not in self.seen:
                self.seen[index] = (piece.get("name"), piece.get("id"))
            fixed.append(piece)
        return ChatGenerationChunk(message=AIMessageChunk(
            content=message.content,
            tool_call_chunks=fixed,
            response_metadata=message.response_metadata,
            usage_metadata=message.usage_metadata,
            id=message.id,
        ), generation_info=chunk.generation_info)  # fmt: skip


class OpenAICompatibleChat(ChatOpenAI):
    """``ChatOpenAI`` whose system, assistant and tool messages carry string content, and whose
    streamed tool calls carry each name and id once."""

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        names = ToolCallNames()
        for chunk in super()._stream(*args, **kwargs):
            yield names.fix(chunk)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        names = ToolCallNames()
        async for chunk in super()._astream(*args, **kwargs):
            yield names.fix(chunk)

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        for message in payload.get("messages", []):
            if message.get("role") == "assistant" and message.get("content") is None:
                message["content"] = ""
            if message.get("role") != "user" and is_text_parts(message.get("content")):
                message["content"] = "".join(part["text"] for part in message["content"])
        return payload


def is_text_parts(content: object) -> bool:
    """Whether ``content`` is OpenAI's list form of plain text (``[{"type": "text", ...}]``)."""
    return isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    )

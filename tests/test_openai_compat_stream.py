"""Streamed tool calls from llama-cpp-python's server add up to one call with one name.

The server repeats the function name and call id in every chunk of a tool call; LangChain adds
chunks up by concatenating names ('JokeJoke'). ``OpenAICompatibleChat`` sends each once.
(And it sends text-only content lists of non-user messages as strings, which that server needs.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import BaseModel, Field

from routegraph.core.providers.openai_compat import OpenAICompatibleChat, ToolCallNames
from tests.conftest import FUNCTION_CALLING_ALIAS, ServerProcess


def piece(name: str | None, call_id: str | None, args: str) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(
        content="", tool_call_chunks=[{"index": 0, "name": name, "id": call_id, "args": args}]
    ))  # fmt: skip


def test_repeated_names_and_ids_are_sent_once() -> None:
    names = ToolCallNames()
    chunks = [names.fix(c) for c in (piece("Joke", "call_1", '{"setup": "a'),
                                     piece("Joke", "call_1", ' b", "punchline"'),
                                     piece("Joke", "call_1", ': "c"}'))]  # fmt: skip
    total = chunks[0].message
    for chunk in chunks[1:]:
        total = total + chunk.message
    assert isinstance(total, AIMessageChunk)
    (call,) = total.tool_calls
    assert call["name"] == "Joke" and call["id"] == "call_1"
    assert call["args"] == {"setup": "a b", "punchline": "c"}


def test_openai_style_streams_pass_through_unchanged() -> None:
    names = ToolCallNames()
    chunks = [names.fix(c) for c in (piece("Joke", "call_1", '{"setup": '),
                                     piece(None, None, '"x"}'))]  # fmt: skip
    total = chunks[0].message + chunks[1].message
    assert isinstance(total, AIMessageChunk)
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("Joke", {"setup": "x"})]


class Joke(BaseModel):
    """A joke to tell the user."""

    setup: str = Field(description="the question of the joke")
    punchline: str = Field(description="the answer of the joke")


@pytest.mark.slow
def test_a_streamed_tool_call_from_llama_cpps_server_has_one_name(
    function_calling_server: ServerProcess, smollm2_gguf: Path
) -> None:
    chat = OpenAICompatibleChat(
        model=FUNCTION_CALLING_ALIAS, base_url=f"{function_calling_server.url}/v1",
        api_key="none", max_tokens=64, temperature=0.0, max_retries=0, timeout=120,
    )  # fmt: skip
    bound = chat.bind_tools([Joke], tool_choice={"type": "function", "function": {"name": "Joke"}})
    total = None
    for chunk in bound.stream("Tell me a joke about cats."):
        total = chunk if total is None else total + chunk
    assert isinstance(total, AIMessageChunk)
    assert [c["name"] for c in total.tool_call_chunks if c.get("name")] == ["Joke"]
    assert total.tool_calls and total.tool_calls[0]["name"] == "Joke"


def test_text_part_lists_are_sent_as_strings_where_llama_cpps_server_wants_one() -> None:
    chat = OpenAICompatibleChat(model="m", base_url="http://127.0.0.1:9/v1", api_key="none")
    call = ToolCall(name="add", args={"a": 1}, id="c1", type="tool_call")
    blocks: list[str | dict[Any, Any]] = [
        {"type": "text", "text": "some "},
        {"type": "text", "text": "text"},
        {"type": "tool_use", "id": "c1", "name": "add", "input": {"a": 1}},
    ]
    user_parts: list[str | dict[Any, Any]] = [{"type": "text", "text": "What is 1 + 2"}]
    payload = chat._get_request_payload([
        HumanMessage(user_parts), AIMessage(blocks, tool_calls=[call]),
        ToolMessage([{"type": "text", "text": "3"}], tool_call_id="c1"),
    ])  # fmt: skip
    user, assistant, tool = payload["messages"]
    assert user["content"] == user_parts  # users may send parts (e.g. images): left as they are
    assert assistant["content"] == "some text" and assistant["tool_calls"][0]["id"] == "c1"
    assert tool["content"] == "3"

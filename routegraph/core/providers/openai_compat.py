"""``ChatOpenAI`` for self-hosted OpenAI-compatible servers that read the spec strictly.

In an agent's tool loop the conversation sent back to the model holds the assistant message that
asked for the tools. ``langchain-openai`` sends that message with ``"content": null`` (the
OpenAI API accepts it); llama-cpp-python's server (0.3.x) types ``content`` as a string and
answers HTTP 500, so the loop dies on its second step. This subclass sends ``""`` instead, which
every server accepts and which means the same thing.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_openai import ChatOpenAI


class OpenAICompatibleChat(ChatOpenAI):
    """``ChatOpenAI`` whose assistant messages always carry string content."""

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        for message in payload.get("messages", []):
            if message.get("role") == "assistant" and message.get("content") is None:
                message["content"] = ""
        return payload

"""Build the ``ChatResult`` every provider returns: text, token usage, and metadata."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult


def chat_result(
    content: str, input_tokens: int, output_tokens: int, metadata: dict[str, Any]
) -> ChatResult:
    """One generation whose ``usage_metadata`` the cost ledger reads."""
    message = AIMessage(
        content=content,
        usage_metadata={
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
        response_metadata=metadata,
    )
    return ChatResult(generations=[ChatGeneration(message=message)])

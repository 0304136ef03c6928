"""A LangChain agent whose model is routed: a real tool call, end to end, on one model.

``create_agent(model=RoutedChatModel(...), tools=[get_weather])`` against a model that really
emits tool calls: llama-cpp-python's OpenAI-compatible server started with
``--chat_format chatml-function-calling`` serves SmolLM2-135M as the 'cloud' model. With
``tool_choice="auto"`` the 135M model itself chooses to call ``get_weather`` (the server's
grammar keeps the arguments valid JSON); nothing is recorded or replayed.

The route is a cascade ``smollm2-135m -> cloud`` whose first tier is never confident enough, so
the first call is routed to the cloud model after a local attempt. After the tool runs, the
agent calls the routed model again with the tool result: a fresh route would start at the local
tier again; the graph instead stays on the model that asked for the tool.

The cloud model is reached as a user reaches it: ``OPENAI_BASE_URL`` and
``ROUTEGRAPH_CLOUD_MODEL`` in the environment, the catalog's ``cloud`` entry. Two limits of
llama-cpp-python's server (0.3.36) matter here:
* it rejects the ``"content": null`` that ``langchain-openai`` sends on the assistant message
  holding the tool calls; routegraph's OpenAI provider (``OpenAICompatibleChat``) sends ``""``,
  which this test exercises on the loop's second step;
* its chatml-function-calling template drops ``tool`` messages and, under ``auto``, calls the tool
  again forever, so a small middleware asks for a plain answer (``tool_choice="none"``) once the
  tool result is in. The final text therefore does not use the tool result: answer quality is
  not what this test checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from tests.conftest import (
    CLOUD_ENV_VARS,
    FUNCTION_CALLING_ALIAS,
    ServerProcess,
    clear_model_caches,
)

pytestmark = pytest.mark.slow

ALIAS = FUNCTION_CALLING_ALIAS
MAX_TOKENS = 32


def completions_served(server: ServerProcess) -> int:
    return server.log_tail(10**7).count('"POST /v1/chat/completions HTTP/1.1" 200')


def answer_after_tools() -> Any:
    """Agent middleware: once a tool result is the newest message, ask for text, not tools."""
    from langchain.agents.middleware import wrap_model_call

    @wrap_model_call
    def plain_answer_after_tool_results(request: Any, handler: Callable[[Any], Any]) -> Any:
        if request.messages and isinstance(request.messages[-1], ToolMessage):
            request = request.override(tool_choice="none")
        return handler(request)

    return plain_answer_after_tool_results


@pytest.fixture
def cloud_is_the_server(
    function_calling_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The documented variables point 'cloud' at the server (for this test only)."""
    for key in CLOUD_ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{function_calling_server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    monkeypatch.setenv("ROUTEGRAPH_CLOUD_MODEL", ALIAS)
    clear_model_caches()
    yield ALIAS
    clear_model_caches()


def test_agent_tool_call_end_to_end_stays_on_the_model_that_called_it(
    function_calling_server: ServerProcess, cloud_is_the_server: str
) -> None:
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    from routegraph import RoutedChatModel

    ran: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        ran.append(city)
        return f"It is sunny and 21 C in {city}."

    model = RoutedChatModel(
        graph="cascade",
        context={
            "router": "heuristic",
            "models": ["smollm2-135m", "cloud"],
            "confidence_threshold": 1.0,  # the local tier never passes: the cascade goes on
            "max_tokens": MAX_TOKENS,
            "call_timeout_s": 300.0,  # two shared cores: a slow server is not a broken one
        },
    )
    agent = create_agent(
        model=model,
        tools=[get_weather],
        system_prompt="You are a helpful assistant. Use the functions when they help.",
        middleware=[answer_after_tools()],
    )
    before = completions_served(function_calling_server)
    out = agent.invoke({"messages": [HumanMessage("What is the weather in Paris?")]})

    # The model's own call reached the tool, which really ran once.
    assert len(ran) == 1 and "paris" in ran[0].lower()
    asked, answered = [m for m in out["messages"] if isinstance(m, AIMessage)]
    [call] = asked.tool_calls
    assert call["name"] == "get_weather"
    [result] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert result.tool_call_id == call["id"] and "sunny" in result.text
    assert not answered.tool_calls and answered.text.strip()
    assert completions_served(function_calling_server) == before + 2

    # Routed on the user's message (local tier, then cloud); the tool-result step stayed on
    # cloud instead of starting the cascade again at the local tier.
    first = asked.response_metadata["routegraph"]
    second = answered.response_metadata["routegraph"]
    assert first["path"] == ["smollm2-135m", "cloud"] and first["chosen_model"] == "cloud"
    assert second["path"] == ["cloud"] and second["chosen_model"] == "cloud"
    assert first["local_tokens"] > 0 and first["remote_tokens"] > 0
    assert second["local_tokens"] == 0 and second["remote_tokens"] > 0
    assert asked.usage_metadata is not None
    assert asked.usage_metadata["total_tokens"] == first["local_tokens"] + first["remote_tokens"]

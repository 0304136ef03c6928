"""routegraph graphs inside larger agents: a subgraph node of a planning agent, and a tool.

The slow tests are real where it matters: the planner and the first cascade tier are the
embedded SmolLM2 on llama.cpp, the router is the shipped one, and the cloud tier falls back to
GPT-4's recorded answer to a GSM8K prompt. Only the agent model that decides to call the tool is
scripted (when to call a tool is not what is tested; what the tool does is). The fast tests use
scripted models over a tiny catalog for the branch logic (where the plan goes, tool errors).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from routegraph.app.agents import build_planned_agent, routing_summary, routing_tool
from tests.conftest import FUNCTION_CALLING_ALIAS, ServerProcess
from tests.fakes import TableEvaluator, tiny_catalog

ALIAS = FUNCTION_CALLING_ALIAS
ROUTING_EVENTS = {"routing_decision", "evaluation", "final"}
TINY = {
    "models": ["small", "large"],
    "weak_model": "small",
    "strong_model": "large",
    "router": "heuristic",
}


class RecordingChatModel(BaseChatModel):
    """Answers ``answer`` and keeps every prompt it was sent."""

    answer: str
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        message = AIMessage(self.answer)
        message.usage_metadata = {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}
        return ChatResult(generations=[ChatGeneration(message=message)])


class QuestionAsker(BaseChatModel):
    """An agent model that asks its first tool ``question``, then repeats the tool's result."""

    question: str
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "question-asker"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self.bind(tool_name=tools[0].name)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if results:
            message = AIMessage(f"The routed answer: {results[-1].text}")
        else:
            call = {"name": kwargs["tool_name"], "args": {"question": self.question}, "id": "c1"}
            message = AIMessage("", tool_calls=[call])
        return ChatResult(generations=[ChatGeneration(message=message)])


def tiny_models() -> dict[str, BaseChatModel]:
    return {
        "small": RecordingChatModel(answer="a draft"),
        "large": RecordingChatModel(answer="the final answer"),
    }


def tiny_overrides(models: dict[str, BaseChatModel]) -> dict[str, Any]:
    return {
        "models": models,
        "catalog": tiny_catalog(),
        "evaluator": TableEvaluator({"small": 0.1, "large": 0.95}),
    }


@pytest.fixture(scope="module")
def gsm8k_prompt() -> str:
    from routegraph.core.data import load_dataset

    return load_dataset("gsm8k").prompts[0]


# -- subgraph ---------------------------------------------------------------------------------
def test_plan_reaches_the_routed_models_but_not_the_router() -> None:
    models = tiny_models()
    planner = RecordingChatModel(answer="1. Recall the capital. 2. Say it.")
    agent = build_planned_agent("cascade", planner=planner, **tiny_overrides(models))
    out = agent.invoke({"messages": [HumanMessage("What is the capital of France?")]}, context=TINY)

    assert [m.type for m in out["messages"]] == ["human", "system", "ai"]
    plan_message = out["messages"][1]
    assert plan_message.name == "plan" and "1. Recall the capital." in plan_message.text
    assert out["plan"] == "1. Recall the capital. 2. Say it."
    assert planner.prompts[0][-1].text == "What is the capital of France?"
    # Both cascade tiers answered with the plan in their prompt, after the question.
    for name in ("small", "large"):
        prompt = models[name].prompts[0]  # type: ignore[attr-defined]
        assert [m.type for m in prompt] == ["human", "system"]
    # The parent keeps this turn's routing record.
    assert [a["model"] for a in out["attempts"]] == ["small", "large"]
    assert out["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in out["attempts"]))
    meta = out["messages"][-1].response_metadata["routegraph"]
    assert meta["path"] == ["small", "large"] and meta["chosen_model"] == "large"


def test_a_thread_routes_each_turn_afresh_and_keeps_the_history() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    models = tiny_models()
    agent = build_planned_agent(
        "cascade",
        planner=RecordingChatModel(answer="1. Say it."),
        checkpointer=InMemorySaver(),
        **tiny_overrides(models),
    )
    thread: Any = {"configurable": {"thread_id": "planned"}}
    question = "What is the capital of France?"
    for turn in (1, 2):
        out = agent.invoke({"messages": [HumanMessage(question)]}, thread, context=TINY)
        meta = out["messages"][-1].response_metadata["routegraph"]
        assert (meta["turn"], out["turn"], len(out["history"])) == (turn, turn, turn)
        assert meta["path"] == ["small", "large"]  # the same question, routed the same way
        assert [a["model"] for a in out["attempts"]] == ["small", "large"]  # this turn's only
        assert out["cost_usd"] == pytest.approx(meta["cost_usd"])
    assert [m.type for m in out["messages"]] == ["human", "system", "ai"] * 2
    # The second turn's models saw the whole conversation, the earlier turn included.
    assert len(models["small"].prompts[-1]) == 5  # type: ignore[attr-defined]


def test_compiled_graph_with_overrides_is_refused() -> None:
    from routegraph.core.errors import InvalidInputError
    from routegraph.graphs.registry import build_graph

    compiled = build_graph("simple", **tiny_overrides(tiny_models()))
    with pytest.raises(InvalidInputError, match="overrides"):
        build_planned_agent(compiled, planner=RecordingChatModel(answer="x"), router=None)


@pytest.mark.slow
def test_parent_agent_streams_routing_events_under_the_answer_namespace(
    no_cloud: None, smollm2_gguf: Any, gsm8k_prompt: str
) -> None:
    agent = build_planned_agent("cascade")  # planner and first tier: the embedded SmolLM2
    events: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    final_state: dict[str, Any] = {}
    for namespace, mode, chunk in agent.stream(
        {"messages": [HumanMessage(gsm8k_prompt)]},
        context={"router": "default", "max_tokens": 64},
        stream_mode=["custom", "values"],
        subgraphs=True,
    ):
        if mode == "custom":
            events.append((tuple(namespace), dict(chunk)))  # type: ignore[arg-type]
        elif namespace == ():
            final_state = dict(chunk)  # type: ignore[arg-type]

    root = [e for ns, e in events if ns == ()]
    nested = [(ns, e) for ns, e in events if ns != ()]
    assert [e["event"] for e in root] == ["plan"]
    assert root[0]["model"] == "smollm2-135m" and root[0]["plan"]
    assert {e["event"] for _, e in nested} == ROUTING_EVENTS
    assert all(len(ns) == 1 and ns[0].startswith("answer:") for ns, _ in nested)

    final = final_state["messages"][-1]
    meta = final.response_metadata["routegraph"]
    last = nested[-1][1]
    assert last["event"] == "final"
    assert {k: last[k] for k in meta} == meta
    assert meta["path"][0] == "smollm2-135m"
    assert final_state["attempts"][0]["source"] == "live"  # SmolLM2 really answered first
    routed = [e for _, e in nested if e["event"] == "routing_decision"]
    decisions = [d for d in final_state["decisions"] if d["action"] not in ("accept", "escalate")]
    assert [(e["step"], e["chosen_model"]) for e in routed] == [
        (d["step"], d["chosen_model"]) for d in decisions
    ]
    assert final_state["cost_usd"] == pytest.approx(meta["cost_usd"])
    assert [m.type for m in final_state["messages"]] == ["human", "system", "ai"]


# -- tool -------------------------------------------------------------------------------------
def test_tool_returns_answer_summary_and_record() -> None:
    tool = routing_tool("cascade", context=TINY, **tiny_overrides(tiny_models()))
    assert tool.name == "ask_cascade" and set(tool.args) == {"question"}
    call = {"type": "tool_call", "id": "t1", "name": tool.name, "args": {"question": "Why?"}}
    message = tool.invoke(call)
    assert isinstance(message, ToolMessage)
    assert message.content == "the final answer\n\n" + routing_summary(message.artifact)
    assert "answered by large (live)" in message.content and "small -> large" in message.content
    assert message.artifact["answer"] == "the final answer"
    assert [d["chosen_model"] for d in message.artifact["decisions"]][:1] == ["small"]

    again = asyncio.run(tool.ainvoke({**call, "id": "t2"}))
    assert again.content == message.content


def test_tool_errors_come_back_to_the_agent() -> None:
    tool = routing_tool(
        "cascade", context={**TINY, "threshold": 2}, **tiny_overrides(tiny_models())
    )
    call = {"type": "tool_call", "id": "t1", "name": tool.name, "args": {"question": "Why?"}}
    assert "routing failed: threshold: 2" in tool.invoke(call).content
    blank = {**call, "args": {"question": "  "}}
    assert "question: is empty" in tool.invoke(blank).content


def test_minions_tool_asks_for_the_document() -> None:
    tool = routing_tool("minions", name="read_report")
    assert tool.name == "read_report" and set(tool.args) == {"question", "document"}


@pytest.mark.slow
def test_agent_calls_the_routing_tool_end_to_end(
    no_cloud: None, smollm2_gguf: Any, gsm8k_prompt: str
) -> None:
    tool = routing_tool("cascade", context={"router": "default", "max_tokens": 64})
    agent = create_agent(model=QuestionAsker(question=gsm8k_prompt), tools=[tool])
    out = agent.invoke({"messages": [HumanMessage("How much does Janet make a day?")]})

    types = [m.type for m in out["messages"]]
    assert types == ["human", "ai", "tool", "ai"]
    result = out["messages"][2]
    assert isinstance(result, ToolMessage) and result.status == "success"
    record = result.artifact
    assert record["graph"] == "cascade" and record["path"][0] == "smollm2-135m"
    first = record["attempts"][0]
    assert first["served_by"] == "smollm2-135m" and first["source"] == "live"
    assert record["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in record["attempts"]))
    assert result.text == f"{record['answer']}\n\n{routing_summary(record)}"
    assert out["messages"][-1].text == f"The routed answer: {result.text}"
    assert isinstance(out["messages"][0], HumanMessage)
    assert not any(isinstance(m, SystemMessage) for m in out["messages"])


@pytest.mark.slow
def test_a_real_tool_calling_model_asks_the_routing_tool(
    function_calling_server: ServerProcess, no_cloud: None
) -> None:
    """SmolLM2 on llama.cpp's function-calling server writes the tool call itself (the tool is
    named, so the server's grammar makes it call this one); the routing graph answers it."""
    from langchain.agents.middleware import wrap_model_call

    from routegraph.core.providers.openai_compat import OpenAICompatibleChat

    tool = routing_tool("cascade", context={"router": "default", "max_tokens": 32})

    @wrap_model_call
    def call_the_tool_then_answer(request: Any, handler: Any) -> Any:
        done = any(isinstance(m, ToolMessage) for m in request.messages)
        return handler(request.override(tool_choice="none" if done else tool.name))

    agent_model = OpenAICompatibleChat(
        model=ALIAS,
        base_url=f"{function_calling_server.url}/v1",
        api_key="sk-local",  # type: ignore[arg-type]
        temperature=0,
        max_retries=0,
        timeout=300,
        extra_body={"max_tokens": 48},
    )
    agent = create_agent(
        model=agent_model,
        tools=[tool],
        system_prompt="Use the functions to answer.",
        middleware=[call_the_tool_then_answer],
    )
    out = agent.invoke({"messages": [HumanMessage("What is the capital of France?")]})

    asked, answered = [m for m in out["messages"] if isinstance(m, AIMessage)]
    [call] = asked.tool_calls
    assert call["name"] == "ask_cascade" and call["args"]["question"].strip()
    [result] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert result.tool_call_id == call["id"] and result.status == "success"
    record = result.artifact
    assert record["graph"] == "cascade" and record["path"][0] == "smollm2-135m"
    assert record["attempts"][0]["source"] == "live"
    assert result.text == f"{record['answer']}\n\n{routing_summary(record)}"
    assert not answered.tool_calls

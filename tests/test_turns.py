"""Turns are first-class: in a checkpointed thread each run routes its own question.

Branch logic on fake chat models in a real LangGraph checkpointer (``InMemorySaver``): the
per-turn bounds and metadata count this turn only, the history keeps every turn, the models see
the whole conversation, follow-ups can be sticky, and a tool loop stays on the model that asked
for the tools. The same thread through a real ``langgraph dev`` server is in
``test_langgraph_dev.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.memory import InMemorySaver

from routegraph.core.errors import InvalidInputError
from routegraph.graphs.registry import GRAPH_IDS, build_graph
from routegraph.nodes.turns import conversation, tool_loop_model
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter, handle

CATALOG = tiny_catalog()
BASE: dict[str, Any] = {
    "weak_model": "small",
    "strong_model": "large",
    "models": ["small", "large"],
    "confidence_threshold": 0.8,
}


PROMPTS: list[list[BaseMessage]] = []


class RecordingChatModel(ScriptedChatModel):
    """A scripted model that keeps every prompt it was sent in ``PROMPTS``."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        PROMPTS.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


class ToolCallingChatModel(BaseChatModel):
    """Asks for the ``lookup`` tool until it sees a tool result, then answers from it."""

    bound_tools: list[dict[str, Any]] = []
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        self.bound_tools = list(tools)
        return self

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
            message = AIMessage(content=f"The answer is {results[-1].content}.")
        else:
            message = AIMessage(
                content="",
                tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "call_1"}],
            )
        message.usage_metadata = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        return ChatResult(generations=[ChatGeneration(message=message)])


def thread_graph(graph_id: str = "cascade", **overrides: Any) -> Any:
    overrides.setdefault("catalog", CATALOG)
    overrides.setdefault("evaluator", TableEvaluator({"small": 0.9, "large": 0.95}))
    overrides.setdefault(
        "models",
        {"small": ScriptedChatModel(answers=["4"]), "large": ScriptedChatModel(answers=["4!"])},
    )
    if graph_id != "minions":
        overrides.setdefault("router", handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.1)))
    graph = build_graph(graph_id, **overrides)
    graph.checkpointer = InMemorySaver()
    return graph


def turn(graph: Any, question: str, thread: str = "t1", **context: Any) -> dict[str, Any]:
    out: dict[str, Any] = graph.invoke(
        {"messages": [HumanMessage(question)]},
        config={"configurable": {"thread_id": thread}},
        context={**BASE, **context},
    )
    return out


def meta(out: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = out["messages"][-1].response_metadata["routegraph"]
    return result


@pytest.mark.parametrize("graph_id", GRAPH_IDS)
def test_same_question_twice_in_a_thread_is_routed_the_same_way(graph_id: str) -> None:
    graph = thread_graph(graph_id)
    first = turn(graph, "What is 2 + 2?", max_rounds=1, max_subtasks=1)
    second = turn(graph, "What is 2 + 2?", max_rounds=1, max_subtasks=1)

    assert [d["action"] for d in second["decisions"]] == [d["action"] for d in first["decisions"]]
    assert [a["model"] for a in second["attempts"]] == [a["model"] for a in first["attempts"]]
    assert second["attempts"][0]["step"] == 1  # steps count from 1 again
    assert (meta(first)["turn"], meta(second)["turn"]) == (1, 2)
    assert meta(second)["steps"] == meta(first)["steps"] == len(second["attempts"])
    assert meta(second)["cost_usd"] == pytest.approx(meta(first)["cost_usd"])
    assert second["cost_usd"] == pytest.approx(first["cost_usd"])  # this turn's, not the sum
    assert [h["turn"] for h in second["history"]] == [1, 2]
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]


def test_max_steps_and_budget_count_this_turn_only() -> None:
    graph = thread_graph(evaluator=TableEvaluator({"small": 0.1, "large": 0.95}))
    for number in (1, 2, 3):
        out = turn(graph, "What is 2 + 2?", max_steps=2)
        assert [a["model"] for a in out["attempts"]] == ["small", "large"], number
        assert meta(out)["chosen_model"] == "large"
    assert len(out["history"]) == 3
    # Each turn costs the same; the total over the thread is readable from the history.
    per_turn = [h["cost_usd"] for h in out["history"]]
    assert per_turn[0] > 0 and per_turn == pytest.approx([per_turn[0]] * 3)
    assert out["cost_usd"] == pytest.approx(per_turn[0])


def test_final_message_usage_adds_up_this_turns_attempts() -> None:
    graph = thread_graph(evaluator=TableEvaluator({"small": 0.1, "large": 0.95}))
    turn(graph, "What is 2 + 2?")
    out = turn(graph, "And 3 + 3?")
    usage = out["messages"][-1].usage_metadata
    assert usage["input_tokens"] == sum(a["input_tokens"] for a in out["attempts"]) == 200
    assert usage["output_tokens"] == 100
    assert meta(out)["path"] == ["small", "large"]


def test_models_see_earlier_turns() -> None:
    PROMPTS.clear()
    small = RecordingChatModel(answers=["Paris.", "About 2.1 million."])
    graph = thread_graph(models={"small": small, "large": ScriptedChatModel(answers=["x"])})
    turn(graph, "What is the capital of France?")
    turn(graph, "How many people live there?")
    second_prompt = PROMPTS[-1]
    assert [m.text for m in second_prompt] == [
        "What is the capital of France?",
        "Paris.",
        "How many people live there?",
    ]


def test_long_conversations_are_trimmed_oldest_first() -> None:
    messages: list[BaseMessage] = []
    for i in range(50):
        messages += [HumanMessage(f"question {i} " + "word " * 40), AIMessage("answer " * 40)]
    messages.append(HumanMessage("newest question"))
    kept = conversation(messages, max_tokens=300)
    assert kept[-1].text == "newest question"
    assert kept[0].type == "human"
    assert len(kept) < len(messages)
    assert conversation(messages[-3:], max_tokens=10_000) == messages[-3:]


def test_sticky_follow_up_stays_on_the_strong_model_unless_clearly_easy() -> None:
    router = FixedRouter({"small": 0.5, "large": 0.9}, p_strong=0.9)
    graph = thread_graph("simple", router=handle(router))
    assert (
        meta(turn(graph, "Prove Fermat's last theorem.", follow_up="sticky"))["chosen_model"]
        == "large"
    )
    router.p_strong = 0.3  # the follow-up alone looks easy-ish, but not clearly easy
    sticky = turn(graph, "And why?", follow_up="sticky")
    assert meta(sticky)["chosen_model"] == "large"
    assert "sticky follow-up" in sticky["decisions"][0]["reason"]
    fresh = turn(graph, "And why?", thread="t2", follow_up="fresh")
    assert meta(fresh)["chosen_model"] == "small"  # a new thread has no hard turn before it
    router.p_strong = 0.1  # the router is confident it is easy: sticky lets it go
    assert meta(turn(graph, "Thanks!", follow_up="sticky"))["chosen_model"] == "small"


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def test_tool_loop_stays_on_the_model_that_asked_for_the_tools() -> None:
    large = ToolCallingChatModel()
    graph = build_graph(
        "simple",
        models={"small": ScriptedChatModel(answers=["no tools here"]), "large": large},
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.9)),
        evaluator=TableEvaluator({"small": 0.9, "large": 0.9}),
        catalog=CATALOG,
    )
    question = HumanMessage("Look up x.")
    first = graph.invoke({"messages": [question]}, context={**BASE, "tools": TOOLS})
    call = first["messages"][-1]
    assert call.tool_calls and call.tool_calls[0]["name"] == "lookup"
    assert large.bound_tools == TOOLS
    assert first["attempts"][0]["evaluator"] == "tool_calls"
    assert meta(first)["chosen_model"] == "large"

    # The agent ran the tool; the router now says "easy", but the loop must not switch models.
    graph_router = FixedRouter({"small": 0.5, "large": 0.9}, 0.0)
    graph = build_graph(
        "simple",
        models={"small": ScriptedChatModel(answers=["no tools here"]), "large": large},
        router=handle(graph_router),
        evaluator=TableEvaluator({"small": 0.9, "large": 0.9}),
        catalog=CATALOG,
    )
    result = ToolMessage("42", tool_call_id="call_1")
    assert tool_loop_model([question, call, result]) == "large"
    second = graph.invoke({"messages": [question, call, result]}, context={**BASE, "tools": TOOLS})
    assert second["decisions"][0]["action"] == "stay"
    assert meta(second)["chosen_model"] == "large"
    assert second["messages"][-1].content == "The answer is 42."
    assert not second["messages"][-1].tool_calls


def test_a_model_without_tool_support_answers_without_them_and_says_so() -> None:
    graph = thread_graph()
    out = turn(graph, "What is 2 + 2?", tools=TOOLS)
    assert out["messages"][-1].content == "4"
    assert "cannot call tools" in out["attempts"][0]["note"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"tools": [{"type": "function"}]}, "tools[0]"),
        ({"tools": "lookup"}, "tools"),
        ({"tools": TOOLS, "tool_choice": "nope"}, "tool_choice"),
        ({"follow_up": "always"}, "follow_up"),
        ({"max_input_tokens": 0}, "max_input_tokens"),
    ],
)
def test_bad_turn_settings_name_the_field(values: dict[str, Any], field: str) -> None:
    graph = thread_graph()
    with pytest.raises(InvalidInputError) as info:
        turn(graph, "What is 2 + 2?", **values)
    assert info.value.field == field


def test_input_and_output_schemas_show_the_conversation_not_internal_keys() -> None:
    cascade = build_graph("cascade", catalog=CATALOG)
    minions = build_graph("minions", catalog=CATALOG)
    assert set(cascade.get_input_jsonschema()["properties"]) == {"messages"}
    assert set(minions.get_input_jsonschema()["properties"]) == {"messages", "document"}
    output = set(cascade.get_output_jsonschema()["properties"])
    assert {"messages", "attempts", "decisions", "cost_usd", "history"} <= output
    assert not {"pending", "next_model", "last_message"} & output

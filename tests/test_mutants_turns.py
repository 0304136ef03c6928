"""``nodes/turns.py`` pinned where one-line mutants (mutation/turns.toml) would change what a
turn resets, counts, sends or records. Expected values are written out by hand; token counts
come from the tokenizer (``count_tokens``) plus the 6 framing tokens of the chat template.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.types import Overwrite

from routegraph.core.data.tokens import count_tokens
from routegraph.nodes.turns import (
    begin_turn,
    conversation,
    message_tokens,
    tool_loop_model,
    turn_record,
)


# --- begin_turn ---------------------------------------------------------------------------
def test_a_turn_is_numbered_and_every_per_turn_key_reset() -> None:
    expected_resets = {
        "attempts": Overwrite([]),
        "decisions": Overwrite([]),
        "cost_usd": Overwrite(0.0),
        "notes": Overwrite([]),
        "local_tokens": Overwrite(0),
        "remote_tokens": Overwrite(0),
        "worker_results": Overwrite([]),
        "pending": None,
        "next_model": None,
        "last_message": None,
        "subtasks": [],
        "round": 0,
    }
    assert begin_turn({"turn": 2, "cost_usd": 1.5}) == {"turn": 3, **expected_resets}  # type: ignore[typeddict-item]
    assert begin_turn({})["turn"] == 1  # type: ignore[typeddict-item]
    assert begin_turn({"turn": None})["turn"] == 1  # type: ignore[typeddict-item]


# --- message_tokens -----------------------------------------------------------------------
def test_each_message_costs_its_text_6_framing_tokens_and_its_tool_calls() -> None:
    assert message_tokens([]) == 0
    assert message_tokens([HumanMessage("")]) == 6
    assert message_tokens([HumanMessage(""), AIMessage("")]) == 12
    assert message_tokens([HumanMessage("hello world")]) == count_tokens("hello world") + 6
    call = {"name": "f", "args": {"x": 1}, "id": "c1"}
    asked = AIMessage("", tool_calls=[call, {**call, "id": "c2"}])
    assert message_tokens([asked]) == 6 + 2 * count_tokens('f {"x": 1}')


# --- conversation -------------------------------------------------------------------------
def test_a_conversation_exactly_at_the_limit_is_sent_whole() -> None:
    # starts with an answer: trimming would drop it (a kept part starts on a user message)
    messages = [AIMessage("Hello, how can I help?"), HumanMessage("What is 2 + 2?")]
    assert conversation(messages, message_tokens(messages)) == messages
    assert conversation(messages, message_tokens(messages) - 1) == messages[1:]


def test_an_older_message_is_never_cut_to_fit() -> None:
    older = HumanMessage("\n".join(f"line {i} of an old question" for i in range(60)))
    newest = HumanMessage("newest question?")
    system = SystemMessage("You are terse.")
    limit = message_tokens([system, newest]) + 60  # room for a few lines of the older one
    assert conversation([system, older, newest], limit) == [system, newest]


def test_when_even_the_newest_question_does_not_fit_it_is_sent_with_the_system_message() -> None:
    first, second = SystemMessage("You are terse."), SystemMessage("Answer in French.")
    old, newest = HumanMessage("old question"), HumanMessage("word " * 200)
    assert conversation([first, old, AIMessage("old answer"), newest], 20) == [first, newest]
    # only a system message that opens the conversation is kept
    assert conversation([first, second, newest], 20) == [first, newest]
    assert conversation([old, newest], 20) == [newest]


# --- tool_loop_model ----------------------------------------------------------------------
def _asked(model: str | None) -> AIMessage:
    meta = {"routegraph": {"chosen_model": model}} if model else {}
    call = {"name": "lookup", "args": {}, "id": f"call-{model}"}
    return AIMessage("", tool_calls=[call], response_metadata=meta)


def _result(model: str | None) -> ToolMessage:
    return ToolMessage("42", tool_call_id=f"call-{model}")


def test_the_tool_loop_of_this_turn_names_its_model() -> None:
    earlier = [HumanMessage("q1"), _asked("large"), _result("large"), AIMessage("a1")]
    earlier += [HumanMessage("q2"), AIMessage("a2")]
    assert tool_loop_model([*earlier, HumanMessage("q3"), _asked("small"), _result("small")]) == (
        "small"
    )
    # right after the question, before any tool result
    assert tool_loop_model([*earlier, HumanMessage("q3"), _asked("small")]) == "small"
    # no user message at all: the whole list is this turn
    assert tool_loop_model([_asked("large"), _result("large")]) == "large"


def test_a_tool_loop_of_an_earlier_turn_is_not_this_turns() -> None:
    messages = [HumanMessage("q1"), AIMessage("a1"), HumanMessage("q2"), _asked("large")]
    messages += [_result("large"), AIMessage("a2"), HumanMessage("q3")]
    assert tool_loop_model(messages) is None
    assert tool_loop_model([*messages, AIMessage("thinking")]) is None


def test_tool_calls_without_a_routegraph_model_are_no_loop_of_ours() -> None:
    assert tool_loop_model([HumanMessage("q"), _asked(None), _result(None)]) is None


# --- turn_record --------------------------------------------------------------------------
def test_the_turn_record_adds_up_this_turns_attempts() -> None:
    attempts = [
        {"model": "small", "input_tokens": 10, "output_tokens": 4},
        {"model": "large", "served_by": "large-2", "confidence": 0.8, "input_tokens": 30},
        {"model": "large", "output_tokens": 7},
    ]
    state = {"turn": 3, "attempts": attempts, "decisions": [{"step": 1}]}
    meta = {"cost_usd": 0.25, "escalated": 1, "cloud_used": 0}
    record = turn_record(state, "q", attempts[1], True, meta)  # type: ignore[arg-type]
    assert record == {
        "turn": 3,
        "query": "q",
        "chosen_model": "large",
        "served_by": "large-2",
        "confidence": 0.8,
        "steps": 3,
        "cost_usd": 0.25,
        "input_tokens": 40,
        "output_tokens": 11,
        "escalated": True,
        "cloud_used": False,
        "strong": True,
        "attempts": attempts,
        "decisions": [{"step": 1}],
    }


def test_a_turn_record_without_an_answer_or_a_number() -> None:
    meta = {"cost_usd": 0.0, "escalated": False, "cloud_used": False}
    record = turn_record({}, "q", None, False, meta)  # type: ignore[arg-type]
    assert record["turn"] == 1
    assert (record["chosen_model"], record["served_by"], record["confidence"]) == (None,) * 3
    assert (record["steps"], record["input_tokens"], record["output_tokens"]) == (0, 0, 0)
    assert turn_record({"turn": 2}, "q", None, False, meta)["turn"] == 2  # type: ignore[typeddict-item]

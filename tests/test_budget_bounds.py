"""The worst-case price of a call, number by number (``nodes/budget.py``).

A budget cap is only as good as the bound it checks: these tests pin the bound's arithmetic on
prompts whose sizes are counted by hand, so a changed operator or constant fails here (the
mutation run found the bound's formula, the tools term and the replay branch unpinned).
"""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from routegraph.core.catalog import ModelSpec
from routegraph.core.providers.replay import Recording, ReplayChatModel
from routegraph.nodes.budget import (
    MESSAGE_FRAMING,
    REPLY_FRAMING,
    left,
    prompt_token_bound,
    worst_case_cost,
)

SPEC = ModelSpec("paid", "fake", "paid", "cloud", 10.0, 30.0)  # USD per million tokens
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def test_the_framing_constants_are_the_documented_ones() -> None:
    assert (MESSAGE_FRAMING, REPLY_FRAMING) == (8, 4)


def test_prompt_bound_is_bytes_plus_framing_per_message_plus_the_reply() -> None:
    hello = [HumanMessage("hello")]  # 5 bytes
    assert prompt_token_bound(hello) == 4 + 5 + 8
    two = [SystemMessage("Be brief."), HumanMessage("héllo")]  # 9 bytes; 6 bytes (é is 2)
    assert prompt_token_bound(two) == 4 + (9 + 8) + (6 + 8)
    call = AIMessage("", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "c1"}])
    calls_bytes = len(json.dumps(call.tool_calls, default=str).encode())
    assert prompt_token_bound([call]) == 4 + (0 + calls_bytes) + 8
    tools_bytes = len(json.dumps([TOOL]).encode())
    assert prompt_token_bound(hello, [TOOL]) == 4 + 5 + 8 + tools_bytes
    assert prompt_token_bound([]) == 4


def test_worst_case_is_the_bound_at_the_input_price_plus_max_tokens_at_the_output_price() -> None:
    hello = [HumanMessage("hello")]
    assert worst_case_cost(SPEC, hello, 100) == pytest.approx((17 * 10.0 + 100 * 30.0) / 1e6)
    with_tools = worst_case_cost(SPEC, hello, 100, [TOOL])
    tools_bytes = len(json.dumps([TOOL]).encode())
    assert with_tools == pytest.approx(((17 + tools_bytes) * 10.0 + 100 * 30.0) / 1e6)


def test_a_replayed_call_costs_what_its_recording_cost() -> None:
    recording = Recording("set", 0, "4", 1.0, 120, 30, 0.0123, None)
    chat = ReplayChatModel(model_id="paid", index={"What is 2 + 2?": recording})
    question = [HumanMessage("What is   2 + 2?")]  # matched whitespace-insensitively
    assert worst_case_cost(SPEC, question, 100, chat=chat) == 0.0123
    unknown = [HumanMessage("Something never recorded")]
    assert worst_case_cost(SPEC, unknown, 100, chat=chat) == pytest.approx(
        worst_case_cost(SPEC, unknown, 100)
    )  # no recording: the priced bound


def test_what_is_left_never_goes_below_zero() -> None:
    assert left(1.0, 0.25) == 0.75
    assert left(0.1, 0.3) == 0.0
    assert left(0.0, 0.0) == 0.0

"""Promises that one-line mutants of the budget, health and turn code would break.

Guards three promises with fast branch-logic tests (fake chat models, an injected clock, no
sleeps and no wall-clock limits):

* "``budget_usd`` counts this turn only": in a checkpointed thread, what earlier turns spent
  is not taken off the budget left for a call of this turn (``nodes/steps.py``,
  ``nodes/budget.py``).
* "3 failed tries, then a 30 s cool-down": the *default* health board (the one every graph
  shares) opens after 3 consecutive failures and stays open for 30 s, not less
  (``nodes/health.py``: ``DEFAULT_THRESHOLD``, ``DEFAULT_COOLDOWN_S``).
* "oldest turns dropped first": past ``max_input_tokens`` the newest turns that fit are all
  kept (with the system message), not just the newest question (``nodes/turns.py``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from routegraph.graphs.registry import build_graph
from routegraph.nodes import budget, health
from routegraph.nodes.health import Fault, HealthBoard
from routegraph.nodes.turns import conversation, message_tokens
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter, handle

CATALOG = tiny_catalog()


# --- budget_usd counts this turn only -----------------------------------------------------
FIRST = "What is 2 + 2?"
SECOND = "And 3 + 3?"
MAX_TOKENS = 50
PAID_INPUT_TOKENS = 20  # what the paid fake reports: within the worst-case bound of each prompt


def _paid_thread_graph() -> Any:
    """The simple graph on a checkpointed thread; the router always picks the paid 'large'."""
    graph = build_graph(
        "simple",
        catalog=CATALOG,
        models={
            "small": ScriptedChatModel(answers=["4 (free)"]),
            "large": ScriptedChatModel(
                answers=["4", "6"], input_tokens=PAID_INPUT_TOKENS, output_tokens=MAX_TOKENS
            ),
        },
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, p_strong=0.9)),
        evaluator=TableEvaluator({"small": 0.9, "large": 0.9}),
    )
    graph.checkpointer = InMemorySaver()
    return graph


def test_budget_left_for_a_call_ignores_what_earlier_turns_spent() -> None:
    large = CATALOG.get("large")
    spent_per_turn = large.cost(PAID_INPUT_TOKENS, MAX_TOKENS)
    first_worst = budget.worst_case_cost(large, [HumanMessage(FIRST)], MAX_TOKENS)
    # The second turn's prompt is the whole conversation so far.
    second_prompt = [HumanMessage(FIRST), AIMessage("4"), HumanMessage(SECOND)]
    second_worst = budget.worst_case_cost(large, second_prompt, MAX_TOKENS)
    budget_usd = second_worst + spent_per_turn / 2
    # The scenario: each turn's worst case fits the budget, but the second does not fit what
    # would be left if the first turn's spend were taken off it.
    assert first_worst <= second_worst <= budget_usd < second_worst + spent_per_turn

    graph = _paid_thread_graph()
    context: dict[str, Any] = {
        "weak_model": "small",
        "strong_model": "large",
        "models": ["small", "large"],
        "budget_usd": budget_usd,
        "max_tokens": MAX_TOKENS,
    }
    config = {"configurable": {"thread_id": "budget-thread"}}
    outs = [
        graph.invoke({"messages": [HumanMessage(q)]}, config=config, context=context)
        for q in (FIRST, SECOND)
    ]

    for number, out in enumerate(outs, start=1):
        meta = out["messages"][-1].response_metadata["routegraph"]
        assert meta["turn"] == number
        assert [a["model"] for a in out["attempts"]] == ["large"], out["attempts"]
        assert meta["chosen_model"] == "large", meta["notes"]
        assert not any(f.get("fault") == "budget" for f in out["attempts"][0].get("faults", []))
        assert meta["cost_usd"] == pytest.approx(spent_per_turn)  # this turn's call, counted
        assert out["cost_usd"] == pytest.approx(spent_per_turn)
    second = outs[1]
    assert second["messages"][-1].content == "6"
    assert [h["cost_usd"] for h in second["history"]] == pytest.approx([spent_per_turn] * 2)


# --- 3 failed tries, then a 30 s cool-down ------------------------------------------------
class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_default_board_cools_down_for_30_s_after_3_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(health.COOLDOWN_VARIABLE, raising=False)
    clock = FakeClock()
    board = HealthBoard(clock=clock)  # the defaults, as the shared board is built
    key = "large#1"
    fault = Fault("connection", "ConnectionError: connection refused")

    board.failure(key, fault)
    board.failure(key, fault)
    assert board.check(key) is None  # two failed tries: still called

    board.failure(key, fault)
    started = clock.now
    assert "cooling down" in (board.check(key) or "")  # the third opens the breaker
    assert board.status()[key]["cooling_down_s"] == pytest.approx(30.0)
    clock.now = started + 29.9
    assert "cooling down" in (board.check(key) or "")  # still cooling just before 30 s
    clock.now = started + 30.0
    assert board.check(key) is None  # then one trial call goes through
    board.success(key)
    assert board.check(key) is None
    assert (board.threshold, board.cooldown_s) == (3, 30.0)
    assert (health.DEFAULT_THRESHOLD, health.DEFAULT_COOLDOWN_S) == (3, 30.0)


def test_the_shared_board_uses_the_defaults() -> None:
    if health.COOLDOWN_VARIABLE in os.environ:
        pytest.skip(f"{health.COOLDOWN_VARIABLE} is set: the shared board rightly follows it")
    assert (health.HEALTH.threshold, health.HEALTH.cooldown_s) == (3, 30.0)


# --- oldest turns dropped first -----------------------------------------------------------
def _newest_turns_that_fit(
    system: list[BaseMessage], rest: list[BaseMessage], limit: int
) -> list[BaseMessage]:
    """Brute force: the longest suffix of ``rest`` that starts on a human message and fits
    ``limit`` together with ``system``."""
    fitting = [
        rest[start:]
        for start in range(len(rest))
        if isinstance(rest[start], HumanMessage) and message_tokens(system + rest[start:]) <= limit
    ]
    return max(fitting, key=len, default=[])


def test_past_the_limit_the_newest_turns_that_fit_are_all_kept() -> None:
    system: list[BaseMessage] = [SystemMessage("You are terse.")]
    rest: list[BaseMessage] = []
    for i in range(30):
        rest += [HumanMessage(f"question {i}?"), AIMessage(f"answer {i}.")]
    rest.append(HumanMessage("newest question?"))
    messages = system + rest
    # Room for the system message, the four newest turns and the newest question, with a
    # little to spare (less than one more message could use: each has 6 framing tokens).
    limit = message_tokens(system + rest[-9:]) + 3
    assert message_tokens(messages) > limit

    expected = _newest_turns_that_fit(system, rest, limit)
    assert expected == rest[-9:]  # the scenario: several turns fit, not just the question

    kept = conversation(messages, limit)

    assert kept == system + expected
    assert kept[0].type == "system" and kept[1].type == "human"
    assert sum(isinstance(m, HumanMessage) for m in kept) == 5
    assert [m.text for m in kept[1:]] == [m.text for m in rest[-9:]]  # in order
    assert message_tokens(kept) <= limit

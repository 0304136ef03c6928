"""The outcome log: what ``finalize`` records per turn, exploration, and feedback.

Fake chat models (branch logic only); the stores are LangGraph's own (in memory, and the real
SQLite store ``serve --db`` uses).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from routegraph.core.errors import InvalidInputError
from routegraph.core.outcomes import (
    NAMESPACE,
    OutcomeNotFoundError,
    iter_outcomes,
    record_feedback,
)
from routegraph.graphs.cascade import build_cascade_graph
from routegraph.graphs.simple import build_simple_graph
from routegraph.nodes.outcomes import exploration_pick
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter, handle

CATALOG = tiny_catalog()
PAIR = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
TIERS = {"weak_model": "small", "strong_model": "large", "models": ["small", "medium", "large"]}


def models() -> dict[str, ScriptedChatModel]:
    return {
        n: ScriptedChatModel(answers=[f"answer of {n}"] * 20) for n in ("small", "medium", "large")
    }


def simple(store: Any, p_strong: float = 0.2, **kw: Any) -> Any:
    router = handle(FixedRouter({"small": 0.4, "large": 0.9}, p_strong))
    graph = build_simple_graph(
        models=models(), catalog=CATALOG, router=router, evaluator=TableEvaluator({"small": 0.7})
    )
    return graph.copy(update={"store": store, **kw})


def cascade(store: Any, confidence: dict[str, float]) -> Any:
    graph = build_cascade_graph(
        models=models(), catalog=CATALOG, evaluator=TableEvaluator(confidence), router="heuristic"
    )
    return graph.copy(update={"store": store})


def ask(graph: Any, question: str = "What is 2 + 2?", config: Any = None, **context: Any) -> Any:
    return graph.invoke({"messages": [HumanMessage(question)]}, config, context=context)


def trace(state: dict[str, Any]) -> dict[str, Any]:
    return state["messages"][-1].response_metadata["routegraph"]


def test_a_routed_turn_leaves_one_record_with_prior_calls_and_propensities() -> None:
    store = InMemoryStore()
    state = ask(simple(store), **PAIR, threshold=0.5)
    [record] = list(iter_outcomes(store))
    assert trace(state)["outcome_id"] == record["id"]
    assert record["graph"] == "simple" and record["turn"] == 1
    assert record["prompt"] == "What is 2 + 2?"
    assert record["router"] == "fixed" and record["candidates"] == ["small", "large"]
    assert record["prior"] == {"small": 0.4, "large": 0.9}  # the router's quality per candidate
    assert record["p_strong"] == 0.2 and record["threshold"] == 0.5
    [call] = record["calls"]
    assert call["model"] == "small" and call["chosen"] and call["propensity"] == 1.0
    assert call["confidence"] == 0.7 and not call["explored"]
    assert record["chosen_model"] == "small" and record["feedback"] is None


def test_escalations_are_logged_as_certain_calls_with_each_verdict() -> None:
    store = InMemoryStore()
    ask(cascade(store, {"small": 0.1, "medium": 0.2, "large": 0.95}), **TIERS)
    [record] = list(iter_outcomes(store))
    calls = [(c["model"], c["confidence"], c["chosen"], c["propensity"]) for c in record["calls"]]
    assert calls == [
        ("small", 0.1, False, 1.0),
        ("medium", 0.2, False, 1.0),
        ("large", 0.95, True, 1.0),
    ]


def test_outcome_log_off_or_no_store_records_nothing() -> None:
    store = InMemoryStore()
    state = ask(simple(store), **PAIR, outcome_log="off")
    assert list(iter_outcomes(store)) == [] and "outcome_id" not in trace(state)
    plain = build_simple_graph(models=models(), catalog=CATALOG, router="heuristic")
    assert "outcome_id" not in trace(ask(plain, **PAIR))


def test_embedding_mode_keeps_the_vector_and_never_the_text() -> None:
    store = InMemoryStore()
    secret = "My account number is 99-1234; what is 2 + 2?"
    ask(simple(store), secret, **PAIR, outcome_log="embedding")
    [record] = list(iter_outcomes(store))
    assert record["prompt"] is None and record["prompt_chars"] == len(secret)
    vector = record["embedding"]["vector"]
    assert len(vector) > 100 and abs(sum(v * v for v in vector) - 1.0) < 0.05
    assert "99-1234" not in json.dumps(record) and "account" not in json.dumps(record)


def test_exploration_asks_one_other_model_and_logs_its_propensity() -> None:
    store = InMemoryStore()
    state = ask(cascade(store, {"small": 0.9, "medium": 0.4, "large": 0.3}), **TIERS, explore=1.0)
    [record] = list(iter_outcomes(store))
    first, extra = record["calls"]
    assert first["model"] == "small" and first["chosen"] and first["propensity"] == 1.0
    assert extra["explored"] and not extra["chosen"] and extra["model"] in ("medium", "large")
    assert extra["propensity"] == 0.5  # explore share 1.0 over the two models left
    assert extra["confidence"] == {"medium": 0.4, "large": 0.3}[extra["model"]]
    assert state["messages"][-1].content == "answer of small"  # the user gets the chosen answer
    meta = trace(state)
    assert meta["explored"]["model"] == extra["model"]
    assert meta["cost_usd"] == pytest.approx(extra["cost_usd"]) and extra["cost_usd"] > 0


def test_exploration_never_overruns_the_budget() -> None:
    store = InMemoryStore()
    # 'large' could cost up to ~$0.008 here; the budget leaves less, so nothing is explored.
    ask(cascade(store, {"small": 0.9}), **PAIR, explore=1.0, budget_usd=0.001)
    [record] = list(iter_outcomes(store))
    assert [c["model"] for c in record["calls"]] == ["small"]


def test_exploration_draws_at_the_configured_share_with_matching_propensities() -> None:
    rng = random.Random(7)
    picks = [
        exploration_pick(f"{rng.getrandbits(64):x}", 0.1, ["a", "b", "c"], ["a"])
        for _ in range(4000)
    ]
    drawn = [p for p in picks if p is not None]
    assert 0.085 < len(drawn) / len(picks) < 0.115
    assert {p[1] for p in drawn} == {0.05}  # 0.1 over the two models not yet called
    assert {p[0] for p in drawn} == {"b", "c"}
    assert exploration_pick("x", 1.0, ["a"], ["a"]) is None  # nothing left to explore


def test_feedback_by_id_completion_id_or_thread_turn_and_later_replaces_earlier() -> None:
    store = InMemoryStore()
    graph = simple(store, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    ask(graph, "hi", config, **PAIR)
    ask(graph, "What is 3 + 3?", config, **PAIR)
    by_turn = {r["turn"]: r for r in iter_outcomes(store)}
    assert {r["thread_id"] for r in by_turn.values()} == {"t1"}
    record_feedback(store, by_turn[1]["id"], score=1.0)
    record_feedback(store, f"chatcmpl-{by_turn[2]['id']}", score=0.0, comment="wrong")
    updated = record_feedback(store, thread_id="t1", turn=2, score=0.25)
    assert updated["id"] == by_turn[2]["id"]
    stored = {item.value["turn"]: item.value["feedback"] for item in store.search(NAMESPACE)}
    assert stored[1]["score"] == 1.0 and stored[2]["score"] == 0.25


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"score": 1.5}, "score"),
        ({"score": "good"}, "score"),
        ({"score": True}, "score"),
        ({"score": 1.0, "comment": 5}, "comment"),
    ],
)
def test_bad_feedback_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    store = InMemoryStore()
    ask(simple(store), **PAIR)
    [record] = list(iter_outcomes(store))
    with pytest.raises(InvalidInputError) as caught:
        record_feedback(store, record["id"], **kwargs)
    assert caught.value.field == field
    assert list(iter_outcomes(store))[0]["feedback"] is None  # nothing half-written


def test_feedback_on_an_unknown_outcome_is_a_clear_error() -> None:
    store = InMemoryStore()
    with pytest.raises(OutcomeNotFoundError, match="no outcome 'nope'"):
        record_feedback(store, "nope", score=1.0)
    with pytest.raises(OutcomeNotFoundError, match="turn 3 of thread 't9'"):
        record_feedback(store, thread_id="t9", turn=3, score=1.0)
    with pytest.raises(InvalidInputError):
        record_feedback(store, score=1.0)  # names nothing


class BrokenStore(InMemoryStore):
    def batch(self, ops: Any) -> Any:
        raise OSError("disk full")


def test_a_failing_store_never_costs_the_user_the_answer() -> None:
    state = ask(simple(BrokenStore()), **PAIR)
    assert state["messages"][-1].content == "answer of small"
    assert "outcome_id" not in trace(state)

"""The graph loop's own promises (``nodes/steps.py``), pinned with values worked out by hand.

Written for the mutation run on ``nodes/steps.py`` (``mutation/steps.toml``): each test checks
one rule of the shared route -> generate -> evaluate -> finalize loop on both sides of its
boundary, so an operator flipped in that rule fails here in the fast suite.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.store.memory import InMemoryStore

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.context import RouteContext
from routegraph.core.outcomes import iter_outcomes
from routegraph.graphs.simple import build_simple_graph
from routegraph.graphs.specialist import build_specialist_graph
from routegraph.nodes import budget
from routegraph.nodes.health import HEALTH
from routegraph.nodes.resources import Toolkit
from routegraph.nodes.routing import RouterHandle
from routegraph.nodes.steps import best_attempt, evaluation_usage, make_route_node
from routegraph.nodes.turns import conversation
from tests.conftest import free_port
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter


def attempt(step: int, confidence: float | None, source: str = "model") -> dict[str, Any]:
    return {"step": step, "model": f"m{step}", "answer": f"a{step}", "confidence": confidence,
            "source": source}  # fmt: skip


def test_the_accepted_answer_is_returned_even_when_an_earlier_one_was_more_confident() -> None:
    state: Any = {
        "attempts": [attempt(1, 0.9), attempt(2, 0.4)],
        "decisions": [{"action": "route"}, {"action": "escalate"}, {"action": "accept"}],
    }
    assert best_attempt(state)["step"] == 2  # the LAST decision accepted it


def test_without_an_accept_the_most_confident_answer_wins_and_a_tie_goes_to_the_later() -> None:
    state: Any = {
        "attempts": [attempt(1, 0.7), attempt(2, 0.5), attempt(3, 0.7), attempt(4, None)],
        "decisions": [{"action": "escalate"}] * 4,
    }
    assert best_attempt(state)["step"] == 3
    unavailable: Any = {"attempts": [attempt(1, None, "unavailable")], "decisions": []}
    assert best_attempt(unavailable) is None
    skipped: Any = {"attempts": [attempt(1, 0.9, "unavailable"), attempt(2, 0.1)], "decisions": []}
    assert best_attempt(skipped)["step"] == 2


# --- helpers: the graphs with fake models (branch logic only) ------------------------------
CATALOG = tiny_catalog()  # small: local and free; medium: cloud $1 / $2; large: cloud $10 / $30
TIERS: dict[str, Any] = {
    "weak_model": "small",
    "strong_model": "large",
    "models": ["small", "medium", "large"],
}


class ToolCallingModel(ScriptedChatModel):
    """Asks for one tool call (as an agent's model does), with the fixed usage."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        self.calls += 1
        call = {"name": "lookup", "args": {"q": "x"}, "id": "call_1", "type": "tool_call"}
        message = AIMessage("", tool_calls=[call], usage_metadata={
            "input_tokens": 100, "output_tokens": 50, "total_tokens": 150})  # fmt: skip
        return ChatResult(generations=[ChatGeneration(message=message)])


def scripted(*names: str) -> dict[str, Any]:
    return {n: ScriptedChatModel(answers=[f"answer of {n}"] * 10) for n in names}


def simple_graph(p_strong: float, models: dict[str, Any] | None = None) -> Any:
    return build_simple_graph(
        models=models or scripted("small", "large"),
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, p_strong), CATALOG),
        evaluator=TableEvaluator({}, 0.9),
        catalog=CATALOG,
    )


def ask(graph: Any, question: str = "What is 2 + 2?", **context: Any) -> dict[str, Any]:
    return dict(graph.invoke({"messages": [HumanMessage(question)]}, context=context))


def trace(out: dict[str, Any]) -> dict[str, Any]:
    final = out["messages"][-1]
    assert isinstance(final, AIMessage)
    return dict(final.response_metadata["routegraph"])


# --- generate: whose tokens are local, whose are remote -----------------------------------
def test_a_local_answer_counts_local_tokens_and_a_cloud_answer_remote_ones() -> None:
    local = ask(simple_graph(p_strong=0.1), **TIERS, threshold=0.5)  # small: tier local
    assert trace(local)["chosen_model"] == "small"
    assert (local["local_tokens"], local["remote_tokens"]) == (150, 0)
    assert (trace(local)["local_tokens"], trace(local)["remote_tokens"]) == (150, 0)
    cloud = ask(simple_graph(p_strong=0.9), **TIERS, threshold=0.5)  # large: tier cloud
    assert trace(cloud)["chosen_model"] == "large"
    assert (cloud["local_tokens"], cloud["remote_tokens"]) == (0, 150)
    assert trace(cloud)["source"] == "live"  # the answering call's source, from the model


# --- answered_attempt / evaluate: a tool request is not an answer to score ------------------
def test_tool_calls_are_kept_on_the_attempt_and_only_a_tool_request_skips_the_evaluator() -> None:
    asked = ask(simple_graph(0.1, {"small": ToolCallingModel(answers=[""]), **scripted("large")}),
                **TIERS, threshold=0.5)  # fmt: skip
    [attempt] = asked["attempts"]
    assert attempt["tool_calls"][0]["name"] == "lookup"
    assert attempt["evaluator"] == "tool_calls" and attempt["confidence"] is None
    assert asked["decisions"][-1]["action"] == "accept"  # the agent runs the tools next
    assert [c["name"] for c in asked["messages"][-1].tool_calls] == ["lookup"]  # for the agent
    answered = ask(simple_graph(0.1), **TIERS, threshold=0.5)
    [plain] = answered["attempts"]
    assert "tool_calls" not in plain and plain["evaluator"] == "table"
    assert answered["messages"][-1].tool_calls == []


def test_an_evaluator_that_calls_no_model_adds_no_evaluation_cost() -> None:
    out = ask(simple_graph(0.1), **TIERS, threshold=0.5)
    assert "evaluation_cost_usd" not in out["attempts"][0]
    assert evaluation_usage(None, {}) == {}


# --- within_budget: the worst case against what is left --------------------------------------
def worst_case(model: str, question: str = "What is 2 + 2?", max_tokens: int = 256) -> float:
    prompt = conversation([HumanMessage(question)], RouteContext().max_input_tokens)
    return float(budget.worst_case_cost(CATALOG.get(model), prompt, max_tokens, None))


def test_a_model_whose_worst_case_is_exactly_the_budget_is_called() -> None:
    limit = worst_case("large")
    assert limit > worst_case("medium") > 0.0
    exact = ask(simple_graph(0.9), **TIERS, threshold=0.5, max_tokens=256, budget_usd=limit)
    assert exact["decisions"][0]["action"] == "route"
    assert trace(exact)["chosen_model"] == "large"
    below = ask(simple_graph(0.9), **TIERS, threshold=0.5, max_tokens=256,
                budget_usd=limit * 0.999)  # fmt: skip
    assert below["decisions"][0]["action"] == "downgrade"


@pytest.mark.parametrize("exactly", [False, True])
def test_a_downgrade_never_goes_back_to_a_model_that_already_failed(exactly: bool) -> None:
    """large is over budget, small (free) fails, so the next downgrade is to medium, not to
    small again; also when medium's worst case is exactly the budget (``exactly``)."""
    models = {"small": FailingChatModel(), **scripted("medium", "large")}
    graph = build_specialist_graph(
        models=models,
        router=RouterHandle(
            "fixed", FixedRouter({"small": 0.5, "medium": 0.6, "large": 0.9}), CATALOG
        ),
        evaluator=TableEvaluator({}, 0.9),
        catalog=CATALOG,
    )
    medium, large = worst_case("medium"), worst_case("large")
    budget_usd = medium if exactly else (medium + large) / 2
    out = ask(graph, **TIERS, cost_weight=0.0, max_tokens=256, budget_usd=budget_usd)
    assert [a["model"] for a in out["attempts"]] == ["small", "medium"]
    assert [d["action"] for d in out["decisions"]][:2] == ["downgrade", "downgrade"]
    assert trace(out)["chosen_model"] == "medium"


# --- explore: the extra call's step, cost and tokens -----------------------------------------
def test_an_explored_call_is_numbered_after_the_turns_calls_and_counts_its_tokens() -> None:
    graph = simple_graph(0.1).copy(update={"store": InMemoryStore()})
    pair = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
    out = ask(graph, **pair, threshold=0.5, explore=1.0)
    [record] = list(iter_outcomes(graph.store))
    first, extra = record["calls"]
    assert (first["model"], extra["model"]) == ("small", "large")
    assert extra["step"] == 2
    # small answered (local, 150 tokens), then large was explored (cloud, 150 tokens)
    assert (out["local_tokens"], out["remote_tokens"]) == (150, 150)


# --- guarded_evaluation / evaluation_usage: the judge is the model that served the answer ------
def test_a_fallbacks_answer_is_judged_by_the_fallback_and_its_judging_is_paid_for() -> None:
    """large (a provider nothing here can build) falls back to medium; self-consistency re-asks
    the model that served the answer (medium: two samples of 100 + 50 tokens at $1 / $2 per
    million = $0.0004), not the one that could not."""
    specs = dict(CATALOG.specs)
    specs["large"] = ModelSpec("large", "fake", "large", "cloud", 10.0, 30.0, fallback="medium")
    catalog = Catalog(specs, "tiny-with-fallback")
    medium = ScriptedChatModel(answers=["answer of medium"] * 10)
    graph = build_simple_graph(
        models={"small": ScriptedChatModel(answers=["s"]), "medium": medium},  # large: none
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, 0.9), catalog),
        catalog=catalog,
    )
    out = ask(graph, **TIERS, threshold=0.5, evaluator="self_consistency", samples=2)
    [attempt] = out["attempts"]
    assert attempt["served_by"] == "medium" and trace(out)["served_by"] == "medium"
    assert "failed" not in attempt["evaluation"], attempt["evaluation"]
    assert attempt["confidence"] == 1.0  # both samples agree with the answer
    assert medium.calls == 3  # the answer, then two samples
    assert attempt["evaluation_cost_usd"] == pytest.approx(2 * (100 * 1.0 + 50 * 2.0) / 1e6)
    assert out["cost_usd"] == pytest.approx(3 * (100 * 1.0 + 50 * 2.0) / 1e6)
    assert (out["local_tokens"], out["remote_tokens"]) == (0, 450)


def test_an_answer_served_after_a_failed_call_is_not_judged_by_the_model_that_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """large is a real OpenAI-compatible client on a port where nothing listens; its fallback
    medium answers. The judge must be medium: asking large again would fail the evaluation."""
    monkeypatch.setenv("ROUTEGRAPH_TEST_KEY", "sk-test")
    specs = dict(CATALOG.specs)
    specs["large"] = ModelSpec("large", "openai", "gpt-test", "cloud", 10.0, 30.0,
                               fallback="medium", base_url=f"http://127.0.0.1:{free_port()}/v1",
                               api_key_env="ROUTEGRAPH_TEST_KEY")  # fmt: skip
    catalog = Catalog(specs, "tiny-with-a-dead-endpoint")
    medium = ScriptedChatModel(answers=["answer of medium"] * 10)
    graph = build_simple_graph(
        models={"small": ScriptedChatModel(answers=["s"]), "medium": medium},
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, 0.9), catalog),
        catalog=catalog,
    )
    HEALTH.reset()
    try:
        out = ask(graph, **TIERS, threshold=0.5, evaluator="self_consistency", samples=2,
                  call_retries=0)  # fmt: skip
    finally:
        HEALTH.reset()
    [attempt] = out["attempts"]
    assert attempt["served_by"] == "medium" and attempt["faults"][0]["fault"] == "connection"
    assert "failed" not in attempt["evaluation"], attempt["evaluation"]
    assert attempt["confidence"] == 1.0 and medium.calls == 3


# --- route: steps, stops, the tool loop, the novelty note --------------------------------------
def test_steps_are_numbered_from_one_and_a_stop_records_no_router_columns() -> None:
    graph = build_simple_graph(
        models={"small": FailingChatModel(), **scripted("large")},
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, 0.1), CATALOG),
        evaluator=TableEvaluator({}, 0.9),
        catalog=CATALOG,
    )
    out = ask(graph, **TIERS, threshold=0.5)
    assert [d["step"] for d in out["decisions"]] == [1, 2, 2]
    assert [a["step"] for a in out["attempts"]] == [1, 2]
    assert out["decisions"][0]["router_columns"] == {"small": "small", "large": "large"}
    stopped = ask(graph, **TIERS, threshold=0.5, max_steps=1)  # small fails; no step left
    assert [d["action"] for d in stopped["decisions"]] == ["route", "stop"]
    assert "router_columns" not in stopped["decisions"][-1]


def test_a_tool_loop_stays_on_the_model_that_asked_for_the_tools_at_its_first_step() -> None:
    from langchain_core.messages import ToolMessage

    asked = AIMessage(
        "",
        tool_calls=[{"name": "lookup", "args": {}, "id": "c1", "type": "tool_call"}],
        response_metadata={"routegraph": {"chosen_model": "large"}},
    )
    messages = [HumanMessage("Look it up."), asked, ToolMessage("42", tool_call_id="c1")]
    graph = simple_graph(p_strong=0.1)  # the router alone would pick small
    out = dict(graph.invoke({"messages": messages}, context={**TIERS, "threshold": 0.5}))
    assert out["decisions"][0]["action"] == "stay"
    assert trace(out)["chosen_model"] == "large"


class NovelHandle(RouterHandle):
    """Reports every query as novel with a fixed fallback weight."""

    weight = 0.0

    def novelty(self, prompt: str) -> dict[str, Any] | None:
        return {"ood": 0.8, "fallback_weight": self.weight, "fallback": "prior"}


@pytest.mark.parametrize(("weight", "noted"), [(0.0, False), (0.4, True)])
def test_the_route_reason_mentions_the_fallback_only_when_it_had_a_say(
    weight: float, noted: bool
) -> None:
    handle = NovelHandle("fixed", FixedRouter({"small": 0.5, "medium": 0.6, "large": 0.9}),
                         CATALOG)  # fmt: skip
    handle.weight = weight
    graph = build_specialist_graph(models=scripted("small", "medium", "large"), router=handle,
                                   evaluator=TableEvaluator({}, 0.9), catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS, cost_weight=0.0)
    reason = out["decisions"][0]["reason"]
    assert ("unlike the router's training prompts" in reason) is noted, reason
    if noted:
        assert "novelty 0.80): 40% from its prior fallback" in reason


# --- answered_attempt: notes; evaluation_usage: a local judge's tokens ----------------------
def test_a_call_note_lands_on_the_attempt_and_a_call_without_notes_leaves_none() -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    noted = ask(simple_graph(0.1), **TIERS, threshold=0.5, tools=[tool])
    assert noted["attempts"][0]["note"] == "scripted cannot call tools; answered without them"
    plain = ask(simple_graph(0.1), **TIERS, threshold=0.5)
    assert "note" not in plain["attempts"][0]


def test_a_local_judges_tokens_are_local() -> None:
    small = ScriptedChatModel(answers=["answer of small"] * 10)
    graph = build_simple_graph(
        models={"small": small, **scripted("large")},
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, 0.1), CATALOG),
        catalog=CATALOG,
    )
    out = ask(graph, **TIERS, threshold=0.5, evaluator="self_consistency", samples=2)
    assert small.calls == 3
    assert (out["local_tokens"], out["remote_tokens"]) == (450, 0)
    assert out["attempts"][0]["evaluation_cost_usd"] == 0.0  # small is free


# --- the budget stop, at exactly the budget --------------------------------------------------
class NeverAsked:
    """A policy the route step must not consult (it stops first)."""

    name = "never-asked"

    def choose(self, *args: Any) -> Any:
        raise AssertionError("the route step asked the policy instead of stopping")


def test_a_run_that_has_spent_exactly_its_budget_stops() -> None:
    from langgraph.runtime import Runtime

    route = make_route_node(NeverAsked(), Toolkit(catalog=CATALOG))  # type: ignore[arg-type]
    ctx = RouteContext(budget_usd=0.25, **TIERS)
    state: Any = {"messages": [HumanMessage("Hi")], "attempts": [attempt(1, 0.2)],
                  "cost_usd": 0.25}  # fmt: skip
    command = route(state, Runtime(context=ctx))
    assert command.goto == "finalize"
    [record] = command.update["decisions"]
    assert record["action"] == "stop" and record["reason"].startswith("budget 0.25 USD reached")


# --- what the evaluator is shown ----------------------------------------------------------------
class Recording(TableEvaluator):
    """Confidence 1 for everything; keeps each reply message it was shown."""

    def __init__(self) -> None:
        super().__init__({}, 1.0)
        self.seen: list[tuple[str, Any]] = []

    def evaluate(self, item: Any) -> Any:
        self.seen.append((item.model, item.message))
        return super().evaluate(item)


def test_the_evaluator_sees_the_reply_it_judges_the_answer_and_the_explored_one() -> None:
    evaluator = Recording()
    graph = build_simple_graph(
        models=scripted("small", "large"),
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, 0.1), CATALOG),
        evaluator=evaluator,
        catalog=CATALOG,
    ).copy(update={"store": InMemoryStore()})
    pair = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
    ask(graph, **pair, threshold=0.5, explore=1.0)
    assert [(m, msg.content) for m, msg in evaluator.seen] == [
        ("small", "answer of small"),
        ("large", "answer of large"),
    ]


# --- exploration: its judge's budget, cost and tokens --------------------------------------------
PAIR: dict[str, Any] = {"weak_model": "small", "strong_model": "large",
                        "models": ["small", "large"]}  # fmt: skip
LARGE_CALL = (100 * 10.0 + 50 * 30.0) / 1e6  # $0.0025


def explore_graph(p_strong: float) -> Any:
    return build_simple_graph(
        models=scripted("small", "large"),
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, p_strong), CATALOG),
        catalog=CATALOG,
    ).copy(update={"store": InMemoryStore()})


def test_an_explored_answers_judging_is_paid_for_and_counted_in_its_tokens() -> None:
    graph = explore_graph(0.1)  # small answers; large is explored, judged by itself
    out = ask(graph, **PAIR, threshold=0.5, explore=1.0, evaluator="self_consistency",
              samples=2, max_tokens=256)  # fmt: skip
    assert trace(out)["explored"]["cost_usd"] == pytest.approx(3 * LARGE_CALL)
    assert out["cost_usd"] == pytest.approx(3 * LARGE_CALL)  # small is free
    assert (out["local_tokens"], out["remote_tokens"]) == (450, 450)
    [record] = list(iter_outcomes(graph.store))
    assert record["cost_usd"] == pytest.approx(3 * LARGE_CALL)


def test_a_local_explored_answers_judging_counts_local_tokens() -> None:
    out = ask(explore_graph(0.9), **PAIR, threshold=0.5, explore=1.0,
              evaluator="self_consistency", samples=2, max_tokens=256)  # fmt: skip
    assert trace(out)["chosen_model"] == "large" and trace(out)["explored"]["model"] == "small"
    assert (out["local_tokens"], out["remote_tokens"]) == (450, 450)


def test_an_explored_answers_judge_gets_only_what_the_explored_call_left() -> None:
    """The budget covers large's call (worst case) but not, after paying for it, a judging
    call's worst case as well: the explored answer cannot be judged (confidence 0)."""
    budget_usd = worst_case("large") + LARGE_CALL / 2
    graph = explore_graph(0.1)
    ask(graph, **PAIR, threshold=0.5, explore=1.0, evaluator="self_consistency", samples=2,
        max_tokens=256, budget_usd=budget_usd)  # fmt: skip
    [record] = list(iter_outcomes(graph.store))
    explored = record["calls"][1]
    assert explored["model"] == "large" and explored["confidence"] == 0.0


def test_an_outcome_record_that_cannot_be_built_never_costs_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from routegraph.nodes import steps

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("no record today")

    monkeypatch.setattr(steps, "outcome_record", broken)
    graph = explore_graph(0.1)
    out = ask(graph, **PAIR, threshold=0.5)
    assert out["messages"][-1].content == "answer of small"
    assert "outcome_id" not in trace(out) and list(iter_outcomes(graph.store)) == []


# --- finalize: what the final message says ------------------------------------------------------
def test_no_answer_lists_every_reason_and_a_second_turn_is_turn_two() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    dead = simple_graph(0.1, {"small": FailingChatModel(), "large": FailingChatModel()})
    out = ask(dead, **TIERS, threshold=0.5)
    content = out["messages"][-1].content
    assert content.startswith("No model could answer: small is not available")
    assert "large is not available" in content
    threaded = simple_graph(0.1).copy(update={"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": "t"}}
    for question, turn in (("What is 2 + 2?", 1), ("And 3 + 3?", 2)):
        state = threaded.invoke({"messages": [HumanMessage(question)]}, config,
                                context={**TIERS, "threshold": 0.5})  # fmt: skip
        assert trace(state)["turn"] == turn
        final = state["messages"][-1]
        assert final.usage_metadata["total_tokens"] == 150
        assert final.response_metadata["model_name"] == "small"


def test_the_final_message_names_the_model_that_served_it() -> None:
    specs = dict(CATALOG.specs)
    specs["large"] = ModelSpec("large", "fake", "large", "cloud", 10.0, 30.0, fallback="medium")
    catalog = Catalog(specs, "tiny-with-fallback")
    graph = build_simple_graph(
        models={"small": ScriptedChatModel(answers=["s"]), **scripted("medium")},
        router=RouterHandle("fixed", FixedRouter({"small": 0.4, "large": 0.9}, 0.9), catalog),
        evaluator=TableEvaluator({}, 0.9),
        catalog=catalog,
    )
    out = ask(graph, **TIERS, threshold=0.5)
    assert trace(out)["chosen_model"] == "large"
    assert out["messages"][-1].response_metadata["model_name"] == "medium"


def test_evaluator_details_are_made_json_safe() -> None:
    import numpy as np

    from routegraph.nodes.steps import _plain

    plain = _plain({"a": np.int64(3), 1: [np.float32(0.5), (np.bool_(True),)]})
    assert plain == {"a": 3, "1": [0.5, [True]]}
    assert type(plain["a"]) is int and type(plain["1"][0]) is float

"""Budgets and step limits are caps, for every loop graph, whatever the catalog, prices,
confidences, faults and evaluators (property-based, with ``hypothesis``).

Fake chat models are fine here: this is branch logic. What makes it honest is that the fakes
report usage the way providers do: never more input tokens than the prompt can hold, never more
output tokens than ``max_tokens``. Given that, no run may spend more than ``budget_usd``, make
more than ``max_steps`` calls, or end without an answer when one was given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.providers.result import chat_result
from routegraph.evaluators.self_consistency import SelfConsistency
from routegraph.evaluators.self_eval import SelfEvaluation
from routegraph.graphs.cascade import build_cascade_graph
from routegraph.graphs.cascade_routing import build_cascade_routing_graph
from routegraph.graphs.hybrid import build_hybrid_graph
from routegraph.graphs.minions import build_minions_graph
from routegraph.graphs.simple import build_simple_graph
from routegraph.graphs.specialist import build_specialist_graph
from routegraph.nodes import calls
from routegraph.nodes.budget import prompt_token_bound, worst_case_cost
from routegraph.nodes.routing import RouterHandle
from routegraph.routers.heuristic import HeuristicRouter
from tests.fakes import ScriptedChatModel, TableEvaluator

GRAPHS = {
    "simple": build_simple_graph,
    "specialist": build_specialist_graph,
    "hybrid": build_hybrid_graph,
    "cascade": build_cascade_graph,
    "cascade_routing": build_cascade_routing_graph,
    "minions": build_minions_graph,
}
FAULTS = {
    "connection": ConnectionError("connection refused"),
    "timeout": TimeoutError("read timed out"),
    "server_error": type("InternalServerError", (Exception,), {"status_code": 500})("boom"),
}


class UsageChatModel(BaseChatModel):
    """Answers with a fixed text, reporting usage a provider could: input tokens a fraction of
    the prompt's bound, output tokens at most ``max_tokens``; fails on the calls listed."""

    answer: str
    input_share: float
    output_tokens: int
    fail_on: list[int] = []
    fault: str = "connection"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "usage-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        if self.calls in self.fail_on:
            raise FAULTS[self.fault]
        input_tokens = int(prompt_token_bound(messages) * self.input_share)
        return chat_result(self.answer, input_tokens, self.output_tokens, {"source": "live"})


class FixedRouter(HeuristicRouter):
    kind = "fixed"

    def __init__(self, quality: dict[str, float], p_strong: float):
        super().__init__(list(quality))
        self.quality = quality
        self.p_strong = p_strong

    def predict_quality(self, prompts: list[str]) -> Any:
        return np.array([[self.quality[m] for m in self.models_] for _ in prompts])

    def strong_probability(self, prompts: list[str], strong: Any = None, weak: Any = None) -> Any:
        return np.full(len(prompts), self.p_strong)


prices = st.floats(min_value=0.0, max_value=60.0, allow_nan=False)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(min_value=2, max_value=4))
    names = [f"m{i}" for i in range(n)]
    max_tokens = draw(st.integers(min_value=1, max_value=512))
    specs, models, confidences = {}, {}, {}
    for i, name in enumerate(names):
        tier = "local" if i == 0 and draw(st.booleans()) else "cloud"
        specs[name] = ModelSpec(name, "fake", name, tier, draw(prices), draw(prices))
        answer = draw(st.sampled_from(["4", "The answer is 4.", "5", "I think 3"]))
        models[name] = UsageChatModel(
            answer=answer,
            input_share=draw(unit),
            output_tokens=draw(st.integers(min_value=0, max_value=max_tokens)),
            fail_on=draw(st.lists(st.integers(min_value=1, max_value=6), max_size=4)),
            fault=draw(st.sampled_from(sorted(FAULTS))),
        )
        confidences[name] = draw(unit)
    return {
        "graph": draw(st.sampled_from(sorted(GRAPHS))),
        "catalog": Catalog(specs, "hypothesis"),
        "models": models,
        "confidences": confidences,
        "quality": {name: draw(unit) for name in names},
        "p_strong": draw(unit),
        "evaluator": draw(st.sampled_from(["table", "self_eval", "self_consistency"])),
        "question": draw(st.sampled_from(["What is 2 + 2?", "Prove it. " * 30, "x"])),
        "context": {
            "models": names,
            "weak_model": names[0],
            "strong_model": names[-1],
            "max_steps": draw(st.integers(min_value=1, max_value=5)),
            "budget_usd": draw(st.floats(min_value=0.0, max_value=0.02, allow_nan=False)),
            "max_tokens": max_tokens,
            "confidence_threshold": draw(unit),
            "threshold": draw(unit),
            "samples": draw(st.integers(min_value=1, max_value=3)),
            "call_retries": draw(st.integers(min_value=0, max_value=2)),
            "router": "heuristic",
            "max_rounds": draw(st.integers(min_value=1, max_value=3)),
            "max_subtasks": draw(st.integers(min_value=1, max_value=4)),
        },
        "document": draw(st.sampled_from([None, "Revenue was 4.\n\nCosts were 2.\n\n" * 3])),
    }


def evaluator_for(scenario: dict[str, Any]) -> Any:
    kind = scenario["evaluator"]
    if kind == "table":
        return TableEvaluator(scenario["confidences"])
    return None  # the context's evaluator, built on the (metered) answering model


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "sleep", lambda seconds: None)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_no_graph_exceeds_budget_or_max_steps(scenario: dict[str, Any]) -> None:
    ctx = dict(scenario["context"])
    if scenario["evaluator"] != "table":
        ctx["evaluator"] = scenario["evaluator"]
    graph = GRAPHS[scenario["graph"]](
        models=scenario["models"],
        router=RouterHandle(
            "fixed", FixedRouter(scenario["quality"], scenario["p_strong"]), scenario["catalog"]
        ),
        evaluator=evaluator_for(scenario),
        catalog=scenario["catalog"],
    )
    inputs: dict[str, Any] = {"messages": [HumanMessage(scenario["question"])]}
    if scenario["graph"] == "minions" and scenario["document"]:
        inputs["document"] = scenario["document"]
    out = graph.invoke(inputs, context=ctx)

    attempts = out["attempts"]
    budget = ctx["budget_usd"]
    assert out["cost_usd"] <= budget + 1e-12, (out["cost_usd"], budget, out["decisions"])
    minions = scenario["graph"] == "minions"
    assert len(attempts) <= (ctx["max_rounds"] if minions else ctx["max_steps"])
    calls_made = sum(m.calls for m in scenario["models"].values())
    evaluation = sum(a.get("evaluation_cost_usd", 0.0) for a in attempts)
    if not minions:  # (MinionS also pays for its decomposition and its workers)
        assert out["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts) + evaluation)
    if scenario["evaluator"] == "table" and not minions:  # every call: an answer or a fault
        failed_tries = [f for a in attempts for f in a.get("faults", []) if f["fault"] in FAULTS]
        answered_calls = [a for a in attempts if a["source"] != "unavailable"]
        assert calls_made == len(answered_calls) + len(failed_tries)
        assert calls_made <= ctx["max_steps"] * (ctx["call_retries"] + 1)

    final = out["messages"][-1]
    assert isinstance(final, AIMessage)
    meta = final.response_metadata["routegraph"]
    assert meta["cost_usd"] == pytest.approx(out["cost_usd"], abs=1e-8)
    answered = [a for a in attempts if a["source"] != "unavailable"]
    if answered:  # a stopped run still returns the best answer it has, and says why
        assert final.text in {a["answer"] for a in answered}
        assert meta["chosen_model"] in {a["model"] for a in answered}
    else:
        assert final.text.startswith("No model could answer")
    last = out["decisions"][-1]
    assert last["action"] in {"accept", "stop"}
    if last["action"] == "stop":
        assert last["reason"]


# --- the cap, shown on plain examples -----------------------------------------------------
def priced_catalog() -> Catalog:
    return Catalog(
        {
            "free": ModelSpec("free", "fake", "free", "local", 0.0, 0.0),
            "pricey": ModelSpec("pricey", "fake", "pricey", "cloud", 10.0, 30.0),
        },
        "priced",
    )


BASE = {"models": ["free", "pricey"], "weak_model": "free", "strong_model": "pricey"}


def test_a_call_that_could_overrun_is_not_made_and_the_reason_is_given() -> None:
    pricey = ScriptedChatModel(answers=["42"])
    graph = build_cascade_graph(
        models={"free": ScriptedChatModel(answers=["41"]), "pricey": pricey},
        evaluator=TableEvaluator({"free": 0.1}),
        catalog=priced_catalog(),
    )
    worst = worst_case_cost(priced_catalog().get("pricey"), [HumanMessage("Q?")], 256)
    out = graph.invoke(
        {"messages": [HumanMessage("Q?")]}, context={**BASE, "budget_usd": worst * 0.99}
    )
    assert pricey.calls == 0
    stop = out["decisions"][-1]
    assert stop["action"] == "stop" and stop["reason"].startswith("budget: pricey could cost")
    assert out["messages"][-1].text == "41" and out["cost_usd"] == 0.0

    enough = build_cascade_graph(
        models={"free": ScriptedChatModel(answers=["41"]), "pricey": pricey},
        evaluator=TableEvaluator({"free": 0.1}),
        catalog=priced_catalog(),
    ).invoke({"messages": [HumanMessage("Q?")]}, context={**BASE, "budget_usd": worst})
    assert pricey.calls == 1 and enough["messages"][-1].text == "42"


def test_a_cheaper_model_is_called_when_the_chosen_one_could_overrun() -> None:
    pricey = ScriptedChatModel(answers=["42"])
    graph = build_simple_graph(
        models={"free": ScriptedChatModel(answers=["41"]), "pricey": pricey},
        router=RouterHandle(
            "fixed", FixedRouter({"free": 0.1, "pricey": 0.9}, 0.99), priced_catalog()
        ),
        evaluator=TableEvaluator({}, 1.0),
        catalog=priced_catalog(),
    )
    out = graph.invoke({"messages": [HumanMessage("Q?")]}, context={**BASE, "budget_usd": 1e-6})
    assert pricey.calls == 0
    assert out["decisions"][0]["action"] == "downgrade"
    assert "free fits" in out["decisions"][0]["reason"]
    assert out["messages"][-1].text == "41"


class RatingModel(ScriptedChatModel):
    """Answers questions with ``answers`` and grading prompts with a rating."""

    rating: str = "5"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if "Rate how likely" in messages[-1].text:
            self.calls += 1
            return chat_result(self.rating, self.input_tokens, 1, {"source": "live"})
        return super()._generate(messages, *args, **kwargs)


@pytest.mark.parametrize("evaluator", ["self_eval", "self_consistency"])
def test_evaluator_calls_count_in_the_run_cost(evaluator: str) -> None:
    judge = RatingModel(answers=["4"], input_tokens=10, output_tokens=5)
    graph = build_cascade_graph(models={"pricey": judge}, catalog=priced_catalog())
    out = graph.invoke(
        {"messages": [HumanMessage("What is 2 + 2?")]},
        context={**BASE, "models": ["pricey"], "evaluator": evaluator, "samples": 2},
    )
    [attempt] = out["attempts"]
    spec = priced_catalog().get("pricey")
    extra_calls = 1 if evaluator == "self_eval" else 2
    assert judge.calls == 1 + extra_calls
    answer_cost = spec.cost(10, 5)
    judge_cost = spec.cost(10, 1) if evaluator == "self_eval" else 2 * spec.cost(10, 5)
    assert attempt["cost_usd"] == pytest.approx(answer_cost)
    assert attempt["evaluation_cost_usd"] == pytest.approx(judge_cost)
    assert out["cost_usd"] == pytest.approx(answer_cost + judge_cost)
    assert out["messages"][-1].response_metadata["routegraph"]["cost_usd"] == pytest.approx(
        answer_cost + judge_cost
    )


def test_an_evaluator_call_that_could_overrun_is_not_made() -> None:
    judge = RatingModel(answers=["4"], input_tokens=10, output_tokens=5)
    spec = priced_catalog().get("pricey")
    answer_worst = worst_case_cost(spec, [HumanMessage("What is 2 + 2?")], 256)
    graph = build_cascade_graph(models={"pricey": judge}, catalog=priced_catalog())
    budget = answer_worst * 1.01  # room for the answer, not for a rating of it
    out = graph.invoke(
        {"messages": [HumanMessage("What is 2 + 2?")]},
        context={**BASE, "models": ["pricey"], "evaluator": "self_eval", "budget_usd": budget},
    )
    [attempt] = out["attempts"]
    assert judge.calls == 1  # the answer only
    assert attempt["confidence"] == 0.0
    assert attempt["evaluation"]["failed"] and "budget" in attempt["evaluation"]["reason"]
    assert out["cost_usd"] <= budget
    assert out["messages"][-1].text == "4"


def test_self_evaluators_are_built_on_the_metered_model() -> None:
    """Guard against a refactor that hands evaluators the bare model (their calls unpriced)."""
    from routegraph.evaluators.registry import make_evaluator
    from routegraph.nodes.metered import MeteredChatModel

    metered = MeteredChatModel(
        inner=ScriptedChatModel(answers=["3"]), spec=priced_catalog().get("pricey"), budget_left=1
    )
    assert isinstance(make_evaluator("self_eval", metered), SelfEvaluation)
    assert make_evaluator("self_eval", metered).judge is metered  # type: ignore[attr-defined]
    assert isinstance(make_evaluator("self_consistency", metered), SelfConsistency)

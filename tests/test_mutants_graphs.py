"""The graphs' own rules (``graphs/``), pinned on both sides where the branch tests do not.

Written after the mutation run on ``graphs/`` (``mutation/graphs.toml``): the cascade's tier
numbering and its last tier, the hybrid graph's local re-route when the cloud is down, the
specialist's quality floor at exactly the floor, and cascade routing's planner (the greedy
limit past 12 candidates, a plan's gain, the steps left when judging, ``min_gain``, the answer
kept when a step is accepted without priors). Fake models: branch logic only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from routegraph.core.context import RouteContext
from routegraph.graphs.cascade import build_cascade_graph
from routegraph.graphs.cascade_routing import (
    MAX_ENUMERATED,
    CascadeRoutingPolicy,
    Plan,
    build_cascade_routing_graph,
    plan,
)
from routegraph.graphs.hybrid import build_hybrid_graph
from routegraph.graphs.specialist import build_specialist_graph
from routegraph.nodes.routing import RouterHandle
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator, tiny_catalog
from tests.test_graph_branches import FixedRouter

CATALOG = tiny_catalog()
TIERS: dict[str, Any] = {
    "weak_model": "small",
    "strong_model": "large",
    "models": ["small", "medium", "large"],
}


def scripted(*names: str) -> dict[str, Any]:
    return {n: ScriptedChatModel(answers=[f"answer of {n}"] * 10) for n in names}


def ask(graph: Any, **context: Any) -> dict[str, Any]:
    return dict(graph.invoke({"messages": [HumanMessage("What is 2 + 2?")]}, context=context))


def actions(out: dict[str, Any]) -> list[str]:
    return [d["action"] for d in out["decisions"]]


def handle(quality: dict[str, float], p_strong: float = 0.5) -> RouterHandle:
    return RouterHandle("fixed", FixedRouter(quality, p_strong), CATALOG)


# --- cascade --------------------------------------------------------------------------------
def test_cascade_tiers_are_numbered_from_one_and_the_last_tier_is_taken_as_it_is() -> None:
    graph = build_cascade_graph(models=scripted("small", "medium", "large"),
                                evaluator=TableEvaluator({}, 0.1), catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS)
    reasons = [d["reason"] for d in out["decisions"] if d["action"] in ("route", "cascade")]
    assert reasons == ["tier 1 of 3", "tier 2 of 3", "tier 3 of 3"]
    assert actions(out)[-1] == "accept" and out["decisions"][-1]["reason"] == "last tier"
    assert out["messages"][-1].content == "answer of large"


# --- hybrid -----------------------------------------------------------------------------------
def test_hybrid_answers_locally_when_the_cloud_it_chose_is_down() -> None:
    graph = build_hybrid_graph(
        models={"small": ScriptedChatModel(answers=["local answer"]), "large": FailingChatModel()},
        router=handle({"small": 0.5, "large": 0.9}, p_strong=0.9),
        evaluator=TableEvaluator({"small": 0.9}),
        catalog=CATALOG,
    )
    out = ask(graph, **TIERS)
    assert [a["model"] for a in out["attempts"]] == ["large", "small"]
    assert actions(out)[:2] == ["route", "re-route"]
    assert out["messages"][-1].content == "local answer"


# --- specialist -------------------------------------------------------------------------------
@pytest.mark.parametrize(("floor", "pick"), [(0.60, "small"), (0.6001, "medium")])
def test_a_model_predicted_exactly_at_the_quality_floor_reaches_it(floor: float, pick: str) -> None:
    graph = build_specialist_graph(models=scripted("small", "medium", "large"),
                                   router=handle({"small": 0.60, "medium": 0.80, "large": 0.82}),
                                   evaluator=TableEvaluator({}, 0.9), catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS, quality_floor=floor)
    assert out["attempts"][0]["model"] == pick


# --- cascade routing: the planner -------------------------------------------------------------
def candidates(n: int) -> tuple[dict[str, float], dict[str, float]]:
    """n untried models of prior 0.5 at a small cost each: calling two beats calling one."""
    names = [f"m{i:02d}" for i in range(n)]
    return {m: 0.5 for m in names}, {m: 0.01 for m in names}


def test_up_to_twelve_candidates_are_planned_in_groups_and_more_one_at_a_time() -> None:
    assert MAX_ENUMERATED == 12
    priors, costs = candidates(12)
    assert len(plan(None, priors, costs, {}, 2).models) == 2
    priors, costs = candidates(13)
    greedy = plan(None, priors, costs, {}, 2)
    assert len(greedy.models) == 1 and greedy.value == pytest.approx(0.5 - 0.01)


def test_a_plans_gain_is_its_value_over_stopping_and_a_plan_is_a_value() -> None:
    result = Plan(("a",), 0.7, 0.5)
    assert result.gain == pytest.approx(0.2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = 0.9  # type: ignore[misc]


def routing_graph(confidence: dict[str, float]) -> Any:
    return build_cascade_routing_graph(
        models=scripted("small", "medium", "large"),
        router=handle({"small": 0.5, "medium": 0.6, "large": 0.7}),
        evaluator=TableEvaluator(confidence),
        catalog=CATALOG,
    )


def test_judging_an_answer_counts_only_the_steps_left_after_it() -> None:
    """Two steps: after the second answer no call is left, so it is accepted (or the earlier
    one stands) rather than escalated towards a third call that max_steps forbids."""
    out = ask(routing_graph({"small": 0.0, "medium": 0.0, "large": 0.0}), **TIERS,
              cost_weight=0.0, max_steps=2)  # fmt: skip
    evaluations = [d for d in out["decisions"] if d["router"] == ""]
    assert len(out["attempts"]) == 2
    assert evaluations[0]["action"] == "escalate"
    assert evaluations[1]["action"] == "accept", out["decisions"]


def test_an_answer_is_accepted_when_the_best_plan_gains_no_more_than_min_gain() -> None:
    out = ask(routing_graph({"small": 0.9, "medium": 0.9, "large": 0.9}), **TIERS,
              cost_weight=0.0, min_gain=0.5)  # fmt: skip
    evaluation = next(d for d in out["decisions"] if d["router"] == "")
    assert evaluation["action"] == "accept"
    assert "(confidence 0.900)" in evaluation["reason"]


def test_an_answer_accepted_without_priors_is_the_one_returned() -> None:
    """A tool-loop step has no router priors for its model: it is accepted on its confidence,
    and select returns it even though an earlier answer had a higher estimate."""
    policy = CascadeRoutingPolicy()
    ctx = RouteContext(**TIERS)
    earlier = {"step": 1, "model": "small", "answer": "a", "confidence": 0.9, "source": "live"}
    later = {"step": 2, "model": "helper", "answer": "b", "confidence": 0.6, "source": "live"}
    state: Any = {
        "messages": [HumanMessage("q"), AIMessage("a")],
        "attempts": [earlier, later],
        "decisions": [
            {"action": "route", "scores": {"small": 0.5, "medium": 0.6, "large": 0.7}},
            {"action": "escalate", "scores": {}},
            {"action": "stay", "scores": {}},
            {"action": "accept", "scores": {}},
        ],
    }
    chosen = policy.select(state, ctx)
    assert chosen is not None and chosen["answer"] == "b"
    state["decisions"][-1] = {"action": "escalate", "scores": {}}
    best = policy.select(state, ctx)
    assert best is not None and best["answer"] == "a"  # not accepted: the best estimate wins


# --- simple -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("p_strong", "reason"), [
    (0.9, "P(strong needed)=0.900 >= threshold 0.5"),
    (0.1, "P(strong needed)=0.100 < threshold 0.5"),
])  # fmt: skip
def test_the_simple_routers_reason_states_the_comparison(p_strong: float, reason: str) -> None:
    from routegraph.graphs.simple import build_simple_graph

    graph = build_simple_graph(models=scripted("small", "large"),
                               router=handle({"small": 0.5, "large": 0.9}, p_strong),
                               evaluator=TableEvaluator({}, 0.9), catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS, threshold=0.5)
    assert out["decisions"][0]["reason"] == reason

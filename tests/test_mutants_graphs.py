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


@pytest.mark.parametrize("graph_id", ["hybrid", "simple"])
def test_a_query_exactly_at_the_threshold_goes_to_the_strong_model(graph_id: str) -> None:
    from routegraph.graphs.registry import build_graph

    graph = build_graph(graph_id, models=scripted("small", "large"),
                        router=handle({"small": 0.5, "large": 0.9}, p_strong=0.5),
                        evaluator=TableEvaluator({}, 0.9), catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS, threshold=0.5)
    assert out["attempts"][0]["model"] == "large"


def test_the_registry_builds_every_listed_graph_and_names_the_field_for_others() -> None:
    from routegraph.core.errors import InvalidInputError
    from routegraph.graphs.registry import GRAPH_IDS, build_graph

    assert GRAPH_IDS == ("simple", "specialist", "hybrid", "cascade", "cascade_routing",
                         "minions")  # fmt: skip
    for graph_id in GRAPH_IDS:
        assert build_graph(graph_id, catalog=CATALOG) is not None
    with pytest.raises(InvalidInputError) as refused:
        build_graph("nope")
    assert refused.value.field == "graph"


# --- hybrid: when both models are down; its reasons ------------------------------------------
def test_hybrid_with_both_models_down_stops_after_one_try_of_each() -> None:
    graph = build_hybrid_graph(models={"small": FailingChatModel(), "large": FailingChatModel()},
                               router=handle({"small": 0.5, "large": 0.9}, p_strong=0.1),
                               evaluator=TableEvaluator({}, 0.9), catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS)
    assert [a["model"] for a in out["attempts"]] == ["small", "large"]
    assert out["decisions"][-1]["action"] == "stop"
    assert out["decisions"][-1]["reason"] == "no model left to try"


@pytest.mark.parametrize(("confidence", "reason"), [(0.9, "confidence 0.900 >= 0.7"),
                                                    (0.7, "confidence 0.700 >= 0.7"),
                                                    (0.5, "confidence 0.500 < 0.7")])  # fmt: skip
def test_hybrid_states_its_confidence_test(confidence: float, reason: str) -> None:
    graph = build_hybrid_graph(models=scripted("small", "large"),
                               router=handle({"small": 0.5, "large": 0.9}, p_strong=0.1),
                               evaluator=TableEvaluator({"small": confidence, "large": 0.9}),
                               catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS, confidence_threshold=0.7)
    assert out["decisions"][1]["reason"] == reason


# --- cascade routing: stopping at exactly min_gain, steps left, judging without priors ---------
def policy_kit(quality: dict[str, float]) -> Any:
    from routegraph.nodes.resources import Toolkit

    return Toolkit(router=handle(quality), catalog=CATALOG)


def answered_state(confidence: float) -> Any:
    small = {"step": 1, "model": "small", "answer": "a", "confidence": confidence,
             "source": "live"}  # fmt: skip
    return {"messages": [HumanMessage("q")], "attempts": [small], "decisions": []}


@pytest.mark.parametrize(("min_gain", "action"), [(0.25, "stop"), (0.2499, "re-route")])
def test_cascade_routing_stops_when_the_best_plan_gains_exactly_min_gain(
    min_gain: float, action: str
) -> None:
    """An answer in hand estimated 0.5; one free model left with prior 0.5 and a verdict that
    settles its quality (resolution 1): E[max(0.5, X)] = 0.5 x 0.5 + 0.5 x 1 = 0.75, a gain
    of exactly 0.25 (all binary fractions)."""
    ctx = RouteContext(models=["small", "large"], weak_model="small", strong_model="large",
                       cost_weight=0.0, min_gain=min_gain)  # fmt: skip
    kit = policy_kit({"small": 0.5, "large": 0.5})
    choice = CascadeRoutingPolicy().choose(answered_state(0.5), ctx, kit, "q")
    assert choice.action == action
    if action == "stop":
        assert choice.reason == (
            "best plan ['large'] gains 0.250 <= min_gain 0.25 over the best answer so far (0.500)"
        )


def test_cascade_routing_plans_with_the_steps_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """One step left after one: a plan of one call (large, alone worth 0.9 - 0.2), not the
    two-call plan (medium first, then large) that more steps would allow."""
    from routegraph.graphs import cascade_routing

    ctx = RouteContext(models=["small", "medium", "large"], weak_model="small",
                       strong_model="large", max_steps=2)  # fmt: skip
    unavailable = {"step": 1, "model": "small", "answer": "", "confidence": None,
                   "source": "unavailable"}  # fmt: skip
    state: Any = {"messages": [HumanMessage("q")], "attempts": [unavailable], "decisions": []}
    kit = policy_kit({"small": 0.1, "medium": 0.55, "large": 0.9})
    costs = {"small": 0.0, "medium": 0.01, "large": 0.2}
    monkeypatch.setattr(cascade_routing, "planning_costs", lambda *a, **k: (costs, "test"))
    assert CascadeRoutingPolicy().choose(state, ctx, kit, "q").model == "large"
    more = dataclasses.replace(ctx, max_steps=3)
    assert CascadeRoutingPolicy().choose(state, more, kit, "q").model == "medium"


@pytest.mark.parametrize(("confidence", "ok"), [(0.7, True), (0.6999, False)])
def test_a_step_without_priors_is_accepted_at_exactly_the_confidence_threshold(
    confidence: float, ok: bool
) -> None:
    ctx = RouteContext(**TIERS, confidence_threshold=0.7)
    state: Any = {"messages": [HumanMessage("q")], "attempts": [], "decisions": []}
    helper = {"step": 1, "model": "helper", "answer": "b", "confidence": confidence,
              "source": "live"}  # fmt: skip
    accepted, reason = CascadeRoutingPolicy().accept(state, ctx, helper)  # type: ignore[arg-type]
    assert accepted is ok
    assert reason == f"confidence {confidence:.3f} {'>=' if ok else '<'} 0.7"


def test_quality_estimates_skip_unavailable_attempts_and_keep_the_rest() -> None:
    from routegraph.graphs.cascade_routing import quality_estimates

    attempts: Any = [
        {"step": 1, "model": "small", "confidence": None, "source": "unavailable"},
        {"step": 2, "model": "medium", "confidence": 0.8, "source": "live"},
    ]
    estimates = quality_estimates(attempts, RouteContext(**TIERS), {"medium": 0.4})
    assert estimates == {"medium": pytest.approx(0.8)}  # resolution 1: the verdict alone


@pytest.mark.parametrize(("p_strong", "reason"), [
    (0.9, "hard query: P(cloud needed)=0.900 >= 0.5"),
    (0.1, "easy query: P(cloud needed)=0.100 < 0.5"),
])  # fmt: skip
def test_hybrid_states_its_routing_test(p_strong: float, reason: str) -> None:
    graph = build_hybrid_graph(models=scripted("small", "large"),
                               router=handle({"small": 0.5, "large": 0.9}, p_strong=p_strong),
                               evaluator=TableEvaluator({}, 0.9), catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS, threshold=0.5)
    assert out["decisions"][0]["reason"].startswith(reason), out["decisions"][0]["reason"]


@pytest.mark.parametrize(("min_gain", "accepted"), [(0.25, True), (0.2499, False)])
def test_cascade_routing_accepts_when_a_further_call_gains_exactly_min_gain(
    min_gain: float, accepted: bool
) -> None:
    """The route step recorded priors 0.5 and free costs; small answered with confidence 0.5:
    calling large gains exactly 0.25 (see the stop test above)."""
    ctx = RouteContext(models=["small", "large"], weak_model="small", strong_model="large",
                       cost_weight=0.0, min_gain=min_gain)  # fmt: skip
    scores = {"small": 0.5, "large": 0.5, "cost:small": 0.0, "cost:large": 0.0}
    state: Any = {"messages": [HumanMessage("q")], "attempts": [],
                  "decisions": [{"action": "route", "scores": scores}]}  # fmt: skip
    small = {"step": 1, "model": "small", "answer": "a", "confidence": 0.5, "source": "live"}
    ok, _ = CascadeRoutingPolicy().accept(state, ctx, small)  # type: ignore[arg-type]
    assert ok is accepted


@pytest.mark.parametrize(("confidence", "accepted"), [(0.7, True), (0.6999, False)])
def test_a_cascade_tier_accepts_at_exactly_its_threshold(confidence: float, accepted: bool) -> None:
    graph = build_cascade_graph(models=scripted("small", "medium", "large"),
                                evaluator=TableEvaluator({"small": confidence}, 0.9),
                                catalog=CATALOG)  # fmt: skip
    out = ask(graph, **TIERS, confidence_threshold=0.7)
    first = out["decisions"][1]  # route to tier 1, then the verdict on its answer
    assert first["action"] == ("accept" if accepted else "escalate")
    sign = ">=" if accepted else "<"
    assert first["reason"].startswith(f"confidence {confidence:.3f} {sign} tier threshold")

"""Every branch of every graph, with fake chat models (branch logic only, no quality claims)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from routegraph.core.errors import InvalidInputError
from routegraph.graphs.cascade import build_cascade_graph
from routegraph.graphs.cascade_routing import (
    build_cascade_routing_graph,
    expected_best,
    outcomes,
    plan,
)
from routegraph.graphs.hybrid import build_hybrid_graph
from routegraph.graphs.minions import build_minions_graph
from routegraph.graphs.simple import build_simple_graph
from routegraph.graphs.specialist import build_specialist_graph
from routegraph.nodes.routing import RouterHandle
from routegraph.routers.heuristic import HeuristicRouter
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator, tiny_catalog

CATALOG = tiny_catalog()


class FixedRouter(HeuristicRouter):
    """Returns fixed predicted qualities and P(strong)."""

    kind = "fixed"

    def __init__(self, quality: dict[str, float], p_strong: float = 0.5):
        super().__init__(list(quality))
        self.quality = quality
        self.p_strong = p_strong

    def predict_quality(self, prompts: list[str]) -> Any:
        import numpy as np

        return np.array([[self.quality[m] for m in self.models_] for _ in prompts])

    def strong_probability(
        self, prompts: list[str], strong: str | None = None, weak: str | None = None
    ) -> Any:
        import numpy as np

        return np.full(len(prompts), self.p_strong)


def fakes(**answers: str) -> dict[str, ScriptedChatModel]:
    return {name: ScriptedChatModel(answers=[text]) for name, text in answers.items()}


def handle(router: HeuristicRouter) -> RouterHandle:
    return RouterHandle("fixed", router, CATALOG)


def ask(graph: Any, question: str = "What is 2 + 2?", **context: Any) -> dict[str, Any]:
    return graph.invoke({"messages": [HumanMessage(question)]}, context=context)


def meta(out: dict[str, Any]) -> dict[str, Any]:
    final = out["messages"][-1]
    assert isinstance(final, AIMessage)
    return final.response_metadata["routegraph"]


def actions(out: dict[str, Any]) -> list[str]:
    return [d["action"] for d in out["decisions"]]


BASE: dict[str, Any] = {
    "weak_model": "small",
    "strong_model": "large",
    "models": ["small", "medium", "large"],
}


# --- simple -------------------------------------------------------------------------------
@pytest.mark.parametrize(("p_strong", "expected"), [(0.9, "large"), (0.1, "small")])
def test_simple_routes_by_threshold(p_strong: float, expected: str) -> None:
    graph = build_simple_graph(
        models=fakes(small="4 (small)", large="4 (large)"),
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, p_strong)),
        evaluator=TableEvaluator({"small": 0.2, "large": 0.9}),
        catalog=CATALOG,
    )
    out = ask(graph, **BASE, threshold=0.5)
    assert meta(out)["chosen_model"] == expected
    assert out["messages"][-1].content == f"4 ({expected})"
    assert actions(out) == ["route", "accept"]
    assert out["decisions"][0]["scores"]["p_strong"] == pytest.approx(p_strong)


def test_simple_reroutes_when_strong_model_is_down() -> None:
    graph = build_simple_graph(
        models={"small": ScriptedChatModel(answers=["4"]), "large": FailingChatModel()},
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, 0.9)),
        evaluator=TableEvaluator({"small": 0.3}),
        catalog=CATALOG,
    )
    out = ask(graph, **BASE)
    assert actions(out) == ["route", "re-route", "accept"]
    assert meta(out)["chosen_model"] == "small"
    assert "large is not available" in meta(out)["notes"][0]
    assert out["attempts"][0]["source"] == "unavailable"


# --- specialist ---------------------------------------------------------------------------
def test_specialist_picks_best_quality_then_cost_weight_shifts_it() -> None:
    quality = {"small": 0.60, "medium": 0.80, "large": 0.82}
    kwargs = dict(
        models=fakes(small="s", medium="m", large="l"),
        router=handle(FixedRouter(quality)),
        evaluator=TableEvaluator({}, 0.9),
        catalog=CATALOG,
    )
    best = ask(build_specialist_graph(**kwargs), **BASE, cost_weight=0.0)
    assert meta(best)["chosen_model"] == "large"
    # Default (cost_weight unset): prices weighed relative to the priciest candidate, which
    # costs 0.25 points; large's 0.02 lead over medium does not pay for its price.
    default = ask(build_specialist_graph(**kwargs), **BASE)
    assert meta(default)["chosen_model"] == "medium"
    assert "relative to the priciest candidate" in default["decisions"][0]["reason"]
    cheap = ask(build_specialist_graph(**kwargs), **BASE, cost_weight=0.05)
    assert meta(cheap)["chosen_model"] == "medium"
    floor = ask(build_specialist_graph(**kwargs), **BASE, quality_floor=0.55)
    assert meta(floor)["chosen_model"] == "small"


def test_specialist_reroutes_to_next_best_when_pick_is_down() -> None:
    graph = build_specialist_graph(
        models={
            "small": ScriptedChatModel(answers=["s"]),
            "medium": ScriptedChatModel(answers=["m"]),
            "large": FailingChatModel(),
        },
        router=handle(FixedRouter({"small": 0.1, "medium": 0.7, "large": 0.9})),
        evaluator=TableEvaluator({}, 0.9),
        catalog=CATALOG,
    )
    out = ask(graph, **BASE, cost_weight=0.0)  # best quality first, whatever it costs
    assert actions(out) == ["route", "re-route", "accept"]
    assert meta(out)["chosen_model"] == "medium"


# --- hybrid -------------------------------------------------------------------------------
def hybrid(p_strong: float, local_conf: float, cloud: Any = None) -> Any:
    return build_hybrid_graph(
        models={
            "small": ScriptedChatModel(answers=["local answer"]),
            "large": cloud or ScriptedChatModel(answers=["cloud answer"]),
        },
        router=handle(FixedRouter({"small": 0.5, "large": 0.9}, p_strong)),
        evaluator=TableEvaluator({"small": local_conf, "large": 0.95}),
        catalog=CATALOG,
    )


def test_hybrid_accepts_confident_local_answer() -> None:
    out = ask(hybrid(0.1, 0.9), **BASE, confidence_threshold=0.7)
    assert actions(out) == ["route", "accept"]
    assert meta(out)["cloud_used"] is False
    assert meta(out)["cost_usd"] == 0.0


def test_hybrid_escalates_unconfident_local_answer_to_cloud() -> None:
    out = ask(hybrid(0.1, 0.4), **BASE, confidence_threshold=0.7)
    assert actions(out) == ["route", "escalate", "escalate", "accept"]
    assert meta(out)["cloud_used"] is True and meta(out)["escalated"] is True
    assert out["messages"][-1].content == "cloud answer"
    # 100 input x $10/M + 50 output x $30/M for the cloud call only
    assert meta(out)["cost_usd"] == pytest.approx(100 * 10e-6 + 50 * 30e-6)


def test_hybrid_sends_hard_query_straight_to_cloud() -> None:
    out = ask(hybrid(0.9, 0.9), **BASE)
    assert [a["model"] for a in out["attempts"]] == ["large"]
    assert meta(out)["cloud_used"] is True


def test_hybrid_without_cloud_returns_best_local_answer_with_note() -> None:
    out = ask(hybrid(0.1, 0.4, cloud=FailingChatModel()), **BASE)
    assert out["messages"][-1].content == "local answer"
    assert meta(out)["cloud_used"] is False
    assert any("large is not available" in n for n in meta(out)["notes"])
    assert actions(out)[-1] == "stop"


# --- cascade ------------------------------------------------------------------------------
def cascade(confs: dict[str, float]) -> Any:
    return build_cascade_graph(
        models=fakes(small="s", medium="m", large="l"),
        evaluator=TableEvaluator(confs),
        catalog=CATALOG,
    )


def test_cascade_stops_at_first_confident_tier() -> None:
    out = ask(cascade({"small": 0.2, "medium": 0.9}), **BASE, confidence_threshold=0.8)
    assert [a["model"] for a in out["attempts"]] == ["small", "medium"]
    assert actions(out) == ["route", "escalate", "cascade", "accept"]
    assert meta(out)["chosen_model"] == "medium"


def test_cascade_reaches_last_tier_and_accepts_it() -> None:
    out = ask(cascade({"small": 0.1, "medium": 0.1, "large": 0.1}), **BASE)
    assert [a["model"] for a in out["attempts"]] == ["small", "medium", "large"]
    assert meta(out)["chosen_model"] == "large"


def test_cascade_per_tier_thresholds() -> None:
    out = ask(cascade({"small": 0.5}), **BASE, tier_thresholds=[0.4, 0.9, 0.0])
    assert meta(out)["chosen_model"] == "small"


def test_cascade_budget_stop_returns_best_so_far() -> None:
    out = ask(cascade({"small": 0.1, "medium": 0.3}), **BASE, budget_usd=0.0001)
    # small is free; medium could cost up to 256 output tokens x 2e-6 = 0.0005 > budget: the
    # budget is a cap, so medium is never called and small's answer is returned.
    assert [a["model"] for a in out["attempts"]] == ["small"]
    assert actions(out)[-1] == "stop" and "budget" in out["decisions"][-1]["reason"]
    assert meta(out)["chosen_model"] == "small"  # the best answer so far
    assert meta(out)["cost_usd"] <= 0.0001


def test_cascade_max_steps_stop() -> None:
    out = ask(cascade({"small": 0.1, "medium": 0.1}), **BASE, max_steps=1)
    assert [a["model"] for a in out["attempts"]] == ["small"]
    assert "max_steps" in out["decisions"][-1]["reason"]


# --- cascade routing ----------------------------------------------------------------------
def cascade_routing(prior: dict[str, float], confs: dict[str, float]) -> Any:
    return build_cascade_routing_graph(
        models=fakes(small="s", medium="m", large="l"),
        router=handle(FixedRouter(prior)),
        evaluator=TableEvaluator(confs),
        catalog=CATALOG,
    )


PAIR = {**BASE, "models": ["medium", "large"], "max_tokens": 256}
# Planning costs at cost_weight 0.05 (quality units): medium ~0.013, large ~0.19.


def test_cascade_routing_tries_the_cheap_model_first_when_the_evaluator_resolves_it() -> None:
    # Router: medium 0.55, large 0.9. An informative verdict on medium is worth its small cost:
    # {medium, then large if needed} beats calling large now.
    graph = cascade_routing({"small": 0.2, "medium": 0.55, "large": 0.9}, {"medium": 0.95})
    out = ask(graph, **PAIR, cost_weight=0.05)
    assert [a["model"] for a in out["attempts"]] == ["medium"]
    assert actions(out) == ["route", "accept"]
    assert meta(out)["chosen_model"] == "medium"


def test_cascade_routing_escalates_after_a_low_confidence_answer() -> None:
    graph = cascade_routing(
        {"small": 0.2, "medium": 0.55, "large": 0.9}, {"medium": 0.1, "large": 0.2}
    )
    out = ask(graph, **PAIR, cost_weight=0.05)
    assert [a["model"] for a in out["attempts"]] == ["medium", "large"]
    assert actions(out) == ["route", "escalate", "re-route", "accept"]
    assert meta(out)["chosen_model"] == "large"  # 0.2 > 0.1: the better estimate


def test_cascade_routing_routes_straight_up_when_the_evaluator_says_nothing() -> None:
    # Same prompt and costs, but the evaluator's verdict on medium moves nothing: trying it
    # first cannot change the decision, so the router's choice is taken at once.
    graph = cascade_routing({"small": 0.2, "medium": 0.55, "large": 0.9}, {"large": 0.9})
    out = ask(graph, **PAIR, cost_weight=0.05, evaluator_resolution={"medium": 0.0, "large": 0.0})
    assert [a["model"] for a in out["attempts"]] == ["large"]
    assert meta(out)["chosen_model"] == "large"


def test_cascade_routing_keeps_an_earlier_answer_with_the_better_estimate() -> None:
    graph = cascade_routing(
        {"small": 0.2, "medium": 0.55, "large": 0.9}, {"medium": 0.7, "large": 0.3}
    )
    out = ask(graph, **PAIR, cost_weight=0.0)
    assert [a["model"] for a in out["attempts"]] == ["medium", "large"]
    assert actions(out)[-1] == "stop"
    assert meta(out)["chosen_model"] == "medium"  # 0.7 beats large's 0.3
    # An evaluator that says nothing about large's answers leaves large at its prior 0.9.
    out = ask(graph, **PAIR, cost_weight=0.0, evaluator_resolution={"large": 0.0})
    assert actions(out)[-1] == "accept"
    assert meta(out)["chosen_model"] == "large"


def test_cascade_routing_answers_once_with_the_cheapest_when_calls_cost_too_much() -> None:
    graph = cascade_routing({"small": 0.5, "medium": 0.55, "large": 0.6}, {"small": 0.1})
    out = ask(graph, **BASE, cost_weight=1000.0, min_gain=0.05)
    assert [a["model"] for a in out["attempts"]] == ["small"]
    assert actions(out) == ["route", "accept"]


def test_cascade_routing_default_does_not_pay_for_what_the_free_model_answered() -> None:
    # The case: a confident free answer (0.866) and a paid model the router rates 0.95.
    # With no cost at all the paid call "gains" ~0.13 and was made; by default prices are
    # weighed (the priciest candidate costs 0.25 points), so the free answer stands ...
    graph = cascade_routing({"small": 0.6, "large": 0.95}, {"small": 0.866, "large": 0.9})
    duo = {**BASE, "models": ["small", "large"]}
    out = ask(graph, **duo)
    assert [a["model"] for a in out["attempts"]] == ["small"]
    assert meta(out)["chosen_model"] == "small"
    free = ask(graph, **duo, cost_weight=0.0)
    assert [a["model"] for a in free["attempts"]] == ["small", "large"]
    # ... while an unconfident free answer still escalates by default.
    weak = cascade_routing({"small": 0.6, "large": 0.95}, {"small": 0.15, "large": 0.9})
    assert [a["model"] for a in ask(weak, **duo)["attempts"]] == ["small", "large"]


def test_cascade_routing_rejects_a_resolution_outside_the_unit_interval() -> None:
    graph = cascade_routing({"small": 0.5, "medium": 0.55, "large": 0.6}, {})
    with pytest.raises(InvalidInputError, match="evaluator_resolution"):
        ask(graph, **BASE, evaluator_resolution={"large": 1.5})


def test_cascade_routing_planner_expectation_and_strategies() -> None:
    dists = [outcomes(0.3, 1.0), outcomes(0.6, 0.5)]
    values = [v for v, _ in dists[1]]
    assert values == pytest.approx([0.3, 0.8])
    assert sum(v * p for v, p in dists[1]) == pytest.approx(0.6)  # the prior is the mean
    brute = sum(
        pa * pb * max(0.4, a, b) for a, pa in dists[0] for b, pb in dists[1]
    )  # E[max(0.4, X, Y)] by enumeration
    assert expected_best(0.4, dists) == pytest.approx(brute)
    priors, costs = {"cheap": 0.55, "big": 0.9}, {"cheap": 0.01, "big": 0.2}
    assert plan(None, priors, costs, {}, 2).models == ("cheap", "big")
    assert plan(None, priors, costs, {"cheap": 0.0, "big": 0.0}, 2).models == ("big",)
    assert plan(None, priors, costs, {}, 1).models == ("big",)  # one call left: no cascade
    assert plan(0.99, priors, costs, {}, 2).models == ()  # nothing beats the answer in hand


# --- minions ------------------------------------------------------------------------------
DOCUMENT = "Alpha paragraph about revenue 10.\n\nBeta paragraph about revenue 20.\n\nGamma 30."


def minions(decomposer_answers: list[str], conf: float, strong: Any = None) -> Any:
    strong = strong or ScriptedChatModel(answers=decomposer_answers)
    return build_minions_graph(
        models={"small": ScriptedChatModel(answers=["worker finding"]), "large": strong},
        evaluator=TableEvaluator({"large": conf, "small": conf}),
        catalog=CATALOG,
    )


def test_minions_decomposes_fans_out_and_aggregates() -> None:
    graph = minions(['["Find the revenue", "Find the year"]', "Total revenue is 60."], 0.9)
    out = graph.invoke(
        {"messages": [HumanMessage("Total revenue?")], "document": DOCUMENT},
        context={**BASE, "max_subtasks": 3},
    )
    assert len(out["worker_results"]) == 3
    assert out["messages"][-1].content == "Total revenue is 60."
    m = meta(out)
    assert m["local_tokens"] == 3 * 150 and m["remote_tokens"] == 2 * 150
    assert actions(out) == ["decompose", "accept"]


def test_minions_starts_a_second_round_when_not_confident() -> None:
    graph = minions(['["job"]'], 0.1)
    out = graph.invoke(
        {"messages": [HumanMessage("Total revenue?")], "document": DOCUMENT},
        context={**BASE, "max_rounds": 2, "max_subtasks": 2},
    )
    assert out["round"] == 2
    assert actions(out) == ["decompose", "re-route", "decompose", "accept"]
    assert "max_rounds" in out["decisions"][-1]["reason"]


def test_minions_without_strong_model_chunks_and_aggregates_locally() -> None:
    graph = minions([], 0.9, strong=FailingChatModel())
    out = graph.invoke(
        {"messages": [HumanMessage("Total revenue?")], "document": DOCUMENT},
        context={**BASE, "max_subtasks": 2},
    )
    notes = meta(out)["notes"]
    assert any("unavailable for decomposition" in n for n in notes)
    assert any("local model small aggregated" in n for n in notes)
    assert meta(out)["remote_tokens"] == 0


def brute_expected_best(known: float, dists: list[list[tuple[float, float]]]) -> float:
    import itertools

    total = 0.0
    for combo in itertools.product(*dists):
        p = 1.0
        for _, q in combo:
            p *= q
        total += p * max([known, *(x for x, _ in combo)])
    return total


def brute_plan(best: Any, priors: dict, costs: dict, resolution: dict, steps: int) -> Any:
    """Every group evaluated, no pruning: what the pruned planner must reproduce."""
    from itertools import combinations

    stop = best if best is not None else float("-inf")
    known = best if best is not None else 0.0
    names = sorted(priors, key=lambda m: costs[m])
    chosen, value = (), stop
    for size in range(1, min(steps, len(names)) + 1):
        for group in combinations(names, size):
            dists = [outcomes(priors[m], resolution.get(m, 1.0)) for m in group]
            v = brute_expected_best(known, dists) - sum(costs[m] for m in group)
            if v > value + 1e-12:
                chosen, value = group, v
    return chosen, value


def test_expected_best_and_the_pruned_planner_equal_brute_force() -> None:
    import random

    rng = random.Random(3)
    for _ in range(400):
        n = rng.randint(0, 4)
        dists = []
        for _ in range(n):
            weights = [
                rng.random() if rng.random() > 0.2 else 0.0 for _ in range(rng.randint(1, 3))
            ]
            total = sum(weights) or 1.0
            dists.append([(round(rng.random(), 2), w / total) for w in weights])
        known = rng.choice([0.0, round(rng.random(), 2)])
        assert expected_best(known, dists) == pytest.approx(brute_expected_best(known, dists))
    for _ in range(200):
        names = [f"m{i}" for i in range(rng.randint(1, 5))]
        priors = {m: rng.random() for m in names}
        costs = {m: rng.choice([0.0, rng.random() * 0.3]) for m in names}
        resolution = {m: rng.random() for m in names if rng.random() < 0.5}
        best = rng.choice([None, rng.random()])
        steps = rng.randint(1, len(names))
        got = plan(best, priors, costs, resolution, steps)
        want_models, want_value = brute_plan(best, priors, costs, resolution, steps)
        assert got.models == want_models
        assert got.value == pytest.approx(want_value)

"""What ``finalize`` logs for one turn (``nodes/outcomes.py``), field by field.

Written for the mutation run on ``nodes/outcomes.py`` (``mutation/outcomes.toml``): the candidates
of pair and tier graphs, the run's thread and API key (None outside a run), the baseline on the
priciest candidate (by input plus output price) at the answer's own tokens, the exploratory draw
(only below the share, exactly at it not, split over the models left), the router facts (version,
priors to 6 places), the prompt or its embedding, one call's record (chosen only when it is the
chosen attempt; missing numbers read as 0), and the whole record (the first routed decision,
unavailable calls left out, faults, rounding of costs and latency). Written before the run, which
applied every mutant: all but two equivalents were killed. Routers and models are fakes; every
expected value is worked out by hand.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.store.memory import InMemoryStore

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.context import RouteContext
from routegraph.core.outcomes import iter_outcomes
from routegraph.nodes.outcomes import (
    EMBEDDER,
    api_key_id,
    baseline_cost,
    call_record,
    candidates,
    exploration_pick,
    outcome_record,
    router_facts,
    thread_id,
    write_outcome,
)
from routegraph.nodes.resources import Toolkit
from routegraph.nodes.routing import RouterHandle
from tests.test_graph_branches import FixedRouter

# per million tokens; large: the priciest by input + output, not by output - input
CATALOG = Catalog(
    {
        "small": ModelSpec("small", "fake", "small", "local", 0.0, 0.0),
        "medium": ModelSpec("medium", "fake", "medium", "cloud", 1.0, 2.0),
        "large": ModelSpec("large", "fake", "large", "cloud", 1.23456789, 30.0),
    },
    "outcomes",
)
TIERS = RouteContext(weak_model="small", strong_model="large", models=["small", "medium", "large"])


def _kit(version: str | None = None) -> Toolkit:
    router = FixedRouter({"small": 0.1234567, "medium": 0.5, "large": 0.9}, p_strong=0.3)
    if version is not None:
        router.meta_["version"] = version
    return Toolkit(catalog=CATALOG, router=RouterHandle("fixed", router, CATALOG))


# --- candidates, thread and key --------------------------------------------------------------
def test_pair_graphs_choose_between_weak_and_strong_and_the_rest_among_models() -> None:
    assert candidates("simple", TIERS) == ["small", "large"]
    assert candidates("hybrid", TIERS) == ["small", "large"]
    same = RouteContext(weak_model="large", strong_model="large")
    assert candidates("simple", same) == ["large"]
    assert candidates("cascade", TIERS) == ["small", "medium", "large"]
    assert candidates("cascade", TIERS) is not TIERS.models  # a copy


def test_thread_and_key_are_read_from_the_run_and_none_outside_one() -> None:
    assert thread_id() is None and api_key_id() is None
    both: Any = RunnableLambda(lambda _: (thread_id(), api_key_id()))
    config: Any = {"configurable": {"thread_id": 42}, "metadata": {"routegraph_key": 7}}
    assert both.invoke(None, config) == ("42", "7")
    assert both.invoke(None, {"configurable": {"other": 1}, "metadata": {"x": 1}}) == (None, None)
    assert both.invoke(None) == (None, None)


# --- the baseline ----------------------------------------------------------------------------
def test_the_baseline_prices_the_answers_tokens_on_the_priciest_candidate() -> None:
    kit = Toolkit(catalog=CATALOG)
    chosen: Any = {"model": "small", "input_tokens": 1000, "output_tokens": 100}
    # large: (1000 x 1.23456789 + 100 x 30) / 1e6
    expected = (1234.56789 + 3000) / 1e6
    assert baseline_cost(kit, TIERS, ["small", "medium", "large"], chosen) == pytest.approx(
        expected, rel=1e-12
    )
    # unknown names are skipped; medium alone: (1000 + 200) / 1e6
    assert baseline_cost(kit, TIERS, ["ghost", "medium"], chosen) == pytest.approx(1.2e-3)


def test_no_answer_no_known_candidate_or_no_tokens_costs_nothing() -> None:
    kit = Toolkit(catalog=CATALOG)
    assert baseline_cost(kit, TIERS, ["large"], None) == 0.0
    chosen: Any = {"model": "small", "input_tokens": 1000, "output_tokens": 100}
    assert baseline_cost(kit, TIERS, ["ghost"], chosen) == 0.0
    assert baseline_cost(kit, TIERS, ["large"], {"model": "small"}) == 0.0  # type: ignore[typeddict-item]


# --- the exploratory draw ------------------------------------------------------------------
def test_an_exploratory_pick_splits_the_share_over_the_models_not_tried() -> None:
    # Random("a").random() = 0.2 (rounded): under a share of 0.5, a pick
    assert random.Random("a").random() < 0.5
    model, propensity = exploration_pick("a", 0.5, ["x", "y", "z"], ["x"])  # type: ignore[misc]
    assert model in ("y", "z") and propensity == 0.25
    assert exploration_pick("a", 0.5, ["x", "y"], ["x"]) == ("y", 0.5)
    assert exploration_pick("a", 0.5, ["x"], ["x"]) is None
    assert exploration_pick("a", 0.0, ["x", "y"], []) is None


def test_a_draw_exactly_at_the_share_is_not_a_pick() -> None:
    share = random.Random("b").random()
    assert exploration_pick("b", share, ["x", "y"], []) is None
    assert exploration_pick("b", share + 1e-9, ["x", "y"], []) is not None


# --- router facts and the prompt -----------------------------------------------------------
def test_router_facts_name_the_router_its_version_and_rounded_priors() -> None:
    facts = router_facts("cascade", TIERS, _kit("v3"), "What is 2 + 2?")
    assert facts["router"] == "fixed" and facts["router_version"] == "v3"
    assert facts["candidates"] == ["small", "medium", "large"]
    assert facts["prior"] == {"small": 0.123457, "medium": 0.5, "large": 0.9}
    assert facts["columns"] == {"small": "small", "medium": "medium", "large": "large"}
    random_router = Toolkit(catalog=CATALOG, router=RouterHandle("random", None, CATALOG))
    assert router_facts("simple", TIERS, random_router, "q")["router_version"] is None


# --- one call's record -----------------------------------------------------------------------
def test_a_call_is_chosen_only_when_it_is_the_chosen_attempt() -> None:
    one: Any = {"model": "small", "step": 1, "source": "live", "confidence": 0.4}
    two: Any = {"model": "large", "step": 2, "source": "live", "explored": 1}
    assert call_record(one, one, 1.0)["chosen"] is True
    assert call_record(one, two, 1.0)["chosen"] is False
    assert call_record(one, None, 1.0)["chosen"] is False
    assert call_record(two, one, 1 / 3)["propensity"] == 0.333333
    assert call_record(two, one, 1 / 3)["explored"] is True


def test_a_call_without_numbers_reads_as_zero_and_served_by_itself() -> None:
    assert call_record({"model": "small"}, None, 1.0) == {  # type: ignore[typeddict-item]
        "step": None,
        "model": "small",
        "served_by": "small",
        "source": None,
        "confidence": None,
        "evaluator": None,
        "chosen": False,
        "explored": False,
        "propensity": 1.0,
        "cost_usd": 0.0,
        "latency_s": 0.0,
        "input_tokens": 0,
        "output_tokens": 0,
    }


# --- the whole record ------------------------------------------------------------------------
def _state() -> Any:
    down = {"model": "medium", "source": "unavailable", "faults": [{"fault": "timeout"}]}
    small = {
        "model": "small",
        "step": 1,
        "source": "live",
        "cost_usd": 0.0,
        "latency_s": 0.11111,
        "input_tokens": 1,
        "output_tokens": 0,
        "faults": [{"fault": "rate_limited"}, {"fault": "connection"}],
    }
    large = {"model": "large", "step": 2, "source": "live", "latency_s": 0.22222}
    decisions = [
        {"router": "", "threshold": 0.9, "scores": {"p_strong": 0.9}},
        {"router": "fixed", "threshold": 0.5, "scores": {"p_strong": 0.2}, "ood": {"d": 1.0}},
        {"router": "fixed", "threshold": 0.1},
    ]
    return {
        "attempts": [down, small, large],
        "decisions": decisions,
        "turn": 3,
        "cost_usd": 0.001234567891,
    }


def test_the_record_of_a_turn() -> None:
    state = _state()
    small, large = state["attempts"][1], state["attempts"][2]
    explored = ({"model": "medium", "source": "live", "explored": True, "latency_s": 0.1}, 0.25)
    record = outcome_record("o1", "cascade", state, TIERS, _kit(), "q", small, explored)
    assert record["id"] == "o1" and record["graph"] == "cascade"
    assert record["thread_id"] is None and record["key"] is None
    assert record["turn"] == 3
    assert record["prompt"] == "q" and record["prompt_chars"] == 1
    assert record["router"] == "fixed" and record["candidates"] == ["small", "medium", "large"]
    # the first decision a router made
    assert (record["threshold"], record["p_strong"], record["ood"]) == (0.5, 0.2, {"d": 1.0})
    assert record["explore"] == TIERS.explore
    assert [(c["model"], c["chosen"], c["propensity"]) for c in record["calls"]] == [
        ("small", True, 1.0),
        ("large", False, 1.0),
        ("medium", False, 0.25),
    ]
    assert record["calls"][1] == call_record(large, small, 1.0)
    assert record["chosen_model"] == "small"
    assert record["cost_usd"] == 0.00123457
    # 1 token in on large: 1.23456789e-6, to 8 places
    assert record["baseline_cost_usd"] == 0.00000123
    assert record["faults"] == ["timeout", "rate_limited", "connection"]
    assert record["latency_s"] == 0.4333  # 0.11111 + 0.22222 + 0.1, to 4 places
    assert record["feedback"] is None


def test_a_record_with_no_answer_no_decision_and_no_turn() -> None:
    state: Any = {"attempts": [{"model": "small", "source": "unavailable"}]}
    record = outcome_record("o2", "simple", state, TIERS, _kit(), "q", None, None)
    assert record["calls"] == [] and record["chosen_model"] is None
    assert record["turn"] == 1
    assert (record["threshold"], record["p_strong"], record["ood"]) == (None, None, None)
    assert record["cost_usd"] == 0.0 and record["baseline_cost_usd"] == 0.0
    assert record["latency_s"] == 0.0 and record["faults"] == []
    decided: Any = {"decisions": [{"router": "fixed", "threshold": 0.5}]}
    assert (
        outcome_record("o3", "simple", decided, TIERS, _kit(), "q", None, None)["p_strong"] is None
    )


def test_an_embedding_record_keeps_a_rounded_vector_and_no_prompt() -> None:
    ctx = RouteContext(
        weak_model="small", strong_model="large", models=["small", "large"], outcome_log="embedding"
    )
    record = outcome_record("o4", "simple", {}, ctx, _kit(), "What is 2 + 2?", None, None)  # type: ignore[arg-type]
    assert record["prompt"] is None and record["prompt_chars"] == 14
    assert record["embedding"]["embedder"] == EMBEDDER == "minilm-static"
    vector = record["embedding"]["vector"]
    assert all(round(v, 6) == v for v in vector)
    assert any(round(v, 5) != v for v in vector)


# --- writing ---------------------------------------------------------------------------------
class _BrokenStore(InMemoryStore):
    def batch(self, ops: Any) -> Any:
        raise OSError("disk full")


def test_writing_says_whether_the_record_was_saved() -> None:
    store = InMemoryStore()
    assert write_outcome(store, {"id": "o5", "graph": "simple"}) is True
    assert [r["id"] for r in iter_outcomes(store)] == ["o5"]
    assert write_outcome(_BrokenStore(), {"id": "o6"}) is False

"""Evaluator failures never end a run: the answer counts as not confident, the reason is
recorded on the attempt, and the graph goes on (here: a cascade escalates to its next tier)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult

from routegraph.core.providers.result import chat_result
from routegraph.evaluators.base import Confidence, EvaluationInput
from routegraph.graphs.cascade import build_cascade_graph
from routegraph.nodes import calls
from routegraph.nodes.health import HEALTH
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator, tiny_catalog

CONTEXT = {"models": ["small", "large"], "weak_model": "small", "strong_model": "large"}
QUESTION = "What is 2 + 2?"


class RaisingEvaluator:
    name = "raising"

    def evaluate(self, item: EvaluationInput) -> Confidence:
        raise RuntimeError("scorer crashed")


class NaNEvaluator:
    name = "nan"

    def evaluate(self, item: EvaluationInput) -> Confidence:
        return Confidence(float("nan"), self.name, {})


class OnlyLarge:
    """Fails on the small model's answer, trusts the large one: the run must escalate."""

    name = "only_large"

    def __init__(self, failing: Any):
        self.failing = failing

    def evaluate(self, item: EvaluationInput) -> Confidence:
        if item.model == "small":
            return self.failing.evaluate(item)
        return Confidence(1.0, self.name, {})


class AnswerThenFail(ScriptedChatModel):
    """Answers the question, then fails when asked to rate it (the judge is unreachable)."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if "Rate how likely" in messages[-1].text:
            raise ConnectionError("judge unreachable")
        return super()._generate(messages, *args, **kwargs)


class Rater(ScriptedChatModel):
    rating: str = "banana"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if "Rate how likely" in messages[-1].text:
            return chat_result(self.rating, 10, 1, {"source": "live"})
        return super()._generate(messages, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "sleep", lambda seconds: None)
    HEALTH.reset()


def run(
    evaluator: Any = None, small: Any = None, evaluator_name: str | None = None, **context: Any
) -> dict[str, Any]:
    """The cascade small -> large; ``evaluator_name`` picks the context's evaluator when no
    evaluator object is given."""
    if evaluator_name:
        context["evaluator"] = evaluator_name
    graph = build_cascade_graph(
        models={
            "small": small or ScriptedChatModel(answers=["5"]),
            "large": ScriptedChatModel(answers=["4"]),
        },
        evaluator=evaluator,
        catalog=tiny_catalog(),
    )
    return graph.invoke({"messages": [HumanMessage(QUESTION)]}, context={**CONTEXT, **context})


def assert_escalated_with_reason(out: dict[str, Any], words: str) -> dict[str, Any]:
    small, large = out["attempts"]
    assert small["confidence"] == 0.0
    assert small["evaluation"]["failed"] is True
    assert words in small["evaluation"]["reason"]
    assert large["model"] == "large"
    assert out["messages"][-1].text == "4"
    return small


def test_an_evaluator_that_raises_counts_as_not_confident() -> None:
    small = assert_escalated_with_reason(run(OnlyLarge(RaisingEvaluator())), "scorer crashed")
    assert small["evaluation"]["fault"] == "error"


def test_a_score_that_is_not_a_number_in_0_1_counts_as_not_confident() -> None:
    assert_escalated_with_reason(run(OnlyLarge(NaNEvaluator())), "not in [0, 1]")


def test_a_judge_that_cannot_be_reached_counts_as_not_confident() -> None:
    out = run(small=AnswerThenFail(answers=["5"]), evaluator_name="self_eval")
    small = assert_escalated_with_reason(out, "judge unreachable")
    assert small["evaluation"]["fault"] == "connection"


def test_an_unparseable_rating_counts_as_not_confident_and_is_recorded() -> None:
    out = run(small=Rater(answers=["5"]), evaluator_name="self_eval")
    small = out["attempts"][0]
    assert small["confidence"] == 0.0
    assert small["evaluation"]["parse_failed"] is True
    assert small["evaluation"]["raw_rating"] == "banana"
    assert out["messages"][-1].text == "4"


def test_missing_logprobs_and_a_missing_verifier_artifact_count_as_not_confident(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """logprob falls back to the learned verifier; its artifact is gone: confidence 0, why."""
    from routegraph.evaluators import learned, verifier

    monkeypatch.setattr(verifier, "default_artifact_dir", lambda: tmp_path / "gone")
    learned.default_verifier.cache_clear()
    try:
        out = run(evaluator=None, evaluator_name="logprob")
        small = out["attempts"][0]
        assert small["confidence"] == 0.0
        assert "no logprobs" in small["evaluation"]["reason"]
        assert "not a verifier artifact" in small["evaluation"]["reason"]
        assert out["messages"][-1].text == "4"

        out = run(evaluator=None, evaluator_name="verifier")  # no fallback layer: the guard
        assert_escalated_with_reason(out, "not a verifier artifact")
    finally:
        learned.default_verifier.cache_clear()


def test_a_failed_evaluation_is_reported_in_the_stream() -> None:
    graph = build_cascade_graph(
        models={
            "small": ScriptedChatModel(answers=["5"]),
            "large": ScriptedChatModel(answers=["4"]),
        },
        evaluator=OnlyLarge(RaisingEvaluator()),
        catalog=tiny_catalog(),
    )
    events = [
        chunk
        for mode, chunk in graph.stream(
            {"messages": [HumanMessage(QUESTION)]},
            context=CONTEXT,
            stream_mode=["custom", "values"],
        )
        if mode == "custom"
    ]
    failed = [e for e in events if e["event"] == "evaluation_failed"]
    assert len(failed) == 1 and "scorer crashed" in failed[0]["reason"]


def test_a_failing_model_and_failing_evaluator_still_end_with_an_answer() -> None:
    graph = build_cascade_graph(
        models={"small": FailingChatModel(), "large": ScriptedChatModel(answers=["4"])},
        evaluator=RaisingEvaluator(),
        catalog=tiny_catalog(),
    )
    out = graph.invoke({"messages": [HumanMessage(QUESTION)]}, context=CONTEXT)
    small, large = out["attempts"]
    assert small["source"] == "unavailable"
    assert {f["fault"] for f in small["faults"]} == {"connection"}
    assert large["confidence"] == 0.0 and large["evaluation"]["failed"]
    assert out["messages"][-1].text == "4"  # last tier: accepted, with its doubt recorded


def test_table_evaluator_still_works_unwrapped() -> None:
    """The guard changes nothing for an evaluator that works."""
    out = run(TableEvaluator({"small": 0.95}))
    assert [a["model"] for a in out["attempts"]] == ["small"]
    assert out["attempts"][0]["confidence"] == 0.95

"""MinionS steps (``nodes/minions.py``), each node called on its own, pinned field by field.

Written for the mutation run on ``nodes/minions.py`` (``mutation/minions.toml``): chunking along
paragraphs (at most ``parts`` pieces of equal paragraph counts), the jobs list in a reply (blank
jobs dropped, at most ``limit``), the decomposition (its prompt and a later round's feedback cut at
400 characters, jobs cycled over the chunks, the query when there are neither, each job's equal
share of the budget with one share kept back, round and step numbers, notes, remote tokens), a
worker (its task cut at 500 characters, local tokens, an unavailable model said), and the
aggregation (this round's findings in index order numbered from 1, the local model when the strong
one is down, the findings when both are, the score to 6 places, accepted at exactly the threshold or
at the last round, the judge's own cost added). Written before the run, which applied every mutant;
``test_the_aggregation_is_priced_against_what_is_left_of_the_budget`` (nothing recorded as spent
reads as 0) was added after it for its one real survivor and checked by applying that mutant by
hand. Models are fakes (tiny catalog: small is local and free; large costs 10 USD a million tokens
in and 30 out); every expected value is worked out by hand.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult

from routegraph.nodes.health import HEALTH
from routegraph.nodes.minions import (
    chunk_document,
    make_aggregate_node,
    make_decompose_node,
    make_worker_node,
    parse_jobs,
)
from routegraph.nodes.resources import Toolkit
from tests.fakes import FailingChatModel, ScriptedChatModel, TableEvaluator, tiny_catalog

CATALOG = tiny_catalog()
BASE = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
DOCUMENT = "P1 alpha.\n\nP2 beta.\n\n   \n\nP3 gamma."
LARGE_CALL = (100 * 10 + 50 * 30) / 1e6  # 100 tokens in, 50 out: 0.0025 USD


class Recording(ScriptedChatModel):
    """A scripted model (100 tokens in, 50 out) that keeps every prompt it was sent."""

    prompts: list[list[BaseMessage]] = []

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kwargs)


@pytest.fixture(autouse=True)
def clean_board() -> Any:
    HEALTH.reset()  # a failing fake cools its model down for the tests after it
    yield
    HEALTH.reset()


def _runtime(**context: Any) -> Any:
    return SimpleNamespace(context={**BASE, **context})


def _kit(strong: BaseChatModel, weak: BaseChatModel | None = None, **kw: Any) -> Toolkit:
    models = {"large": strong, "small": weak or Recording(answers=["worker finding"])}
    return Toolkit(models=models, catalog=CATALOG, **kw)


# --- chunks and jobs -------------------------------------------------------------------------
def test_a_document_splits_along_paragraphs_into_at_most_parts_pieces() -> None:
    five = "\n\n".join(f"p{i}" for i in range(1, 6))
    assert chunk_document(five, 2) == ["p1\n\np2\n\np3", "p4\n\np5"]
    assert chunk_document(five, 5) == ["p1", "p2", "p3", "p4", "p5"]
    assert chunk_document(five, 9) == ["p1", "p2", "p3", "p4", "p5"]
    assert chunk_document(DOCUMENT, 3) == ["P1 alpha.", "P2 beta.", "P3 gamma."]
    assert chunk_document(DOCUMENT, 1) == ["P1 alpha.\n\nP2 beta.\n\nP3 gamma."]
    assert chunk_document("  \n\n \n ", 3) == [] and chunk_document("", 3) == []


def test_the_jobs_are_the_replys_json_list_without_blanks_and_at_most_the_limit() -> None:
    reply = 'Here: ["find the revenue", "  ", "find the year", 3] done'
    assert parse_jobs(reply, 2) == ["find the revenue", "find the year"]
    assert parse_jobs(reply, 9) == ["find the revenue", "find the year", "3"]
    assert parse_jobs("no list here", 3) == []
    assert parse_jobs("[find, the revenue]", 3) == []


# --- decomposition ---------------------------------------------------------------------------
def test_the_first_decomposition_cycles_jobs_over_chunks_and_shares_the_budget() -> None:
    strong = Recording(answers=['["J1", "J2"]'])
    state: Any = {"messages": [HumanMessage("Total revenue?")], "document": DOCUMENT}
    command = make_decompose_node(_kit(strong))(state, _runtime(max_subtasks=3, budget_usd=1.0))
    [prompt] = strong.prompts
    content = str(prompt[0].content)
    assert content.startswith("You lead small assistants")
    assert "at most 3 short" in content and "Task: Total revenue?\n" in content
    assert "previous round" not in content
    sends = command.goto
    assert [s.node for s in sends] == ["worker"] * 3
    tasks = [s.arg["task"] for s in sends]
    assert tasks == [
        "J1\n\nExcerpt:\nP1 alpha.\n\nAnswer briefly from the excerpt only.",
        "J2\n\nExcerpt:\nP2 beta.\n\nAnswer briefly from the excerpt only.",
        "J1\n\nExcerpt:\nP3 gamma.\n\nAnswer briefly from the excerpt only.",
    ]
    assert [(s.arg["index"], s.arg["round"]) for s in sends] == [(0, 1), (1, 1), (2, 1)]
    # (1.0 - 0.0025) over 3 jobs plus one share kept for the aggregation
    shares = [s.arg["budget_usd"] for s in sends]
    assert shares == [pytest.approx((1.0 - LARGE_CALL) / 4, rel=1e-12)] * 3
    update = command.update
    assert update["subtasks"] == tasks and update["round"] == 1 and update["notes"] == []
    [decision] = update["decisions"]
    assert decision["step"] == 1 and decision["reason"] == "round 1: 3 local jobs"
    assert decision["chosen_model"] == "small" and decision["action"] == "decompose"
    assert update["cost_usd"] == pytest.approx(LARGE_CALL, rel=1e-12)
    assert (update["local_tokens"], update["remote_tokens"]) == (0, 150)


def test_what_was_spent_before_shrinks_every_share() -> None:
    strong = Recording(answers=['["J1"]'])
    state: Any = {"messages": [HumanMessage("q?")], "cost_usd": 0.5}
    command = make_decompose_node(_kit(strong))(state, _runtime(budget_usd=1.0))
    [send] = command.goto
    assert send.arg["budget_usd"] == pytest.approx((0.5 - LARGE_CALL) / 2, rel=1e-12)
    assert send.arg["task"] == "J1"  # no document: the jobs themselves


def test_a_later_round_tells_the_strong_model_what_the_last_round_answered() -> None:
    strong = Recording(answers=["no list"])
    last = {"answer": "x" * 450, "confidence": 0.25}
    state: Any = {
        "messages": [HumanMessage("q?")],
        "round": 1,
        "attempts": [{"answer": "old"}, last],
    }
    command = make_decompose_node(_kit(strong))(state, _runtime())
    content = strong.prompts[0][0].content
    feedback = f"\nA previous round answered: '{'x' * 400}' with confidence 0.25."
    assert feedback in content and "Ask different, more specific jobs." in content
    assert [s.arg["task"] for s in command.goto] == ["q?"]  # no jobs, no document: the query
    assert command.update["round"] == 2 and command.goto[0].arg["round"] == 2
    assert command.update["decisions"][0]["step"] == 3
    assert command.update["notes"] == [  # no document to chunk: the workers get the question
        "the strong model's decomposition was not a JSON list; asked the question itself"
    ]


def test_a_decomposition_that_is_not_a_list_falls_back_to_the_documents_chunks() -> None:
    state: Any = {"messages": [HumanMessage("q?")], "document": DOCUMENT}
    command = make_decompose_node(_kit(Recording(answers=["no list"])))(
        state, _runtime(max_subtasks=2)
    )
    assert len(command.goto) == 2  # one job per chunk
    assert command.update["notes"] == [
        "the strong model's decomposition was not a JSON list; used chunks"
    ]


def test_an_unreachable_strong_model_splits_the_document_into_chunks() -> None:
    state: Any = {"messages": [HumanMessage("q?")], "document": DOCUMENT}
    command = make_decompose_node(_kit(FailingChatModel()))(
        state, _runtime(max_subtasks=2, call_retries=0)
    )
    tasks = [s.arg["task"] for s in command.goto]
    assert tasks == [
        "q?\n\nExcerpt:\nP1 alpha.\n\nP2 beta.\n\nAnswer briefly from the excerpt only.",
        "q?\n\nExcerpt:\nP3 gamma.\n\nAnswer briefly from the excerpt only.",
    ]
    [note] = command.update["notes"]
    assert note.startswith("strong model large unavailable for decomposition (")
    assert note.endswith("); split the document into chunks instead")
    assert "cost_usd" not in command.update and "remote_tokens" not in command.update
    no_document: Any = {"messages": [HumanMessage("q?")]}
    command = make_decompose_node(_kit(FailingChatModel()))(
        no_document, _runtime(max_subtasks=2, call_retries=0)
    )
    assert [s.arg["task"] for s in command.goto] == ["q?"]
    assert command.update["notes"][0].endswith("); asked the question itself instead")


# --- a worker --------------------------------------------------------------------------------
def test_a_worker_answers_its_job_locally() -> None:
    weak = Recording(answers=["found 10"])
    job: Any = {"task": "t" * 600, "index": 2, "round": 1, "document": None, "budget_usd": 0.0}
    update = make_worker_node(_kit(Recording(answers=["x"]), weak))(job, _runtime())
    [result] = update["worker_results"]
    assert weak.prompts[0][0].content == "t" * 600
    assert result["task"] == "t" * 500
    assert (result["round"], result["index"], result["answer"]) == (1, 2, "found 10")
    assert (result["model"], result["source"]) == ("small", "live")
    assert (result["input_tokens"], result["output_tokens"], result["cost_usd"]) == (100, 50, 0.0)
    assert (update["local_tokens"], update["remote_tokens"], update["cost_usd"]) == (150, 0, 0.0)


def test_a_worker_whose_model_is_down_says_so() -> None:
    job: Any = {"task": "t", "index": 0, "round": 1, "document": None, "budget_usd": 1.0}
    kit = _kit(Recording(answers=["x"]), FailingChatModel())
    update = make_worker_node(kit)(job, _runtime(call_retries=0))
    [result] = update["worker_results"]
    assert result["answer"].startswith("(unavailable: ") and result["answer"].endswith(")")
    assert (update["local_tokens"], update["remote_tokens"]) == (0, 0)


# --- aggregation -----------------------------------------------------------------------------
def _results() -> list[dict[str, Any]]:
    return [
        {"round": 2, "index": 1, "answer": "B2"},
        {"round": 1, "index": 0, "answer": "A1"},
        {"round": 2, "index": 0, "answer": "A2"},
        {"round": 2, "index": 2, "answer": "C2"},
    ]


def _aggregate(strong: BaseChatModel, conf: float, round_: int = 2, **ctx: Any) -> Any:
    kit = _kit(strong, evaluator=TableEvaluator({"large": conf, "small": conf}))
    state: Any = {
        "messages": [HumanMessage("Total?")],
        "round": round_,
        "worker_results": _results(),
        "attempts": [{"model": "large"}],
    }
    return make_aggregate_node(kit)(state, _runtime(call_retries=0, **ctx))


def test_the_aggregation_reads_this_rounds_findings_in_order_numbered_from_one() -> None:
    strong = Recording(answers=["Total is 60."])
    command = _aggregate(strong, 0.9, confidence_threshold=0.5, max_rounds=3)
    prompt = strong.prompts[0][1].content
    assert "Findings:\n1. A2\n2. B2\n3. C2\n\nFinal answer:" in prompt
    assert "A1" not in prompt
    [attempt] = command.update["attempts"]
    assert attempt["step"] == 2 and attempt["answer"] == "Total is 60."
    assert (attempt["model"], attempt["served_by"], attempt["tier"]) == ("large", "large", "cloud")
    assert attempt["confidence"] == 0.9 and attempt["evaluator"] == "table"
    assert "evaluation" not in attempt
    assert command.goto == "finalize"
    [decision] = command.update["decisions"]
    assert decision["reason"] == "round 2: confidence 0.900 >= threshold"
    assert (decision["action"], decision["threshold"], decision["step"]) == ("accept", 0.5, 2)
    assert command.update["cost_usd"] == pytest.approx(LARGE_CALL, rel=1e-12)
    assert (command.update["local_tokens"], command.update["remote_tokens"]) == (0, 150)


def test_a_score_exactly_at_the_threshold_is_accepted_and_rounded_to_6_places() -> None:
    exact = _aggregate(Recording(answers=["a"]), 0.5, confidence_threshold=0.5, max_rounds=3)
    assert exact.goto == "finalize"
    assert exact.update["decisions"][0]["reason"] == "round 2: confidence 0.500 >= threshold"
    fine = _aggregate(Recording(answers=["a"]), 0.1234567, confidence_threshold=0.1, max_rounds=3)
    assert fine.update["attempts"][0]["confidence"] == 0.123457


def test_below_the_threshold_a_new_round_starts_until_the_last_one() -> None:
    again = _aggregate(Recording(answers=["a"]), 0.4, confidence_threshold=0.5, max_rounds=3)
    assert again.goto == "decompose"
    [decision] = again.update["decisions"]
    assert decision["action"] == "re-route"
    assert decision["reason"] == "round 2: confidence 0.400 < threshold: new round"
    last = _aggregate(Recording(answers=["a"]), 0.4, confidence_threshold=0.5, max_rounds=2)
    assert last.goto == "finalize"
    [decision] = last.update["decisions"]
    assert decision["action"] == "accept"
    assert decision["reason"] == "round 2: confidence 0.400 < threshold but max_rounds reached"


def test_the_first_round_is_round_one_when_none_is_recorded() -> None:
    strong = Recording(answers=["a"])
    kit = _kit(strong, evaluator=TableEvaluator({"large": 0.9}))
    state: Any = {"messages": [HumanMessage("Total?")], "worker_results": _results()}
    command = make_aggregate_node(kit)(state, _runtime(max_rounds=3))
    assert "Findings:\n1. A1\n\nFinal answer:" in strong.prompts[0][1].content
    assert command.update["decisions"][0]["reason"].startswith("round 1: ")
    assert command.update["attempts"][0]["step"] == 1


def test_the_local_model_aggregates_when_the_strong_one_is_down() -> None:
    command = _aggregate(FailingChatModel(), 0.9, confidence_threshold=0.5)
    [attempt] = command.update["attempts"]
    assert (attempt["model"], attempt["served_by"], attempt["tier"]) == ("small", "small", "local")
    assert attempt["answer"] == "worker finding"
    assert command.update["notes"] == [
        "strong model large unavailable for aggregation; the local model small aggregated"
    ]
    assert (command.update["local_tokens"], command.update["remote_tokens"]) == (150, 0)


def test_with_both_models_down_the_findings_are_the_answer_and_nobody_vouches() -> None:
    kit = _kit(FailingChatModel(), FailingChatModel(), evaluator=TableEvaluator({}, default=0.9))
    state: Any = {"messages": [HumanMessage("Total?")], "round": 2, "worker_results": _results()}
    command = make_aggregate_node(kit)(state, _runtime(call_retries=0, max_rounds=2))
    [attempt] = command.update["attempts"]
    assert attempt["answer"] == "1. A2\n2. B2\n3. C2"
    assert (attempt["model"], attempt["served_by"], attempt["tier"]) == ("small", "small", "cloud")
    assert (attempt["confidence"], attempt["evaluator"]) == (0.0, "none")
    assert "cost_usd" not in command.update


class _Broken:
    name = "broken"

    def evaluate(self, item: Any) -> Any:
        raise RuntimeError("verifier missing")


def test_a_failed_evaluation_is_recorded_on_the_attempt() -> None:
    kit = _kit(Recording(answers=["a"]), evaluator=_Broken())  # type: ignore[arg-type]
    state: Any = {"messages": [HumanMessage("Total?")], "round": 1, "worker_results": []}
    command = make_aggregate_node(kit)(state, _runtime(max_rounds=2))
    [attempt] = command.update["attempts"]
    assert attempt["confidence"] == 0.0 and attempt["evaluation"]["failed"] is True
    assert command.goto == "decompose"


def test_the_judges_own_cost_is_added_to_the_aggregations() -> None:
    strong = Recording(answers=["Total is 60.", "5"])  # the answer, then a self-rating of 5
    state: Any = {"messages": [HumanMessage("Total?")], "round": 1, "worker_results": []}
    command = make_aggregate_node(_kit(strong))(
        state, _runtime(evaluator="self_eval", budget_usd=1.0, max_rounds=1)
    )
    assert command.update["attempts"][0]["confidence"] == 1.0
    assert command.update["cost_usd"] == pytest.approx(2 * LARGE_CALL, rel=1e-12)
    assert (command.update["local_tokens"], command.update["remote_tokens"]) == (0, 300)


def test_the_aggregation_is_priced_against_what_is_left_of_the_budget() -> None:
    def served(budget: float, spent: float | None = None) -> str:
        kit = _kit(Recording(answers=["Total is 60."]), evaluator=TableEvaluator({}, default=0.9))
        state: Any = {"messages": [HumanMessage("Total?")], "round": 1, "worker_results": []}
        if spent is not None:
            state["cost_usd"] = spent
        command = make_aggregate_node(kit)(state, _runtime(budget_usd=budget))
        return command.update["attempts"][0]["model"]

    # large's worst case is far above 0.001 USD: refused, the local model aggregates
    assert served(0.001) == "small"  # nothing recorded as spent: all 0.001 left
    assert served(1.0) == "large"
    assert served(1.0, spent=0.999) == "small"

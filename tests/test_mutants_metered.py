"""The metered evaluator model (``nodes/metered.py``): its budget check and its ledger.

Written for the mutation run on ``nodes/metered.py`` (``mutation/metered.toml``): a call whose worst
case is exactly what is left is made and a hair more is refused, what is left shrinks by what
earlier calls cost, the default answer allowance of 256 tokens, the refusal's wording (what is left,
never below zero), the ledger (calls, tokens, cost) over two calls, a replayed reply's recorded
cost, a reply without usage, the reply handed back whole, and the model type (a property naming the
inner model's). Written before the run, which applied every mutant; the last test was added after it
for its one survivor and checked by applying that mutant by hand. Models are fakes; every expected
value is worked out by hand (an output price of 1e6 USD a million tokens makes one answer token cost
1 USD).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from routegraph.core.catalog import ModelSpec
from routegraph.core.providers.result import chat_result
from routegraph.nodes.metered import BudgetExceededError, MeteredChatModel
from tests.fakes import ScriptedChatModel

QUESTION = [HumanMessage("Rate this answer.")]
# answer tokens only: a call's worst case is max_tokens USD, its real cost output_tokens USD
PER_ANSWER_TOKEN = ModelSpec("judge", "fake", "judge", "cloud", 0.0, 1e6)
# per million tokens: 1 USD in, 2 USD out
CHEAP = ModelSpec("judge", "fake", "judge", "cloud", 1.0, 2.0)


class _Reply(BaseChatModel):
    """One fixed reply: ``usage`` (None: none reported) and ``metadata``."""

    usage: tuple[int, int] | None = None
    metadata: dict[str, Any] = {}

    @property
    def _llm_type(self) -> str:
        return "fixed"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.usage is None:
            message = AIMessage(content="8", response_metadata=dict(self.metadata))
            return ChatResult(generations=[ChatGeneration(message=message)])
        return chat_result("8", self.usage[0], self.usage[1], dict(self.metadata))


def _scripted(output_tokens: int = 50) -> ScriptedChatModel:
    return ScriptedChatModel(answers=["8"], input_tokens=100, output_tokens=output_tokens)


def test_a_worst_case_exactly_at_what_is_left_is_called_and_a_hair_more_is_refused() -> None:
    exact = MeteredChatModel(inner=_scripted(), spec=PER_ANSWER_TOKEN, budget_left=256.0)
    assert exact.invoke(QUESTION).content == "8"  # worst case 256 tokens = 256 USD = the budget
    assert exact.calls == 1
    short = MeteredChatModel(inner=_scripted(), spec=PER_ANSWER_TOKEN, budget_left=255.5)
    with pytest.raises(BudgetExceededError):
        short.invoke(QUESTION)
    assert short.calls == 0
    assert short.inner.calls == 0  # type: ignore[attr-defined]  # the model was never asked


def test_the_default_answer_allowance_is_256_tokens() -> None:
    metered = MeteredChatModel(inner=_scripted(), spec=PER_ANSWER_TOKEN, budget_left=1.0)
    assert metered.max_tokens == 256
    one = MeteredChatModel(inner=_scripted(), spec=PER_ANSWER_TOKEN, budget_left=1.0, max_tokens=1)
    one.invoke(QUESTION)  # worst case 1 USD: exactly the budget
    assert one.cost_usd == 50.0


def test_what_is_left_shrinks_by_what_earlier_calls_cost() -> None:
    # worst case 256 USD a call; each costs 50 USD (50 answer tokens)
    metered = MeteredChatModel(inner=_scripted(), spec=PER_ANSWER_TOKEN, budget_left=306.0)
    metered.invoke(QUESTION)  # 306 left
    metered.invoke(QUESTION)  # 256 left: exactly the worst case
    with pytest.raises(BudgetExceededError, match=r"\$206\.000000 of the budget left"):
        metered.invoke(QUESTION)
    assert (metered.calls, metered.cost_usd) == (2, 100.0)


def test_the_refusal_names_the_worst_case_and_what_is_left_never_below_zero() -> None:
    metered = MeteredChatModel(inner=_scripted(), spec=PER_ANSWER_TOKEN, budget_left=3.5)
    with pytest.raises(BudgetExceededError) as refused:
        metered.invoke(QUESTION)
    assert str(refused.value) == (
        "evaluator call to judge could cost up to $256.000000; $3.500000 of the budget left"
    )
    overspent = MeteredChatModel(
        inner=_scripted(), spec=PER_ANSWER_TOKEN, budget_left=3.5, cost_usd=10.0
    )
    with pytest.raises(BudgetExceededError, match=r"; \$0\.000000 of the budget left$"):
        overspent.invoke(QUESTION)


def test_the_ledger_adds_up_calls_tokens_and_cost() -> None:
    metered = MeteredChatModel(inner=_scripted(), spec=CHEAP, budget_left=1.0)
    assert (metered.calls, metered.input_tokens, metered.output_tokens) == (0, 0, 0)
    assert metered.cost_usd == 0.0
    metered.invoke(QUESTION)
    metered.invoke(QUESTION)
    # each call: 100 tokens in at 1 USD / M and 50 out at 2 USD / M = 200e-6 USD
    assert (metered.calls, metered.input_tokens, metered.output_tokens) == (2, 200, 100)
    assert metered.cost_usd == pytest.approx(400e-6, abs=1e-15)


def test_a_replayed_reply_costs_what_was_recorded() -> None:
    inner = _Reply(usage=(100, 50), metadata={"recorded_cost_usd": 0.25})
    metered = MeteredChatModel(inner=inner, spec=CHEAP, budget_left=1.0)
    metered.invoke(QUESTION)
    assert metered.cost_usd == 0.25  # not the 200e-6 the prices give
    assert (metered.input_tokens, metered.output_tokens) == (100, 50)
    free = MeteredChatModel(
        inner=_Reply(usage=(100, 50), metadata={"recorded_cost_usd": 0}),
        spec=CHEAP,
        budget_left=1.0,
    )
    free.invoke(QUESTION)
    assert free.cost_usd == 0.0


def test_a_reply_without_usage_counts_no_tokens_and_costs_nothing() -> None:
    metered = MeteredChatModel(inner=_Reply(usage=None), spec=CHEAP, budget_left=1.0)
    assert metered.invoke(QUESTION).content == "8"
    assert (metered.calls, metered.input_tokens, metered.output_tokens) == (1, 0, 0)
    assert metered.cost_usd == 0.0


def test_the_reply_is_handed_back_whole() -> None:
    inner = _Reply(usage=(7, 3), metadata={"source": "live"})
    reply = MeteredChatModel(inner=inner, spec=CHEAP, budget_left=1.0).invoke(QUESTION)
    assert reply.usage_metadata == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert reply.response_metadata.get("source") == "live"


def test_the_model_type_names_the_inner_one() -> None:
    metered = MeteredChatModel(inner=_scripted(), spec=CHEAP, budget_left=1.0)
    assert metered._llm_type == "metered-scripted"

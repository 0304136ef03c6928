"""A chat model that prices its calls against the run's budget: what evaluators call.

Self-evaluation and self-consistency ask a model again (a rating, k more samples); those calls
cost money like the answer did. The evaluate step hands evaluators the served model wrapped in
:class:`MeteredChatModel`, which checks each call's worst case against what is left of the
budget (refusing a call that could overrun), and adds each call's real cost and tokens up, so
the run's ``cost_usd`` includes them.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from routegraph.core.catalog import ModelSpec
from routegraph.core.errors import RouteGraphError
from routegraph.nodes.budget import worst_case_cost


class BudgetExceededError(RouteGraphError):
    """A call was not made because its worst-case cost exceeds what is left of the budget."""


class MeteredChatModel(BaseChatModel):
    """``inner`` with a budget check before every call and a ledger of what the calls cost."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseChatModel
    spec: ModelSpec
    budget_left: float
    max_tokens: int = 256
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return f"metered-{self.inner._llm_type}"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        left = self.budget_left - self.cost_usd
        worst = worst_case_cost(self.spec, messages, self.max_tokens, chat=self.inner)
        if worst > left:
            raise BudgetExceededError(
                f"evaluator call to {self.spec.name} could cost up to ${worst:.6f}; "
                f"${max(0.0, left):.6f} of the budget left"
            )
        reply = self.inner.invoke(messages, stop=stop, **kwargs)
        usage: dict[str, Any] = dict(getattr(reply, "usage_metadata", None) or {})
        input_tokens = int(usage.get("input_tokens", 0))
        output_tokens = int(usage.get("output_tokens", 0))
        recorded = reply.response_metadata.get("recorded_cost_usd")
        cost = (
            float(recorded) if recorded is not None else self.spec.cost(input_tokens, output_tokens)
        )
        self.calls += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply.text)
        return ChatResult(generations=[ChatGeneration(message=message)])

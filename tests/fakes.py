"""Fake chat models and evaluators for branch-logic tests (never for quality claims)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from routegraph.core.catalog import Catalog, ModelSpec
from routegraph.core.providers.result import chat_result
from routegraph.evaluators.base import Confidence, EvaluationInput


class ScriptedChatModel(BaseChatModel):
    """Answers every call with ``answers[i]`` (last one repeated) and fixed usage."""

    answers: list[str]
    input_tokens: int = 100
    output_tokens: int = 50
    calls: int = 0
    metadata: dict[str, Any] = {}
    """Extra response metadata of every reply (e.g. ``finish_reason``)."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return chat_result(
            answer, self.input_tokens, self.output_tokens, {"source": "live", **self.metadata}
        )


class FailingChatModel(BaseChatModel):
    """Always raises, like an unreachable server."""

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise ConnectionError("connection refused")


class TableEvaluator:
    """Confidence looked up by the answering model's name."""

    name = "table"

    def __init__(self, by_model: dict[str, float], default: float = 0.0):
        self.by_model = by_model
        self.default = default

    def evaluate(self, item: EvaluationInput) -> Confidence:
        return Confidence(self.by_model.get(item.model, self.default), self.name, {})


def tiny_catalog() -> Catalog:
    """Three priced fake models: small < medium < large."""
    specs = {
        "small": ModelSpec("small", "fake", "small", "local", 0.0, 0.0),
        "medium": ModelSpec("medium", "fake", "medium", "cloud", 1.0, 2.0),
        "large": ModelSpec("large", "fake", "large", "cloud", 10.0, 30.0),
    }
    return Catalog(specs, "tiny")

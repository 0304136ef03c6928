"""Confidence from the answer's own token log-probabilities (llama.cpp or OpenAI logprobs).

A model that is unsure spreads probability over many tokens; the geometric-mean token
probability of its answer is a cheap, reference-free signal that needs no second call. On the
embedded SmolLM2 model it carries signal even where the model cannot rate answers itself.
"""

from __future__ import annotations

import math
from typing import Any

from routegraph.core.errors import RouteGraphError
from routegraph.evaluators.base import Confidence, EvaluationInput, clip01


def token_logprobs(message: Any) -> list[float]:
    """The per-token log-probabilities an AIMessage carries, OpenAI shape, or []."""
    if message is None:
        return []
    raw = message.response_metadata.get("logprobs")
    content = raw.get("content") if isinstance(raw, dict) else None
    if not content:
        return []
    return [float(item["logprob"]) for item in content if item.get("logprob") is not None]


class LogProbEvaluator:
    """Geometric-mean token probability, optionally of the least sure ``tail`` tokens.

    ``mode='mean'`` (default) is exp(mean log p); ``mode='min'`` uses the least likely token,
    a stricter signal for short answers. Answers without log-probabilities (recorded answers,
    providers that do not return them) are passed to ``fallback`` when one is given.
    """

    name = "logprob"

    def __init__(
        self, mode: str = "mean", fallback: Any | None = None, arithmetic_penalty: float = 0.2
    ):
        self.mode = mode
        self.fallback = fallback
        self.arithmetic_penalty = arithmetic_penalty

    def evaluate(self, item: EvaluationInput) -> Confidence:
        logprobs = token_logprobs(item.message)
        if not logprobs:
            return self._without_logprobs(item)
        mean = sum(logprobs) / len(logprobs)
        score = math.exp(min(logprobs)) if self.mode == "min" else math.exp(mean)
        details: dict[str, Any] = {
            "tokens": len(logprobs),
            "mean_logprob": mean,
            "min_logprob": min(logprobs),
        }
        wrong = wrong_equalities(item.answer)
        if wrong:
            # A fluent answer can still compute 12 + 30 = 32: log-probabilities do not see it.
            score *= self.arithmetic_penalty
            details["wrong_equalities"] = wrong
        return Confidence(clip01(score), self.name, details)

    def _without_logprobs(self, item: EvaluationInput) -> Confidence:
        if self.fallback is None:
            return Confidence(0.0, self.name, {"unscorable": True, "reason": "no logprobs"})
        try:
            result = self.fallback.evaluate(item)
        except RouteGraphError as exc:
            return Confidence(
                0.0,
                self.name,
                {"unscorable": True, "reason": f"no logprobs; fallback failed: {exc}"},
            )
        result.details["logprob_fallback"] = "answer carried no log-probabilities"
        return result


def wrong_equalities(answer: str) -> int:
    """How many written equalities in ``answer`` are arithmetically false (e.g. '12 + 30 = 32')."""
    from routegraph.evaluators.arithmetic import check_arithmetic

    return int(check_arithmetic(answer).wrong)

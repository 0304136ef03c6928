"""Confidence from the answer's own token log-probabilities (llama.cpp or OpenAI logprobs).

A model that is unsure spreads probability over many tokens; the geometric-mean token
probability of its answer is a cheap, reference-free signal that needs no second call. On the
embedded SmolLM2 model it carries signal even where the model cannot rate answers itself.
"""

from __future__ import annotations

import math
from typing import Any

from evaluators.base import Confidence, EvaluationInput, clip01


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

    def __init__(self, mode: str = "mean", fallback: Any | None = None):
        self.mode = mode
        self.fallback = fallback

    def evaluate(self, item: EvaluationInput) -> Confidence:
        logprobs = token_logprobs(item.message)
        if not logprobs:
            if self.fallback is not None:
                result = self.fallback.evaluate(item)
                result.details["logprob_fallback"] = "answer carried no log-probabilities"
                return result
            return Confidence(0.0, self.name, {"unscorable": True, "reason": "no logprobs"})
        mean = sum(logprobs) / len(logprobs)
        score = math.exp(min(logprobs)) if self.mode == "min" else math.exp(mean)
        return Confidence(
            clip01(score),
            self.name,
            {"tokens": len(logprobs), "mean_logprob": mean, "min_logprob": min(logprobs)},
        )

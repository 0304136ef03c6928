"""The one signature every confidence evaluator shares.

An evaluator gets an :class:`EvaluationInput` (the query, the answer and the message that carried
it, with its metadata) and returns a :class:`Confidence` in [0, 1]. Online evaluators need no
reference (self-evaluation, log-probabilities, self-consistency, a learned verifier); offline
scorers compare with a reference answer (benchmarks, replay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import AIMessage


@dataclass(frozen=True)
class EvaluationInput:
    """What an evaluator may look at."""

    query: str
    answer: str
    model: str
    message: AIMessage | None = None
    reference: str | None = None


@dataclass
class Confidence:
    """Estimated probability that the answer is good enough."""

    score: float
    evaluator: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "evaluator": self.evaluator, **self.details}


@runtime_checkable
class Evaluator(Protocol):
    """Anything with a ``name`` and ``evaluate(item) -> Confidence``."""

    name: str

    def evaluate(self, item: EvaluationInput) -> Confidence: ...


def clip01(value: float) -> float:
    return max(0.0, min(1.0, float(value)))

"""Evaluators by name, built for one generating model."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from routegraph.core.context import EVALUATORS
from routegraph.core.errors import InvalidInputError
from routegraph.evaluators.base import Confidence, EvaluationInput, Evaluator
from routegraph.evaluators.learned import VerifierEvaluator
from routegraph.evaluators.logprob import LogProbEvaluator
from routegraph.evaluators.reference import ReferenceScorer
from routegraph.evaluators.self_consistency import SelfConsistency
from routegraph.evaluators.self_eval import SelfEvaluation


class NoEvaluation:
    """Accepts every answer (confidence 1): for graphs whose router alone decides."""

    name = "none"

    def evaluate(self, item: EvaluationInput) -> Confidence:
        return Confidence(1.0, self.name, {"note": "not evaluated"})


def make_evaluator(name: str, model: BaseChatModel, samples: int = 3) -> Evaluator:
    """The evaluator called ``name`` for answers of ``model``.

    Recorded answers carry no log-probabilities, so 'logprob' falls back to the learned
    verifier for them.
    """
    if name == "logprob":
        return LogProbEvaluator(fallback=VerifierEvaluator())
    if name == "self_eval":
        return SelfEvaluation(model)
    if name == "self_consistency":
        return SelfConsistency(model, samples=samples)
    if name == "verifier":
        return VerifierEvaluator()
    if name == "reference":
        return ReferenceScorer()
    if name == "none":
        return NoEvaluation()
    raise InvalidInputError("evaluator", f"unknown evaluator {name!r}", EVALUATORS)

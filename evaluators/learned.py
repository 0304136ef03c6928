"""The learned verifier (FrugalGPT-style scorer) as a confidence evaluator.

``LearnedVerifier`` (``routegraph.evaluators.verifier``) predicts P(answer is good | query,
answer) from features trained on recorded answers and their correctness; this wraps it in the shared
evaluator signature and loads the shipped default artifact once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from routegraph.evaluators.base import Confidence, EvaluationInput, clip01


@lru_cache(maxsize=1)
def default_verifier() -> Any:
    from routegraph.evaluators.verifier import LearnedVerifier

    return LearnedVerifier.default()


class VerifierEvaluator:
    """Confidence = the learned verifier's probability that the answer is good."""

    name = "verifier"

    def __init__(self, verifier: Any | None = None):
        self.verifier = verifier

    def evaluate(self, item: EvaluationInput) -> Confidence:
        verifier = self.verifier if self.verifier is not None else default_verifier()
        probability = float(verifier.predict_proba([item.query], [item.answer])[0])
        return Confidence(clip01(probability), self.name, {})

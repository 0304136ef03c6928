"""Self-consistency: sample the model k more times and measure agreement with its answer.

Answers are compared by their canonical final answer (option letter, number, or normalised
text), so differently worded derivations of the same result agree.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from routegraph.evaluators.answers import canonical_answer
from routegraph.evaluators.base import Confidence, EvaluationInput


class SelfConsistency:
    """Fraction of ``samples`` re-sampled answers that agree with the evaluated one."""

    name = "self_consistency"

    def __init__(self, sampler: BaseChatModel, samples: int = 3, temperature: float = 0.8):
        self.sampler = sampler
        self.samples = samples
        self.temperature = temperature

    def evaluate(self, item: EvaluationInput) -> Confidence:
        target = canonical_answer(item.answer)
        agree = 0
        keys = []
        for i in range(self.samples):
            reply = self.sampler.invoke(
                [HumanMessage(content=item.query)], temperature=self.temperature, seed=1000 + i
            )
            key = canonical_answer(reply.text)
            keys.append(key)
            agree += key == target
        return Confidence(
            agree / self.samples, self.name, {"answer_key": target, "sample_keys": keys}
        )

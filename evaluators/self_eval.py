"""LLM self-evaluation: a model rates an answer from 1 to 5 (AutoMix-style verification).

Small models often cannot do this (SmolLM2-135M echoes the question instead of a rating), so an
unparseable rating counts as low confidence and is recorded as such, never silently ignored.
"""

from __future__ import annotations

import re

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from routegraph.evaluators.base import Confidence, EvaluationInput

RATING_PROMPT = (
    "Rate how likely the answer below is correct and complete, from 1 (surely wrong) to 5 "
    "(surely right). Reply with the single digit only.\n\nQuestion: {query}\n\nAnswer: {answer}"
    "\n\nRating (1-5):"
)
_DIGIT = re.compile(r"\b([1-5])\b")


def parse_rating(text: str) -> int | None:
    """The first standalone digit 1-5 in ``text``, else None."""
    match = _DIGIT.search(text)
    return int(match.group(1)) if match else None


class SelfEvaluation:
    """Ask ``judge`` (often the answering model itself) to rate the answer."""

    name = "self_eval"

    def __init__(self, judge: BaseChatModel, unparseable_score: float = 0.0):
        self.judge = judge
        self.unparseable_score = unparseable_score

    def evaluate(self, item: EvaluationInput) -> Confidence:
        reply = self.judge.invoke(
            [
                SystemMessage(content="You grade answers. Reply with one digit."),
                HumanMessage(content=RATING_PROMPT.format(query=item.query, answer=item.answer)),
            ]
        )
        rating = parse_rating(reply.text)
        if rating is None:
            return Confidence(
                self.unparseable_score,
                self.name,
                {"parse_failed": True, "raw_rating": reply.text[:200]},
            )
        return Confidence((rating - 1) / 4, self.name, {"rating": rating})

"""Offline scorers that compare an answer with a reference (benchmarks and replay)."""

from __future__ import annotations

from routegraph.evaluators.answers import choice_letter, final_number, normalise_number
from routegraph.evaluators.base import Confidence, EvaluationInput


def gsm8k_correct(answer: str, reference: str) -> bool:
    """GSM8K: the answer's final number equals the gold number."""
    gold = final_number(reference) if "####" in reference else normalise_number(reference)
    return gold is not None and final_number(answer) == gold


def multiple_choice_correct(answer: str, reference: str) -> bool:
    """Multiple choice: the chosen letter equals the gold letter."""
    return choice_letter(answer) == reference.strip().upper()[:1]


class ReferenceScorer:
    """Confidence 1.0 for a correct answer, 0.0 for a wrong one.

    Uses the reference passed in, else the reference or recorded correctness that a replayed
    message carries. With neither, the answer cannot be scored: confidence 0 and a note.
    """

    name = "reference"

    def evaluate(self, item: EvaluationInput) -> Confidence:
        meta = item.message.response_metadata if item.message is not None else {}
        reference = item.reference or meta.get("reference")
        if reference:
            is_letter = len(reference.strip()) == 1 and reference.strip().isalpha()
            correct = (
                multiple_choice_correct(item.answer, reference)
                if is_letter
                else gsm8k_correct(item.answer, reference)
            )
            kind = "multiple_choice" if is_letter else "final_number"
            return Confidence(float(correct), self.name, {"kind": kind, "reference": reference})
        recorded = meta.get("recorded_quality")
        if recorded is not None:
            return Confidence(float(recorded), self.name, {"kind": "recorded_quality"})
        return Confidence(0.0, self.name, {"unscorable": True, "reason": "no reference"})

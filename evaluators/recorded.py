"""Evaluators for recorded answers (``bench --graph`` on a RouterBench-format file).

Why: a cascade judges the answer, not the prompt, so on a file of recorded answers it needs an
evaluator that reads those answers - whatever the task. Two, chosen by what the file holds:

* :class:`RecordedConfidence`: the model's own confidence in its answer, recorded beside it in
  an ``M|confidence`` column (e.g. from its log-probabilities when the file was made);
* :func:`fit_file_verifier`: the learned verifier (answer-shape and arithmetic features, small
  trees) fitted on the *training split's* recorded answers and their recorded quality, so it
  works on any text the file holds and never sees the validation or test answers it scores.
"""

from __future__ import annotations

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import InvalidInputError
from routegraph.evaluators.base import Confidence, EvaluationInput, clip01
from routegraph.evaluators.learned import VerifierEvaluator

MAX_FIT_ANSWERS = 20_000
"""Recorded answers the file verifier is fitted on at most (a seeded sample beyond that)."""


class RecordedConfidence:
    """Confidence = the answering model's recorded ``M|confidence`` for this prompt."""

    name = "recorded"

    def __init__(self, data: RoutingDataset):
        if data.confidence is None or not np.isfinite(data.confidence).any():
            raise InvalidInputError(
                "evaluator", f"{data.name} records no M|confidence values", "a file with them"
            )
        self._table: dict[tuple[str, str], float] = {}
        for i, prompt in enumerate(data.prompts):
            for j, model in enumerate(data.models):
                value = data.confidence[i, j]
                if np.isfinite(value):
                    self._table[(prompt, model)] = float(value)

    def evaluate(self, item: EvaluationInput) -> Confidence:
        value = self._table.get((item.query, item.model))
        if value is None:
            raise LookupError(f"no recorded confidence of {item.model} for this prompt")
        return Confidence(clip01(value), self.name, {})


def fit_file_verifier(train: RoutingDataset, seed: int = 0) -> VerifierEvaluator:
    """The learned verifier fitted on ``train``'s recorded answers (good = quality >= 0.5)."""
    from routegraph.evaluators.verifier import LearnedVerifier

    if train.responses is None:
        raise InvalidInputError(
            "evaluator",
            f"{train.name} records no answer texts (M|model_response)",
            "a file with them",
        )
    queries, answers, labels = [], [], []
    for i, prompt in enumerate(train.prompts):
        for j, text in enumerate(train.responses[i]):
            if text and np.isfinite(train.quality[i, j]):
                queries.append(prompt)
                answers.append(text)
                labels.append(float(train.quality[i, j] >= 0.5))
    if not labels:
        raise InvalidInputError(
            "evaluator",
            f"{train.name} records no answer texts (M|model_response)",
            "a file with them",
        )
    if len(set(labels)) < 2:
        raise InvalidInputError(
            "evaluator", f"{train.name}'s training answers are all good or all bad", "both"
        )
    if len(labels) > MAX_FIT_ANSWERS:
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), MAX_FIT_ANSWERS, False))
        queries = [queries[k] for k in keep]
        answers = [answers[k] for k in keep]
        labels = [labels[k] for k in keep]
    verifier = LearnedVerifier(seed=seed).fit(queries, answers, labels)
    evaluator = VerifierEvaluator(verifier)
    evaluator.name = "verifier_fitted"
    return evaluator

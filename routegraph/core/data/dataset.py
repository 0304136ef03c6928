"""The one in-memory shape every loader returns: a prompts x models table of recorded outcomes.

Routers train on it, the benchmark harness scores on it and the replay provider answers from it,
so a RouterBench CSV a user brings and the shared RouteLLM / MMLU-Pro recordings look alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RoutingDataset:
    """Recorded outcomes of ``len(models)`` models on ``len(prompts)`` prompts.

    Arrays are row-aligned with ``prompts``; columns follow ``models``. Missing cells (a model with
    no result for a prompt) are ``NaN`` in ``quality`` and ``cost_usd`` and ``None`` in
    ``responses``; ``missing_cells`` counts them.
    """

    name: str
    prompts: list[str]
    models: list[str]
    quality: np.ndarray
    """Quality in [0, 1] per (prompt, model): 0/1 correctness, or a judge score rescaled."""
    cost_usd: np.ndarray
    """USD per call per (prompt, model): recorded where the data has it, else estimated."""
    cost_source: str = "recorded"
    """How ``cost_usd`` was obtained, in words, e.g. 'token counts x catalog prices'."""
    prompt_ids: list[str] = field(default_factory=list)
    responses: list[list[str | None]] | None = None
    """Recorded answer text per (prompt, model), where the data has it."""
    input_tokens: np.ndarray | None = None
    output_tokens: np.ndarray | None = None
    categories: list[str] | None = None
    references: list[str | None] | None = None
    """Gold answers (GSM8K number, multiple-choice letter) where known."""
    contaminated: np.ndarray | None = None
    """Boolean per prompt: overlaps public router-training data; excluded from test splits."""
    missing_cells: int = 0
    confidence: np.ndarray | None = None
    """A model's own confidence in its recorded answer per (prompt, model), in [0, 1] (NaN where
    not recorded): RouterBench files' optional ``M|confidence`` columns, e.g. from log-probs."""
    strong_model: str | None = None
    """For two-model data (RouteLLM): the strong model's name."""
    weak_model: str | None = None

    def __post_init__(self) -> None:
        if not self.prompt_ids:
            self.prompt_ids = [str(i) for i in range(len(self.prompts))]
        if self.contaminated is None:
            self.contaminated = np.zeros(len(self.prompts), dtype=bool)

    def __len__(self) -> int:
        return len(self.prompts)

    def fingerprint(self) -> str:
        """A short hash of prompts, models and labels, stored in router artifacts."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.models).encode())
        for prompt in self.prompts:
            digest.update(prompt.encode("utf-8", "replace"))
            digest.update(b"\x1e")
        digest.update(np.nan_to_num(self.quality, nan=-1.0).astype(np.float32).tobytes())
        return digest.hexdigest()[:16]

    def subset(self, index: np.ndarray | list[int]) -> RoutingDataset:
        """The rows in ``index`` as a new dataset (used for splits)."""
        idx = np.asarray(index, dtype=int)

        def pick(values: list | None) -> list | None:
            return None if values is None else [values[i] for i in idx]

        return RoutingDataset(
            name=self.name,
            prompts=[self.prompts[i] for i in idx],
            models=list(self.models),
            quality=self.quality[idx],
            cost_usd=self.cost_usd[idx],
            cost_source=self.cost_source,
            prompt_ids=[self.prompt_ids[i] for i in idx],
            responses=pick(self.responses),
            input_tokens=None if self.input_tokens is None else self.input_tokens[idx],
            output_tokens=None if self.output_tokens is None else self.output_tokens[idx],
            categories=pick(self.categories),
            references=pick(self.references),
            contaminated=None if self.contaminated is None else self.contaminated[idx],
            missing_cells=int(np.isnan(self.quality[idx]).sum()),
            confidence=None if self.confidence is None else self.confidence[idx],
            strong_model=self.strong_model,
            weak_model=self.weak_model,
        )

    def with_models(self, models: list[str]) -> RoutingDataset:
        """The same prompts with only the model columns ``models`` (in that order)."""
        cols = [self.models.index(m) for m in models]
        responses = (
            None if self.responses is None else [[row[j] for j in cols] for row in self.responses]
        )

        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None or values.ndim != 2 else values[:, cols]

        return RoutingDataset(
            name=self.name,
            prompts=list(self.prompts),
            models=list(models),
            quality=self.quality[:, cols],
            cost_usd=self.cost_usd[:, cols],
            cost_source=self.cost_source,
            prompt_ids=list(self.prompt_ids),
            responses=responses,
            input_tokens=pick(self.input_tokens),
            output_tokens=pick(self.output_tokens),
            categories=None if self.categories is None else list(self.categories),
            references=None if self.references is None else list(self.references),
            contaminated=self.contaminated,
            missing_cells=int(np.isnan(self.quality[:, cols]).sum()),
            confidence=pick(self.confidence),
            strong_model=self.strong_model if self.strong_model in models else None,
            weak_model=self.weak_model if self.weak_model in models else None,
        )

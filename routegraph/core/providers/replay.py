"""Replay: answer with the recorded output of a real model on a benchmark prompt.

Whole graphs then run offline on real model outputs: a graph asking "gpt-4-1106-preview" a GSM8K
question gets GPT-4's recorded answer, its token usage (counted offline from the recorded text)
and whether that answer was correct. Prompts that were never recorded raise
:class:`ModelUnavailableError` instead of inventing an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ModelUnavailableError
from routegraph.core.providers.result import chat_result

# Which shared datasets hold recordings of which model ids (RouteLLM pair vs MMLU-Pro's nine).
ROUTELLM_MODELS = ("gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1")
ROUTELLM_DATASETS = ("gsm8k", "mt_bench", "mmlu")


@dataclass(frozen=True)
class Recording:
    """One recorded answer of one model to one prompt."""

    dataset: str
    row: int
    text: str | None
    correct: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    reference: str | None


def normalise_prompt(text: str) -> str:
    """Key used to match a query to a recorded prompt: whitespace-insensitive."""
    return " ".join(text.split())


def datasets_for(model_id: str) -> tuple[str, ...]:
    """The shared datasets that may hold ``model_id``'s answers (Mixtral is in both sets)."""
    if model_id == "gpt-4-1106-preview":
        return ROUTELLM_DATASETS
    if model_id in ROUTELLM_MODELS:
        return (*ROUTELLM_DATASETS, "mmlu_pro")
    return ("mmlu_pro",)


@lru_cache(maxsize=16)
def recording_index(model_id: str) -> dict[str, Recording]:
    """prompt -> recording, over every shared dataset that recorded ``model_id``."""
    from routegraph.core.data import load_dataset

    index: dict[str, Recording] = {}
    for name in datasets_for(model_id):
        try:
            data = load_dataset(name)
        except Exception:  # a missing dataset only narrows what can be replayed
            continue
        if model_id in data.models:
            index_dataset(data, model_id, index)
    return index


def index_dataset(
    data: RoutingDataset, model_id: str, index: dict[str, Recording] | None = None
) -> dict[str, Recording]:
    """Add ``model_id``'s recordings in ``data`` to ``index`` (first recording of a prompt wins)."""
    index = {} if index is None else index
    name = data.name
    if model_id in data.models:
        col = data.models.index(model_id)
        for row, prompt in enumerate(data.prompts):
            quality = data.quality[row, col]
            if quality != quality:  # NaN: no result recorded for this prompt
                continue
            text = data.responses[row][col] if data.responses else None
            index.setdefault(
                normalise_prompt(prompt),
                Recording(
                    dataset=name,
                    row=row,
                    text=text,
                    correct=float(quality),
                    input_tokens=_count(data.input_tokens, row, col),
                    output_tokens=_count(data.output_tokens, row, col),
                    cost_usd=float(data.cost_usd[row, col]),
                    reference=data.references[row] if data.references else None,
                ),
            )
    return index


def _count(table: np.ndarray | None, row: int, col: int) -> int:
    if table is None:
        return 0
    value = float(table[row, col])
    return int(value) if value == value else 0


def find_recording(
    model_id: str, prompt: str, index: dict[str, Recording] | None = None
) -> Recording | None:
    table = recording_index(model_id) if index is None else index
    return table.get(normalise_prompt(prompt))


class ReplayChatModel(BaseChatModel):
    """A chat model that returns a real model's recorded answer to the last user message."""

    model_id: str
    """The model id used in the data files, e.g. 'gpt-4-1106-preview'."""
    index: dict[str, Recording] | None = None
    """Recordings to answer from; default: every shared dataset that recorded ``model_id``."""

    @classmethod
    def from_dataset(cls, data: RoutingDataset, model_id: str) -> ReplayChatModel:
        """Replay ``model_id``'s answers recorded in ``data`` (e.g. a RouterBench file)."""
        return cls(model_id=model_id, index=index_dataset(data, model_id))

    @property
    def _llm_type(self) -> str:
        return "routegraph-replay"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        recording = find_recording(self.model_id, prompt, self.index)
        if recording is None:
            raise ModelUnavailableError(
                self.model_id,
                "no recorded answer for this prompt (replay only knows benchmark prompts)",
            )
        if recording.text:
            content = recording.text
        else:  # MMLU recorded only correctness, not the text
            verdict = "correct" if recording.correct else "incorrect"
            content = f"[recorded outcome only: {self.model_id} answered {verdict}]"
        return chat_result(
            content,
            recording.input_tokens,
            recording.output_tokens,
            {
                "model_name": self.model_id,
                "source": "recorded",
                "dataset": recording.dataset,
                "recorded_quality": recording.correct,
                "recorded_cost_usd": recording.cost_usd,
                "reference": recording.reference,
            },
        )

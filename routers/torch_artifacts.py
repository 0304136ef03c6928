"""How the two torch routers (encoder classifier, causal LLM) store their weights: safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from routegraph.errors import ArtifactError


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

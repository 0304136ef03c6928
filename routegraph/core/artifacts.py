"""The one on-disk format of every trained artifact (routers, the learned verifier).

An artifact is a folder holding a JSON record (``router.json``, ``verifier.json``) and, when the
model has learned arrays, ``arrays.npz``. Why plain data: an artifact may come from anywhere, and
``pickle`` would run whatever it holds; JSON + npz (read with ``allow_pickle=False``) cannot. The
record lists the names of its arrays, so a truncated or mixed-up folder is caught on load with an
:class:`~routegraph.core.errors.ArtifactError` that names the file, never a ``KeyError`` later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.errors import ArtifactError

ARRAYS_FILE = "arrays.npz"


def write_artifact(
    directory: str | Path, record_file: str, record: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Path:
    """Write ``record`` (plus the sorted names of ``arrays``) as JSON and ``arrays`` as npz."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if arrays:
        np.savez_compressed(out / ARRAYS_FILE, **arrays)  # type: ignore[arg-type]
    full = {**record, "arrays": sorted(arrays)}
    (out / record_file).write_text(json.dumps(full, indent=2, default=_jsonable))
    return out


def read_artifact(
    directory: str | Path, record_file: str, what: str, required: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The record and arrays written by :func:`write_artifact`; clear errors when broken.

    ``what`` names the artifact in messages ("router", "verifier"); ``required`` are record keys
    that must be present.
    """
    path = Path(directory)
    record_path = path / record_file
    if not record_path.is_file():
        raise ArtifactError(f"{path}: not a {what} artifact (no {record_file})")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{record_path}: corrupted {what} metadata ({exc})") from None
    if not isinstance(record, dict) or not set(required) <= set(record):
        raise ArtifactError(f"{record_path}: missing {' or '.join(repr(k) for k in required)}")
    arrays: dict[str, np.ndarray] = {}
    expected = record.get("arrays", [])
    if expected:
        try:
            with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zipfile / ValueError / OSError all mean "broken file"
            raise ArtifactError(f"{path / ARRAYS_FILE}: corrupted {what} arrays ({exc})") from None
        missing = set(expected) - set(arrays)
        if missing:
            raise ArtifactError(f"{path / ARRAYS_FILE}: missing arrays {sorted(missing)}")
    return record, arrays


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")

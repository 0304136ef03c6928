"""Versioned router folders: ``routegraph learn`` writes versions, ``promote`` picks one.

A versioned folder holds one router artifact per version (``v0001/``, ``v0002/``, ...) and
``promoted.json`` naming the version in use. Anything that loads a router from the folder
(``router=DIR`` in a graph's context, ``serve --router DIR``, ``routegraph route``) gets the
promoted version, and the graphs re-read the pointer on every routing step, so a promotion
reaches a running server on its next request. Promotion is explicit - learning never swaps a
router in by itself - and the pointer keeps the history of what was promoted when.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routegraph.core.errors import ArtifactError, InvalidInputError

POINTER = "promoted.json"
VERSION = re.compile(r"^v(\d{4,})$")


def is_versioned(directory: Path) -> bool:
    """A folder of versions (it has a pointer, or version subfolders and no artifact)."""
    return (directory / POINTER).is_file() or bool(versions(directory))


def versions(directory: Path) -> list[str]:
    """Version folder names, oldest first."""
    if not directory.is_dir():
        return []
    found = [p.name for p in directory.iterdir() if p.is_dir() and VERSION.match(p.name)]
    return sorted(found, key=lambda name: int(name[1:]))


def next_version(directory: Path) -> str:
    existing = versions(directory)
    return f"v{(int(existing[-1][1:]) + 1) if existing else 1:04d}"


def read_pointer(directory: Path) -> dict[str, Any]:
    path = directory / POINTER
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("version"), str):
        raise ArtifactError(f"{path}: names no version")
    return record


def promoted(directory: Path) -> str | None:
    """The promoted version's name (None: nothing promoted yet)."""
    version = read_pointer(directory).get("version")
    return str(version) if version else None


def promoted_path(directory: Path) -> Path:
    """The artifact folder of the promoted version, else an error saying how to promote."""
    version = promoted(directory)
    if version is None:
        found = versions(directory)
        hint = f"routegraph promote {directory} {found[-1]}" if found else "routegraph learn"
        raise ArtifactError(f"{directory}: no version promoted yet (run: {hint})")
    path = directory / version
    if not path.is_dir():
        raise ArtifactError(f"{directory}: promoted version {version} is missing")
    return path


def promote(directory: Path, version: str, note: str = "") -> dict[str, Any]:
    """Point ``directory`` at ``version`` (atomically: a reader sees the old or the new
    pointer, never half a file); returns the new pointer record."""
    found = versions(directory)
    if version not in found:
        raise InvalidInputError("version", f"{version!r} is not in {directory}", found or "none")
    record = read_pointer(directory)
    history = list(record.get("history", []))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    history.append({"version": version, "promoted_at": now, "note": note})
    new = {"version": version, "promoted_at": now, "history": history}
    tmp = directory / f".{POINTER}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(new, indent=2))
    os.replace(tmp, directory / POINTER)
    return new


def write_version(
    router: Any, report: dict[str, Any], out: Path, report_name: str, field: str = "--out"
) -> Path:
    """Save ``router`` as the next version of folder ``out`` with ``report`` (as
    ``report_name``); nothing is promoted. ``field`` names the option in errors."""
    if out.exists() and not out.is_dir():
        raise InvalidInputError(field, f"{out} is a file", "a folder of router versions")
    if (out / "router.json").is_file():
        raise InvalidInputError(
            field, f"{out} holds a single router artifact", "a new or versioned folder"
        )
    path = out / next_version(out)
    router.save(path)
    (path / report_name).write_text(json.dumps(report, indent=2))
    return path

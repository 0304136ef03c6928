"""Where routegraph finds its data and caches, without any network."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The shared benchmark data: ``$ROUTEGRAPH_DATA_DIR``, else ``<project>/../shared/data``."""
    env = os.environ.get("ROUTEGRAPH_DATA_DIR")
    if env:
        return Path(env)
    return PROJECT_ROOT.parent / "shared" / "data"


def cache_dir() -> Path:
    """Embedding and token-count caches: ``$ROUTEGRAPH_CACHE_DIR``, else ``~/.cache/routegraph``."""
    env = os.environ.get("ROUTEGRAPH_CACHE_DIR")
    path = Path(env) if env else Path.home() / ".cache" / "routegraph"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """Trained router and verifier artifacts shipped with the package."""
    return Path(__file__).resolve().parents[1] / "artifacts"

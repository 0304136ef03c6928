"""The model catalog: names, providers, tiers and prices.

The catalog is a small TOML file (``catalog.toml`` beside this module, or one a user passes with
``ROUTEGRAPH_CATALOG``) read into :class:`ModelSpec` records. Cost of a call is always its token
usage times these prices; nothing here guesses usage.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from routegraph.core.errors import InvalidInputError

Provider = Literal["llamacpp", "openai", "ollama", "replay", "fake"]
Tier = Literal["local", "cloud"]
PROVIDERS: tuple[str, ...] = ("llamacpp", "openai", "ollama", "replay", "fake")
TIERS: tuple[str, ...] = ("local", "cloud")
DEFAULT_CATALOG = Path(__file__).with_name("catalog.toml")


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry."""

    name: str
    provider: str
    model: str
    tier: str
    input_price: float
    """USD per million input tokens."""
    output_price: float
    """USD per million output tokens."""
    description: str = ""
    fallback: str | None = None
    """Catalog name to use when this model is unreachable (e.g. recorded answers offline)."""
    context_window: int | None = None
    """Tokens the model takes, prompt and answer together; None: not known (not checked)."""

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for one call with this usage."""
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6


class Catalog:
    """Named models, looked up by catalog name or by recorded/provider model id."""

    def __init__(self, specs: dict[str, ModelSpec], source: str = "<memory>"):
        self.specs = dict(specs)
        self.source = source

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.specs.values())

    def names(self) -> list[str]:
        return list(self.specs)

    def get(self, name: str, field: str = "model") -> ModelSpec:
        """The spec called ``name`` (or whose provider model id is ``name``), else a clear error."""
        if name in self.specs:
            return self.specs[name]
        for spec in self.specs.values():
            if spec.model == name:
                return spec
        raise InvalidInputError(field, f"unknown model {name!r}", self.names())

    def with_model(self, spec: ModelSpec) -> Catalog:
        """A copy with ``spec`` added or replaced (for tests and user extensions)."""
        return Catalog({**self.specs, spec.name: spec}, self.source)


def parse_catalog(text: str, source: str) -> Catalog:
    """Parse catalog TOML; every problem names the file, the entry and the field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError("catalog", f"{source} is not valid TOML ({exc})") from None
    models = raw.get("models")
    if not isinstance(models, dict) or not models:
        raise InvalidInputError("catalog", f"{source} has no [models.<name>] tables")
    specs: dict[str, ModelSpec] = {}
    for name, entry in models.items():
        where = f"catalog {source} models.{name}"
        if not isinstance(entry, dict):
            raise InvalidInputError(where, "is not a table")
        provider = entry.get("provider")
        if provider not in PROVIDERS:
            raise InvalidInputError(f"{where}.provider", f"{provider!r} is unknown", PROVIDERS)
        tier = entry.get("tier", "cloud")
        if tier not in TIERS:
            raise InvalidInputError(f"{where}.tier", f"{tier!r} is unknown", TIERS)
        prices = {}
        for key in ("input_price", "output_price"):
            value = entry.get(key, 0.0)
            if not isinstance(value, int | float) or value < 0:
                raise InvalidInputError(f"{where}.{key}", f"{value!r} is invalid", "a number >= 0")
            prices[key] = float(value)
        window = entry.get("context_window")
        if window is not None and (not isinstance(window, int) or window < 16):
            raise InvalidInputError(
                f"{where}.context_window", f"{window!r} is invalid", "an integer >= 16 (tokens)"
            )
        specs[name] = ModelSpec(
            name=name,
            provider=provider,
            model=str(entry.get("model", name)),
            tier=tier,
            description=str(entry.get("description", "")),
            fallback=entry.get("fallback"),
            context_window=window,
            **prices,
        )
    for spec in specs.values():
        if spec.fallback and spec.fallback not in specs:
            raise InvalidInputError(
                f"catalog {source} models.{spec.name}.fallback",
                f"{spec.fallback!r} is not in the catalog",
                specs,
            )
    return Catalog(specs, source)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read the catalog from ``path``, ``$ROUTEGRAPH_CATALOG`` or the packaged default."""
    chosen = path or os.environ.get("ROUTEGRAPH_CATALOG") or DEFAULT_CATALOG
    return _load_cached(str(chosen))


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Catalog:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            "catalog", f"cannot read {path} ({exc.__class__.__name__})"
        ) from None
    catalog = parse_catalog(text, path)
    # Environment overrides of provider model ids, so users need not edit the file.
    overrides = {"cloud": "ROUTEGRAPH_CLOUD_MODEL", "ollama": "ROUTEGRAPH_OLLAMA_MODEL"}
    for name, env in overrides.items():
        if name in catalog and os.environ.get(env):
            old = catalog.specs[name]
            catalog.specs[name] = ModelSpec(**{**old.__dict__, "model": os.environ[env]})
    return catalog

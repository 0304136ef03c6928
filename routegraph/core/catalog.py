"""The model catalog: names, providers, tiers and prices.

The catalog is a small TOML file (``catalog.toml`` beside this module, or one a user passes with
``ROUTEGRAPH_CATALOG``) read into :class:`ModelSpec` records. Cost of a call is always its token
usage times these prices; nothing here guesses usage.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from routegraph.core.errors import InvalidInputError

Tier = Literal["local", "cloud"]
BUILT_IN_PROVIDERS: tuple[str, ...] = ("llamacpp", "openai", "ollama", "replay", "fake")
"""Providers routegraph builds itself (``openai``: any OpenAI-compatible endpoint)."""
INIT_PROVIDERS: dict[str, tuple[str, str]] = {
    "anthropic": ("langchain-anthropic", "anthropic"),
    "google_genai": ("langchain-google-genai", "google"),
    "mistralai": ("langchain-mistralai", "mistral"),
    "groq": ("langchain-groq", "groq"),
    "bedrock_converse": ("langchain-aws", "bedrock"),
    "azure_openai": ("langchain-openai", "azure"),
    "deepseek": ("langchain-deepseek", "deepseek"),
    "xai": ("langchain-xai", "xai"),
}
"""Providers built with LangChain's ``init_chat_model``: provider -> (the LangChain package, the
routegraph extra that installs it: ``pip install "routegraph[anthropic]"``)."""
PROVIDERS: tuple[str, ...] = (*BUILT_IN_PROVIDERS, *INIT_PROVIDERS)
TIERS: tuple[str, ...] = ("local", "cloud")
DEFAULT_CATALOG = Path(__file__).with_name("catalog.toml")
CONFIG_VARIABLE = "ROUTEGRAPH_CONFIG"
CONFIG_NAME = "routegraph.toml"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENTRY_FIELDS = frozenset(
    {"provider", "model", "tier", "input_price", "output_price", "description", "fallback",
     "context_window", "base_url", "api_key_env", "timeout_s", "max_output_tokens"}
)  # fmt: skip


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
    base_url: str | None = None
    """This model's own endpoint (OpenAI-compatible, Ollama, ...); None: the provider's default
    (``OPENAI_BASE_URL`` / ``OLLAMA_HOST`` for the packaged entries)."""
    api_key_env: str | None = None
    """The NAME of the environment variable holding this model's key (never the key)."""
    timeout_s: float | None = None
    """Seconds a call may wait (None: the run's ``call_timeout_s``)."""
    max_output_tokens: int | None = None
    """Most tokens the model may generate per call (the run's ``max_tokens`` is capped to it)."""
    price_source: str = "catalog"
    """Where the prices came from: the catalog file, the user's config, or a price table."""

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


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # also a model declared twice
        raise InvalidInputError("catalog", f"{source} is not valid TOML ({exc})") from None
    models = raw.get("models")
    if not isinstance(models, dict) or not models:
        raise InvalidInputError("catalog", f"{source} has no [models.<name>] tables")
    return models


def parse_entry(
    name: str, entry: Any, where: str, base: ModelSpec | None = None, source: str = "catalog"
) -> ModelSpec:
    """One ``[models.<name>]`` table as a spec (its fields over ``base``'s, where it overrides
    a packaged entry); every problem names ``where`` and the field."""
    if not isinstance(entry, dict):
        raise InvalidInputError(where, "is not a table")
    unknown = sorted(set(entry) - ENTRY_FIELDS)
    if "api_key" in unknown:  # a secret in a file that gets committed and shared
        raise InvalidInputError(
            f"{where}.api_key",
            "keys are never written in the file",
            "api_key_env = NAME of the environment variable holding the key",
        )
    if unknown:
        raise InvalidInputError(f"{where}.{unknown[0]}", "is not a model field", ENTRY_FIELDS)
    fields_: dict[str, Any] = dict(base.__dict__) if base else {"name": name}
    fields_.update(entry)
    provider = fields_.get("provider")
    if provider not in PROVIDERS:
        raise InvalidInputError(f"{where}.provider", f"{provider!r} is unknown", PROVIDERS)
    tier = fields_.get("tier", "cloud")
    if tier not in TIERS:
        raise InvalidInputError(f"{where}.tier", f"{tier!r} is unknown", TIERS)
    for key in ("input_price", "output_price"):
        value = fields_.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise InvalidInputError(f"{where}.{key}", f"{value!r} is invalid", "a number >= 0")
    for key, least in (("context_window", 16), ("max_output_tokens", 1)):
        value = fields_.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < least):  # fmt: skip
            raise InvalidInputError(f"{where}.{key}", f"{value!r} is invalid",
                                    f"an integer >= {least} (tokens)")  # fmt: skip
    timeout = fields_.get("timeout_s")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise InvalidInputError(f"{where}.timeout_s", f"{timeout!r} is invalid", "seconds > 0")
    key_env = fields_.get("api_key_env")
    if key_env is not None:
        if not isinstance(key_env, str) or not ENV_NAME.match(key_env):
            raise InvalidInputError(
                f"{where}.api_key_env",
                "is not an environment variable name (put the key in the environment, "
                "never in the file)",
                "a name such as GROQ_API_KEY",
            )
        if not os.environ.get(key_env):
            raise InvalidInputError(f"{where}.api_key_env", f"{key_env} is not set",
                                    f"export {key_env}=<the key>")  # fmt: skip
    base_url = fields_.get("base_url")
    if base_url is not None and (
        not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
    ):
        raise InvalidInputError(f"{where}.base_url", f"{base_url!r}", "an http(s):// URL")
    price_source = fields_.get("price_source", source)
    if "input_price" in entry or "output_price" in entry:
        price_source = source
    if fields_.get("input_price") is None or fields_.get("output_price") is None:
        fields_["input_price"], fields_["output_price"], price_source = _priced(
            str(provider), str(fields_.get("model", name)), str(tier), where
        )
    return ModelSpec(
        name=name,
        provider=str(provider),
        model=str(fields_.get("model", name)),
        tier=str(tier),
        input_price=float(fields_["input_price"]),
        output_price=float(fields_["output_price"]),
        description=str(fields_.get("description", "")),
        fallback=fields_.get("fallback"),
        context_window=fields_.get("context_window"),
        base_url=base_url,
        api_key_env=key_env,
        timeout_s=None if timeout is None else float(timeout),
        max_output_tokens=fields_.get("max_output_tokens"),
        price_source=str(price_source),
    )


PRICE_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google_genai": "google",
                   "mistralai": "mistral", "groq": "groq", "bedrock_converse": "aws",
                   "deepseek": "deepseek", "xai": "x-ai", "azure_openai": "azure"}  # fmt: skip
"""routegraph provider -> provider id in genai-prices' table."""


def _priced(provider: str, model: str, tier: str, where: str) -> tuple[float, float, str]:
    """Prices for an entry that states none: free on a local tier, else genai-prices' table
    (a maintained package, not a copy), else an error: no cost is ever guessed."""
    if tier == "local":
        return 0.0, 0.0, "local (no per-token fee)"
    from importlib.metadata import version

    from genai_prices import Usage, calc_price

    million = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    try:
        found = calc_price(million, model_ref=model, provider_id=PRICE_PROVIDERS.get(provider))
    except LookupError:
        found = None
    if found is None:
        raise InvalidInputError(
            f"{where}.input_price",
            f"missing, and the price table (genai-prices) has no {model!r} at {provider!r}",
            "input_price and output_price in USD per million tokens (0 for a free endpoint)",
        )
    return (float(found.input_price), float(found.output_price),
            f"genai-prices {version('genai-prices')}")  # fmt: skip


def check_fallbacks(specs: dict[str, ModelSpec], source: str) -> None:
    """Every fallback names a model, and no chain comes back to where it started."""
    for spec in specs.values():
        if spec.fallback and spec.fallback not in specs:
            raise InvalidInputError(
                f"catalog {source} models.{spec.name}.fallback",
                f"{spec.fallback!r} is not in the catalog",
                specs,
            )
    for spec in specs.values():
        seen = [spec.name]
        current = spec.fallback
        while current:
            if current in seen:
                loop = " -> ".join([*seen, current])
                raise InvalidInputError(
                    f"catalog {source} models.{spec.name}.fallback", f"cycle {loop}",
                    "a chain that ends",
                )  # fmt: skip
            seen.append(current)
            current = specs[current].fallback


def parse_catalog(text: str, source: str) -> Catalog:
    """Parse catalog TOML; every problem names the file, the entry and the field."""
    specs = {
        name: parse_entry(name, entry, f"catalog {source} models.{name}")
        for name, entry in _toml(text, source).items()
    }
    check_fallbacks(specs, source)
    return Catalog(specs, source)


def config_path() -> Path | None:
    """The user's pool config: ``$ROUTEGRAPH_CONFIG``, else ``./routegraph.toml``, else
    ``~/.config/routegraph/routegraph.toml`` (``$XDG_CONFIG_HOME``); None if there is none.

    Looked up once per value of the variable (a changed file is read at the next start): a
    server's event loop must not touch the file system per request (``langgraph dev`` refuses
    blocking calls such as ``os.getcwd`` there)."""
    return _discover(os.environ.get(CONFIG_VARIABLE) or None)


@lru_cache(maxsize=4)
def _discover(named: str | None) -> Path | None:
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise InvalidInputError(CONFIG_VARIABLE, f"{path} does not exist", "a TOML file")
        return path.resolve()
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for path in (Path.cwd() / CONFIG_NAME, home / "routegraph" / CONFIG_NAME):
        if path.is_file():
            return path
    return None


def overlay(catalog: Catalog, text: str, source: str) -> Catalog:
    """``catalog`` with the config's entries added, or merged field by field over the entries
    they name; checked whole (fallbacks, cycles) before it is used."""
    specs = dict(catalog.specs)
    for name, entry in _toml(text, source).items():
        where = f"config {source} models.{name}"
        specs[name] = parse_entry(name, entry, where, specs.get(name), source="config")
    check_fallbacks(specs, source)
    return Catalog(specs, f"{catalog.source} + {source}")


def load_catalog(path: str | Path | None = None, config: str | Path | None = None) -> Catalog:
    """Read the catalog from ``path``, ``$ROUTEGRAPH_CATALOG`` or the packaged default, then the
    user's pool config over it (``config``, else :func:`config_path`'s)."""
    chosen = path or os.environ.get("ROUTEGRAPH_CATALOG") or DEFAULT_CATALOG
    found = Path(config).expanduser() if config else config_path()
    return _load_cached(str(chosen), None if found is None else str(found))


@lru_cache(maxsize=8)
def _load_cached(path: str, config: str | None) -> Catalog:
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
    if config is not None:
        try:
            text = Path(config).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError("config", f"cannot read {config} ({exc})") from None
        catalog = overlay(catalog, text, config)
    return catalog


with contextlib.suppress(InvalidInputError):  # found now, at import, off any event loop; a
    config_path()  # missing $ROUTEGRAPH_CONFIG file is reported when the catalog is loaded

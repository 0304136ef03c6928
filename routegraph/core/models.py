"""Turn a catalog name into a ready chat model, or say plainly why it cannot run now.

Resolution follows the catalog's ``fallback`` chain: 'cloud' without an API key or base URL falls
back to the recorded GPT-4 answers (replay), which only know benchmark prompts. Tests and
embedding applications pass ``overrides`` (name -> chat model) to inject their own models.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.language_models import BaseChatModel

from routegraph.core.catalog import INIT_PROVIDERS, Catalog, ModelSpec
from routegraph.core.errors import ModelUnavailableError
from routegraph.core.redact import redact, split_credentials


@dataclass(frozen=True)
class ModelSettings:
    """Per-call generation settings taken from the run context."""

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    timeout_s: float = 30.0
    """Seconds a network call may wait; routegraph's own retries (``nodes/calls.py``) follow,
    so the provider client never retries on its own (``max_retries=0``)."""


def availability(spec: ModelSpec) -> tuple[bool, str]:
    """Whether ``spec`` can be called now, and why (no network probe: configuration only)."""
    if spec.provider == "llamacpp":
        if importlib.util.find_spec("llama_cpp") is None:
            return False, "llama-cpp-python is not installed"
        try:
            from routegraph.core.paths import smollm2_gguf_path

            path = smollm2_gguf_path()
        except ModelUnavailableError as exc:
            return False, exc.reason
        return path.is_file(), f"GGUF at {path}" if path.is_file() else f"{path} missing"
    if spec.provider == "openai":
        if spec.base_url or spec.api_key_env:  # its own endpoint (a pool config entry)
            where = redact(spec.base_url or "api.openai.com")
            return True, f"OpenAI-compatible endpoint {where}"
        if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
            where = redact(os.environ.get("OPENAI_BASE_URL", "api.openai.com"))
            return True, f"OpenAI-compatible endpoint {where}"
        return False, "no OPENAI_API_KEY or OPENAI_BASE_URL set"
    if spec.provider == "ollama":
        host = spec.base_url or os.environ.get("OLLAMA_HOST")
        if host:
            return True, f"Ollama at {redact(host)}"
        return False, "no OLLAMA_HOST set"
    if spec.provider in INIT_PROVIDERS:
        package, extra = INIT_PROVIDERS[spec.provider]
        module = package.replace("-", "_")
        if importlib.util.find_spec(module) is None:
            return False, f'{package} is not installed: pip install "routegraph[{extra}]"'
        return True, f"{spec.provider} via init_chat_model"
    if spec.provider == "replay":
        from routegraph.core.errors import DataNotFoundError
        from routegraph.core.paths import DATA_VARIABLE, data_dir

        try:
            folder = data_dir()
        except DataNotFoundError:
            return False, f"recorded data not found: {DATA_VARIABLE} is not set"
        if folder.is_dir():
            return True, "recorded answers (benchmark prompts only)"
        return False, f"recorded data not found at {folder} (set {DATA_VARIABLE})"
    return False, f"provider {spec.provider!r} needs a model passed in code"


def build_chat_model(spec: ModelSpec, settings: ModelSettings) -> BaseChatModel:
    """A LangChain chat model for ``spec`` (raises ModelUnavailableError if it cannot run)."""
    ok, reason = availability(spec)
    if not ok:
        raise ModelUnavailableError(spec.name, reason)
    if spec.max_output_tokens and settings.max_tokens > spec.max_output_tokens:
        settings = replace(settings, max_tokens=spec.max_output_tokens)
    if spec.provider == "llamacpp":
        from routegraph.core.providers.llamacpp import LlamaCppChatModel

        return LlamaCppChatModel(
            max_tokens=settings.max_tokens, temperature=settings.temperature, seed=settings.seed
        )
    if spec.provider == "openai":
        # ChatOpenAI that sends "" (not null) as the content of assistant tool-call messages,
        # which llama.cpp's server requires and OpenAI accepts: agent tool loops work on both.
        from routegraph.core.providers.openai_compat import OpenAICompatibleChat

        base_url = spec.base_url or os.environ.get("OPENAI_BASE_URL") or None
        credentials = None
        if base_url:
            # Credentials in the URL go to the HTTP client as basic auth, so the URL that
            # logs and traces show has none.
            base_url, credentials = split_credentials(base_url)
        # langchain-openai sends only `max_completion_tokens`; OpenAI-compatible servers such as
        # llama-cpp-python's ignore it and generate up to their context size, so a custom
        # endpoint also gets the classic `max_tokens`.
        extra_body = {"max_tokens": settings.max_tokens} if base_url else None
        return OpenAICompatibleChat(  # type: ignore[call-arg]
            model=spec.model,
            base_url=base_url,
            api_key=api_key(spec, "OPENAI_API_KEY") or "not-needed",  # type: ignore[arg-type]
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
            logprobs=True,
            top_logprobs=1,  # llama.cpp servers return log-probabilities only when this is set
            extra_body=extra_body,
            max_retries=0,
            timeout=spec.timeout_s or settings.timeout_s,
            **scrubbing_clients(credentials),
        )
    if spec.provider == "ollama":
        from langchain.chat_models import init_chat_model

        return init_chat_model(
            spec.model,
            model_provider="ollama",
            base_url=spec.base_url or os.environ.get("OLLAMA_HOST"),
            temperature=settings.temperature,
            num_predict=settings.max_tokens,
            seed=settings.seed,
            client_kwargs={"timeout": spec.timeout_s or settings.timeout_s},
        )
    if spec.provider in INIT_PROVIDERS:
        from langchain.chat_models import init_chat_model

        extra: dict[str, Any] = {}
        if spec.base_url:
            extra["base_url"] = spec.base_url
        key = api_key(spec, None)
        if key:
            extra["api_key"] = key
        return init_chat_model(
            spec.model,
            model_provider=spec.provider,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            timeout=spec.timeout_s or settings.timeout_s,
            max_retries=0,
            **extra,
        )
    if spec.provider == "replay":
        from routegraph.core.providers.replay import ReplayChatModel

        return ReplayChatModel(model_id=spec.model)
    raise ModelUnavailableError(spec.name, f"provider {spec.provider!r} cannot be built")


def api_key(spec: ModelSpec, default_variable: str | None) -> str | None:
    """The key for ``spec``: from its own ``api_key_env`` variable, else ``default_variable``."""
    variable = spec.api_key_env or default_variable
    return os.environ.get(variable) if variable else None


def scrubbing_clients(credentials: tuple[str, str] | None) -> dict[str, Any]:
    """HTTP clients for an OpenAI-compatible endpoint that keep secrets out of error texts.

    Some servers echo the API key they were sent in a 401 body; that body becomes the
    exception's message, which LangChain hands to every tracer before routegraph sees it. The
    clients redact error bodies as they arrive, and send URL credentials as basic auth.
    """
    import httpx

    def scrub(response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()
            _scrubbed(response)

    async def ascrub(response: httpx.Response) -> None:
        if response.status_code >= 400:
            await response.aread()
            _scrubbed(response)

    hooks = {"response": [scrub]}
    return {
        "http_client": httpx.Client(auth=credentials, event_hooks=hooks, follow_redirects=True),
        "http_async_client": httpx.AsyncClient(
            auth=credentials, event_hooks={"response": [ascrub]}, follow_redirects=True
        ),
    }


def _scrubbed(response: Any) -> None:
    text = response.content.decode("utf-8", errors="replace")
    clean = redact(text)
    if clean != text:
        response._content = clean.encode()  # the body every later reader (openai) parses


@dataclass
class ResolvedModel:
    """A chat model ready to call, with the catalog entry whose price applies."""

    requested: str
    spec: ModelSpec
    chat: BaseChatModel
    skipped: tuple[str, ...] = ()
    """Why entries of the fallback chain could not be built (e.g. 'cloud: no OPENAI_API_KEY')."""

    @property
    def label(self) -> str:
        if self.spec.name == self.requested:
            return self.requested
        return f"{self.spec.name} (fallback for {self.requested})"


class ModelResolver:
    """Resolves catalog names (with fallbacks) to chat models; caches what it built."""

    def __init__(self, catalog: Catalog, overrides: Mapping[str, BaseChatModel] | None = None):
        self.catalog = catalog
        self.overrides = dict(overrides or {})
        self._cache: dict[tuple[str, ModelSettings], BaseChatModel] = {}

    def chain(self, name: str) -> list[ModelSpec]:
        """``name`` followed by its fallbacks, in order."""
        specs, seen = [], set()
        current: str | None = name
        while current and current not in seen:
            seen.add(current)
            spec = self.catalog.get(current)
            specs.append(spec)
            current = spec.fallback
        return specs

    def resolve_all(self, name: str, settings: ModelSettings) -> list[ResolvedModel]:
        """Every model of the fallback chain that can be built, best first.

        Raises ModelUnavailableError (listing every reason) when none can.
        """
        if name in self.overrides:
            return [ResolvedModel(name, self.catalog.get(name), self.overrides[name])]
        resolved, reasons = [], []
        for spec in self.chain(name):
            if spec.name in self.overrides:
                resolved.append(ResolvedModel(name, spec, self.overrides[spec.name]))
                continue
            key = (spec.name, settings)
            try:
                if key not in self._cache:
                    self._cache[key] = build_chat_model(spec, settings)
                resolved.append(ResolvedModel(name, spec, self._cache[key]))
            except ModelUnavailableError as exc:
                reasons.append(f"{spec.name}: {exc.reason}")
        if not resolved:
            raise ModelUnavailableError(name, "; ".join(reasons))
        for option in resolved:
            option.skipped = tuple(reasons)
        return resolved

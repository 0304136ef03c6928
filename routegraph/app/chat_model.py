"""``RoutedChatModel``: a LangChain chat model that runs a routegraph graph on every call.

It is the door for code that already speaks LangChain: LCEL chains, ``batch``, and
``langchain.agents.create_agent(model=RoutedChatModel(...), tools=[...])``. Each call sends the
conversation to the graph as ``{"messages": [...]}``, the graph picks the model (and may escalate),
and the graph's final ``AIMessage`` comes back: its text or tool calls, ``usage_metadata`` summed
over every attempt of the call, and ``response_metadata["routegraph"]`` naming the chosen model,
the confidence, the path of models tried and the cost.

Tools: ``bind_tools`` converts tools to OpenAI schemas and passes them (with ``tool_choice``) in
the run context, so whichever model the graph chooses is bound to them. Inside an agent's tool
loop the graph keeps the model that asked for the tools (no re-routing on tool results).
``with_structured_output`` is LangChain's default one, built on ``bind_tools``.

Streaming (``stream`` / ``astream``) depends on whether the graph judges an answer before
accepting it:

* ``simple`` and ``specialist`` accept the router's choice, so the chosen model's tokens stream
  live as it generates them;
* ``hybrid``, ``cascade`` and ``cascade_routing`` score every answer and may reject it and
  escalate, so they stream only the accepted answer, in one chunk, once it is accepted (a
  rejected draft is never shown); ``minions`` likewise streams its final aggregated answer.

Either way the last chunk carries the usage of the whole call and the routing metadata, so the
aggregated message equals what ``invoke`` returns. (One exception, live graphs only: a chosen
model that fails mid-answer is replaced by its catalog fallback, and the stream then shows the
partial answer before the fallback's.)
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import BaseTool
from langchain_core.tracers.base import BaseTracer
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode
from pydantic import ConfigDict, PrivateAttr

from routegraph.core.context import RouteContext, context_from_dict
from routegraph.core.errors import InvalidInputError, NoAnswerError
from routegraph.graphs.registry import GRAPH_IDS, build_graph

LIVE_STREAMING_GRAPHS = frozenset({"simple", "specialist"})
"""Graphs that accept the router's choice without judging it, so tokens can stream live."""

CONTEXT_FIELDS = frozenset(f.name for f in fields(RouteContext))
STANDARD_PARAMS = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "timeout": "call_timeout_s",
    "max_retries": "call_retries",
    "stop": "stop",
}
"""LangChain's constructor parameters -> the run settings that carry them to every call."""
STREAM_MODES: list[StreamMode] = ["messages", "updates"]


def normalize_tool_choice(tool_choice: Any, tools: Sequence[dict[str, Any]]) -> Any:
    """LangChain's spellings of ``tool_choice`` -> OpenAI's, understood by every provider.

    ``"any"`` / ``True`` mean "call a tool" (OpenAI's ``"required"``); with a single tool, that
    is the named tool (the form llama.cpp enforces with a grammar); a bare tool name becomes
    ``{"type": "function", "function": {"name": ...}}``.
    """
    if tool_choice is None or tool_choice is False:
        return None
    names = [t["function"]["name"] for t in tools if isinstance(t.get("function"), dict)]
    if tool_choice is True or tool_choice in ("any", "required"):
        if len(names) == 1:
            return {"type": "function", "function": {"name": names[0]}}
        return "required"
    if isinstance(tool_choice, str) and tool_choice not in ("auto", "none"):
        return {"type": "function", "function": {"name": tool_choice}}
    return tool_choice


class RoutedChatModel(BaseChatModel):
    """A chat model that routes each call through a routegraph graph.

    ``graph`` is a graph id (simple, specialist, hybrid, cascade, cascade_routing, minions);
    ``context`` holds run settings (``RouteContext`` fields: models, router, thresholds, ...);
    ``models``, ``router``, ``evaluator`` and ``catalog`` are build-time overrides, as in
    ``build_graph``. The graph is compiled once, when the model is created.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    graph: str = "cascade"
    context: dict[str, Any] | RouteContext | None = None
    models: Mapping[str, BaseChatModel] | None = None
    router: Any = None
    evaluator: Any = None
    catalog: Any = None
    """A ``routegraph.core.catalog.Catalog`` to use instead of the packaged one."""
    on_no_answer: str = "raise"
    """When no model could answer: ``"raise"`` a :class:`~routegraph.core.errors.NoAnswerError`
    (per-model reasons and the routing trace), or ``"text"``: return the best-effort message
    "No model could answer: ..." as the reply (what every graph's final message says)."""
    store: Any = None
    """A LangGraph ``BaseStore`` for the outcome log: each call leaves a record there (see
    ``routegraph.core.outcomes``) and :meth:`feedback` rates it; None logs nothing."""
    temperature: float | None = None
    """LangChain's usual chat-model parameters, applied to whichever model answers: each is
    the run setting named in :data:`STANDARD_PARAMS`, and wins over that setting in
    ``context``; out-of-range values are refused like the setting's (e.g. ``max_retries`` is
    ``call_retries``, 0-10)."""
    max_tokens: int | None = None
    timeout: float | None = None
    max_retries: int | None = None
    stop: list[str] | None = None

    _compiled: CompiledStateGraph[Any, Any, Any, Any] = PrivateAttr()
    _settings: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        ignored = sorted(set(data) - set(type(self).model_fields))
        if ignored:  # dropped, as by every LangChain model; a typo must not pass unseen
            warnings.warn(
                f"RoutedChatModel ignores {ignored}; its arguments are "
                f"{sorted(type(self).model_fields)} (run settings go in context={{...}})",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(**data)
        self._compile()  # outside pydantic validation, so errors keep their own type

    def _compile(self) -> None:
        if self.graph not in GRAPH_IDS:
            raise InvalidInputError("graph", f"unknown graph {self.graph!r}", GRAPH_IDS)
        if self.on_no_answer not in NO_ANSWER_MODES:
            raise InvalidInputError(
                "on_no_answer", f"unknown mode {self.on_no_answer!r}", NO_ANSWER_MODES
            )
        raw = self.context
        settings = asdict(raw) if isinstance(raw, RouteContext) else dict(raw or {})
        for param, setting in STANDARD_PARAMS.items():
            value = getattr(self, param)
            if value is not None:  # the explicit parameter wins over the same setting in context
                settings[setting] = list(value) if param == "stop" else value
        context_from_dict(settings, self.catalog)  # bad settings fail now, naming the field
        self._settings = settings
        overrides: dict[str, Any] = {"catalog": self.catalog}
        if self.models is not None:
            overrides["models"] = dict(self.models)
        if self.router is not None:
            overrides["router"] = self.router
        if self.evaluator is not None:
            overrides["evaluator"] = self.evaluator
        self._compiled = build_graph(self.graph, **overrides)
        if self.store is not None:
            self._compiled = self._compiled.copy(update={"store": self.store})

    def feedback(
        self, answer: BaseMessage | str, score: float, comment: str | None = None
    ) -> dict[str, Any]:
        """Rate an answer this model gave (the message, or its ``outcome_id``): ``score`` in
        [0, 1], 1 good, 0 bad. Needs a ``store``; returns the updated outcome record."""
        from routegraph.core.outcomes import record_feedback

        if self.store is None:
            raise InvalidInputError("store", "is not set, so no outcome was logged", "a BaseStore")
        outcome_id = answer if isinstance(answer, str) else outcome_of(answer)
        return record_feedback(self.store, outcome_id, score=score, comment=comment)

    @property
    def _llm_type(self) -> str:
        return "routegraph"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"graph": self.graph, "context": self._settings}

    @property
    def compiled_graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The compiled graph each call runs (e.g. to draw it or stream it directly)."""
        return self._compiled

    # -- tools --------------------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` to whichever model the graph chooses (OpenAI schemas in the context).

        ``parallel_tool_calls`` (which ``create_agent`` may pass) is accepted and not forwarded:
        the graph binds the chosen model with ``tools`` and ``tool_choice`` only.
        """
        schemas = [convert_to_openai_tool(tool) for tool in tools]
        kwargs.pop("parallel_tool_calls", None)
        choice = normalize_tool_choice(tool_choice, schemas)
        return self.bind(tools=schemas, tool_choice=choice, **kwargs)

    # -- one run of the graph -----------------------------------------------------------------

    def run_context(self, **kwargs: Any) -> RouteContext:
        """The validated context of one call: the model's settings, then per-call ones.

        Per-call settings come from ``bind``/``invoke`` keyword arguments: ``tools`` and
        ``tool_choice`` (set by ``bind_tools``), ``context={...}``, any ``RouteContext`` field
        by name (e.g. ``model.bind(max_tokens=64)``, ``stop=[...]``), or ``model=NAME`` to pin
        the call to one catalog model (no routing).
        """
        values = dict(self._settings)
        values.update(kwargs.pop("context", None) or {})
        pinned = kwargs.pop("model", None)
        if pinned is not None:  # invoke(..., model=NAME): this call answered by NAME alone
            values.update(models=[pinned], weak_model=pinned, strong_model=pinned)
        kwargs.pop("ls_structured_output_format", None)  # LangChain's tracing hint
        unknown = sorted(set(kwargs) - CONTEXT_FIELDS)
        if unknown:
            raise InvalidInputError(
                "RoutedChatModel call", f"unknown argument(s) {unknown}", sorted(CONTEXT_FIELDS)
            )
        if kwargs.get("tool_choice") is None:
            kwargs.pop("tool_choice", None)  # unset per call: the configured choice stands
        values.update(kwargs)
        if values.get("tools"):
            # OpenAI's default with tools is "auto"; servers such as llama.cpp's need it said.
            choice = values.get("tool_choice") or "auto"
            values["tool_choice"] = normalize_tool_choice(choice, values["tools"])
        return context_from_dict(values, self.catalog)

    def _prepare(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], RouteContext]:
        if stop:
            kwargs = {**kwargs, "stop": list(stop)}  # passed to whichever model answers
        return {"messages": list(messages)}, self.run_context(**kwargs)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """What tracing records of a call: provider ``routegraph``, model name
        ``routegraph-<graph>`` (the model that answered is in the reply's ``model_name``),
        and the run's temperature, token limit and stop sequences."""
        params = LangSmithParams(
            ls_provider="routegraph",
            ls_model_name=str(kwargs.get("model") or f"routegraph-{self.graph}"),
            ls_model_type="chat",
        )
        settings = {**self._settings, **(kwargs.get("context") or {}), **kwargs}
        if isinstance(settings.get("temperature"), int | float):
            params["ls_temperature"] = float(settings["temperature"])
        if isinstance(settings.get("max_tokens"), int):
            params["ls_max_tokens"] = settings["max_tokens"]
        if stop or settings.get("stop"):
            params["ls_stop"] = list(stop or settings["stop"])
        return params

    @staticmethod
    def _config(run_manager: Any) -> RunnableConfig:
        """The graph run's callbacks: only the caller's *tracers* (LangSmith and the like), nested
        under this chat model's run, so a trace shows the routing and every inner model call.

        Why not every handler: to the caller this is ONE chat-model call. Handed all of its
        handlers, the inner model calls would reach them as further chat-model runs (a second
        ``on_chat_model_start``, tokens streamed twice into an enclosing agent's stream);
        LangChain's standard tests pin one run per call.
        """
        if run_manager is None:
            return {"callbacks": CallbackManager(handlers=[])}
        tracers: list[BaseCallbackHandler] = [
            h for h in run_manager.inheritable_handlers if isinstance(h, BaseTracer)
        ]
        child = CallbackManager(
            handlers=tracers,
            inheritable_handlers=tracers,
            parent_run_id=run_manager.run_id,
            tags=run_manager.inheritable_tags,
            inheritable_tags=run_manager.inheritable_tags,
            metadata=run_manager.inheritable_metadata,
            inheritable_metadata=run_manager.inheritable_metadata,
        )
        return {"callbacks": child}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        inputs, ctx = self._prepare(messages, stop, kwargs)
        with own_callbacks_only():
            out = self._compiled.invoke(inputs, self._config(run_manager), context=ctx)
        return _result(self._answered(out["messages"][-1]))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        inputs, ctx = self._prepare(messages, stop, kwargs)
        with own_callbacks_only():
            out = await self._compiled.ainvoke(inputs, self._config(run_manager), context=ctx)
        return _result(self._answered(out["messages"][-1]))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        inputs, ctx = self._prepare(messages, stop, kwargs)
        relay = StreamRelay(live=self.graph in LIVE_STREAMING_GRAPHS)
        events = iter(
            self._compiled.stream(
                inputs, self._config(run_manager), context=ctx, stream_mode=STREAM_MODES
            )
        )
        with own_callbacks_only():  # the graph reads its config on its first step
            first = next(events, None)
        for mode, payload in itertools.chain([first] if first else [], events):
            yield from relay.feed(mode, payload)
        yield self._answered_chunk(relay.last_chunk())

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        inputs, ctx = self._prepare(messages, stop, kwargs)
        relay = StreamRelay(live=self.graph in LIVE_STREAMING_GRAPHS)
        events = self._compiled.astream(
            inputs, self._config(run_manager), context=ctx, stream_mode=STREAM_MODES
        ).__aiter__()
        with own_callbacks_only():  # the graph reads its config on its first step
            first = await anext(events, None)
        if first is not None:
            for chunk in relay.feed(*first):
                yield chunk
        async for mode, payload in events:
            for chunk in relay.feed(mode, payload):
                yield chunk
        yield self._answered_chunk(relay.last_chunk())

    def _answered(self, final: BaseMessage) -> BaseMessage:
        """``final``, unless no model answered and ``on_no_answer`` is ``"raise"``."""
        trace = final.response_metadata.get("routegraph") or {}
        if self.on_no_answer == "raise" and trace and trace.get("chosen_model") is None:
            raise NoAnswerError(list(trace.get("notes") or []), trace)
        return final

    def _answered_chunk(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        self._answered(chunk.message)
        return chunk


NO_ANSWER_MODES = ("raise", "text")


@contextmanager
def own_callbacks_only() -> Iterator[None]:
    """Run the graph without the ambient runnable config of an enclosing chain.

    LangGraph merges the callbacks of the config it is called with and those of the enclosing
    runnable (a ``with_structured_output`` sequence, an agent node); the latter would reach
    every inner model call as further chat-model runs. This chat model's own run already
    reported to them, and its tracers get the graph run nested under it (``_config``)."""
    token = var_child_runnable_config.set(None)
    try:
        yield
    finally:
        var_child_runnable_config.reset(token)


def outcome_of(message: BaseMessage) -> str:
    """The outcome id a routed answer carries, else an error saying why there is none."""
    outcome_id = (message.response_metadata.get("routegraph") or {}).get("outcome_id")
    if not outcome_id:
        raise InvalidInputError(
            "answer", "carries no outcome_id (it was not logged)", "an answer of a logged run"
        )
    return str(outcome_id)


def _result(final: BaseMessage) -> ChatResult:
    """The graph's final message as this model's reply (a plain AIMessage copy)."""
    if not isinstance(final, AIMessage):
        raise RuntimeError(f"the graph ended on a {final.type} message, not an AI answer")
    message = AIMessage(
        content=final.content,
        name=final.name,
        tool_calls=list(final.tool_calls),
        invalid_tool_calls=list(final.invalid_tool_calls),
        usage_metadata=final.usage_metadata,
        response_metadata=dict(final.response_metadata),
    )
    return ChatResult(generations=[ChatGeneration(message=message)])


class StreamRelay:
    """Turns a graph's ``stream_mode=STREAM_MODES`` stream into chat chunks (see the module
    docstring); shared by this model and the HTTP server so both stream the same thing.

    Live graphs relay the ``generate`` node's tokens with their text and tool-call pieces only:
    usage and metadata would be double-counted when LangChain adds the chunks up, so the graph's
    totals come once, in the last chunk. Other graphs relay nothing until the final answer.
    """

    def __init__(self, live: bool):
        self.live = live
        self.streamed: dict[str, list[AIMessageChunk]] = {}
        self.last_call: str | None = None
        self.final: AIMessage | None = None

    def feed(self, mode: str, payload: Any) -> Iterator[ChatGenerationChunk]:
        if mode == "updates":
            update = payload.get("finalize") if isinstance(payload, dict) else None
            if update and update.get("messages"):
                self.final = update["messages"][-1]
            return
        message, meta = payload
        if not self.live or meta.get("langgraph_node") != "generate":
            return
        if not isinstance(message, AIMessage):
            return
        piece = AIMessageChunk(
            content=message.content,
            tool_call_chunks=_tool_call_chunks(message),
        )
        if not piece.content and not piece.tool_call_chunks:
            return  # the model's usage / end-of-stream markers: the last chunk carries totals
        call_id = str(message.id)
        self.streamed.setdefault(call_id, []).append(piece)
        self.last_call = call_id
        yield ChatGenerationChunk(message=piece)

    def last_chunk(self) -> ChatGenerationChunk:
        """The accepted answer (or what of it was not streamed) with usage and metadata."""
        final = self.final
        if final is None:
            raise RuntimeError("the graph finished without a final answer")
        content: Any = final.content
        tool_chunks = _tool_call_chunks(final)
        if self.last_call is not None:
            relayed = self.streamed[self.last_call]
            text = "".join(p.text for p in relayed)
            if text and isinstance(final.content, str):
                # The relayed tokens were the answer; send only what they did not cover.
                done = final.content.startswith(text)
                content = final.content[len(text) :] if done else ""
            if any(p.tool_call_chunks for p in relayed):
                tool_chunks = []
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content=content,
                tool_call_chunks=tool_chunks,
                usage_metadata=final.usage_metadata,
                response_metadata=dict(final.response_metadata),
            )
        )


_StreamRelay = StreamRelay  # the name the HTTP server imported first


def _tool_call_chunks(message: BaseMessage) -> list[Any]:
    """Tool-call pieces of a streamed chunk, or a whole message's tool calls as pieces."""
    if isinstance(message, AIMessageChunk):
        return list(message.tool_call_chunks)
    if isinstance(message, AIMessage):
        return [
            {
                "name": call["name"],
                "args": json.dumps(call["args"]),
                "id": call.get("id"),
                "index": i,
                "type": "tool_call_chunk",
            }
            for i, call in enumerate(message.tool_calls)
        ]
    return []

"""Run the graph a request names: compiled once per graph id, optionally on a thread.

Stateless requests carry the whole conversation (OpenAI's model). A request with a
``thread_id`` sends only its new messages: the server appends them to the thread kept by its
checkpointer (SQLite or PostgreSQL, ``routegraph serve --db``), so any server process on the
same database continues the conversation, and the thread's ``history`` records every turn.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from routegraph.app.chat_model import LIVE_STREAMING_GRAPHS, STREAM_MODES, StreamRelay
from routegraph.app.ledger import Ledger, MemoryLedger
from routegraph.app.server.chat_request import ChatRequest
from routegraph.app.server.errors import ApiError
from routegraph.app.server.policy import RequestPolicy
from routegraph.app.server.thread_points import new_messages, thread_point
from routegraph.core.cancellation import raise_if_cancelled, run_in_worker
from routegraph.core.catalog import Catalog
from routegraph.core.context import RouteContext, context_from_dict
from routegraph.core.errors import InvalidInputError
from routegraph.graphs.registry import build_graph
from routegraph.nodes.outcomes import KEY_METADATA

GraphFactory = Callable[..., CompiledStateGraph[Any, Any, Any, Any]]


class GraphRunner:
    """Compiled graphs by id (with and without the checkpointer) and the runs on them."""

    def __init__(
        self,
        factory: GraphFactory = build_graph,
        checkpointer: BaseCheckpointSaver[str] | None = None,
        catalog: Catalog | None = None,
        defaults: dict[str, Any] | None = None,
        policy: RequestPolicy | None = None,
    ):
        self.factory = factory
        self.policy = policy or RequestPolicy()
        """What requests may set (ceilings, server-only fields, key rights)."""
        if defaults:
            self.policy.operator = {**self.policy.operator, **defaults}
        self.catalog = catalog
        """The catalog settings are checked against (the graphs' own; default: packaged)."""
        if catalog is not None:
            self.policy.catalog = catalog
        self._graphs: dict[tuple[str, bool], CompiledStateGraph[Any, Any, Any, Any]] = {}
        self._checkpointer = checkpointer
        self._store: BaseStore | None = None
        self.ledger: Ledger = MemoryLedger()
        """Thread leases, key spend and rates: this process's, until the app's lifespan opens
        the database's."""

    @property
    def checkpointer(self) -> BaseCheckpointSaver[str] | None:
        """Where threads are kept (set by the app's lifespan); None: stateless only."""
        return self._checkpointer

    @checkpointer.setter
    def checkpointer(self, saver: BaseCheckpointSaver[str] | None) -> None:
        self._checkpointer = saver
        self._graphs = {key: g for key, g in self._graphs.items() if not key[1]}

    @property
    def store(self) -> BaseStore | None:
        """The outcome log's store (set with the checkpointer); None: nothing is logged."""
        return self._store

    @store.setter
    def store(self, store: BaseStore | None) -> None:
        self._store = store
        self._graphs = {}

    def graph(self, graph_id: str, threaded: bool) -> CompiledStateGraph[Any, Any, Any, Any]:
        key = (graph_id, threaded)
        if key not in self._graphs:
            compiled = self.factory(graph_id)
            update: dict[str, Any] = {"store": self._store} if self._store is not None else {}
            if threaded:
                update["checkpointer"] = self.checkpointer
            self._graphs[key] = compiled.copy(update=update) if update else compiled
        return self._graphs[key]

    async def _plan(
        self, request: ChatRequest
    ) -> tuple[
        CompiledStateGraph[Any, Any, Any, Any], RunnableConfig, RouteContext, list[BaseMessage]
    ]:
        """The graph, its config (thread), the validated context of ``request`` and the
        messages to send (on a thread: what it does not hold yet, from its last completed
        turn; see :mod:`.thread_points`)."""
        if request.thread_id and self.checkpointer is None:
            raise ApiError(
                400,
                "This server keeps no threads: start it with --db (a SQLite file or a "
                "postgresql:// URL) to use 'thread_id'.",
                "thread_id",
            )
        context = self.context(request)
        graph = self.graph(request.target.graph_id, threaded=bool(request.thread_id))
        config: RunnableConfig = {}
        messages = request.messages
        kept = request.kept_thread_id
        if request.key is not None:  # the outcome record names the key (dashboard, per key)
            config["metadata"] = {KEY_METADATA: request.key.id}
        if kept and self.checkpointer is not None:
            point = await thread_point(self.checkpointer, kept)
            where = point.config if point else {"configurable": {"thread_id": kept}}
            config = {**config, "configurable": dict(where["configurable"])}
            if point and point.interrupted and not point.values:  # nothing ever completed
                await self.checkpointer.adelete_thread(kept)
            if point:
                messages = new_messages(list(point.values.get("messages") or []), messages)
        return graph, config, context, messages

    def context(self, request: ChatRequest) -> RouteContext:
        """The run context, checked before any model runs (400 naming the body field; 403
        for what the request's key may not use)."""
        settings = self.policy.apply(
            request.context, request.context_params, request.target.graph_id, request.key
        )
        try:
            return context_from_dict(settings, self.catalog)
        except InvalidInputError as exc:
            raise api_error_for(exc, request) from None

    async def answer(self, request: ChatRequest) -> AIMessage:
        """Run the graph to the end; its final message carries the answer and the trace.

        The whole run is one synchronous graph run on one worker thread, not ``ainvoke``: the
        nodes are synchronous, and ``ainvoke`` hops to a worker thread and back for each of
        them (about 2 ms of a request's 10 ms of CPU against an instant upstream,
        BENCHMARKS.md "Serving a team"). Cancellation stops it between steps."""
        graph, config, context, messages = await self._plan(request)
        try:
            state = await run_in_worker(
                lambda: final_state(graph, {"messages": messages}, config, context)
            )
        except InvalidInputError as exc:
            raise api_error_for(exc, request) from None
        message = state["messages"][-1]
        if not isinstance(message, AIMessage):
            raise ApiError(500, "The graph returned no answer.")
        return message

    async def stream(self, request: ChatRequest) -> AsyncGenerator[AIMessageChunk, None]:
        """The answer as :class:`RoutedChatModel` streams it: the chosen model's tokens live
        where the graph accepts its router's choice unjudged (simple, specialist), else the
        accepted answer once accepted; the last chunk carries the trace and the usage."""
        graph, config, context, messages = await self._plan(request)
        relay = StreamRelay(live=request.target.graph_id in LIVE_STREAMING_GRAPHS)
        events = graph.astream(
            {"messages": messages},
            config,
            context=context,
            stream_mode=STREAM_MODES,
        )
        try:
            async for mode, payload in events:
                for piece in relay.feed(mode, payload):
                    yield piece.message  # type: ignore[misc]
        except InvalidInputError as exc:
            raise api_error_for(exc, request) from None
        yield relay.last_chunk().message  # type: ignore[misc]

    async def thread(self, thread_id: str) -> dict[str, Any] | None:
        """A thread's messages and turn history, or None if it does not exist."""
        if self.checkpointer is None:
            raise ApiError(400, "This server keeps no threads (start it with --db).", None)
        point = await thread_point(self.checkpointer, thread_id)
        if point is None:
            return None
        messages: list[BaseMessage] = list(point.values.get("messages", []))
        return {
            "messages": messages,
            "history": list(point.values.get("history", [])),
            "interrupted": point.interrupted,
        }


def final_state(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    inputs: dict[str, Any],
    config: RunnableConfig,
    context: RouteContext,
) -> dict[str, Any]:
    """What ``graph.invoke`` returns, raising :class:`RunCancelledError` between steps once the
    run is cancelled (as a cancelled ``ainvoke`` stops at its next step: the steps already
    done stay in the thread's checkpoints, nothing after them runs)."""
    last: dict[str, Any] = {}
    for values in graph.stream(inputs, config, context=context, stream_mode="values"):
        raise_if_cancelled()
        last = values
    return last


def api_error_for(exc: InvalidInputError, request: ChatRequest) -> ApiError:
    """A 400 whose ``param`` is the body field the bad setting came from."""
    field = exc.field
    root = field.split("[", 1)[0]
    if root in ("messages", "query"):
        param = "messages"
    elif field == "context":
        param = "routegraph"
    else:
        source = request.context_params.get(root, f"routegraph.{root}")
        param = source + field[len(root) :] if source == root else source
    return ApiError(400, str(exc), param)

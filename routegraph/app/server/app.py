"""The OpenAI-compatible HTTP app: routed answers for any client that speaks OpenAI's API.

Routes (all under ``/v1``, so they sit beside the LangGraph API when ``langgraph dev`` mounts
this app through ``langgraph.json``'s ``http.app``):

- ``GET /v1/models``: one id per graph (``routegraph-cascade``...) and RouteLLM-style
  ``router-<router>-<threshold>`` ids.
- ``POST /v1/chat/completions``: plain or streamed (SSE) answers, tools, a ``routegraph``
  body field for routing settings, ``thread_id`` for server-kept conversations.
- ``GET /v1/threads/{thread_id}``: a kept thread's messages and per-turn history.
- ``POST /v1/feedback``: a user's score for an answer (by completion id, or thread and turn),
  added to the outcome log that ``routegraph learn`` refits routers from.

``routegraph serve`` runs it with uvicorn; ``ROUTEGRAPH_DB`` (or ``serve --db``) names the
SQLite file or PostgreSQL URL that keeps threads and the outcome log.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.messages import AIMessageChunk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from routegraph.app.checkpoints import DB_VARIABLE, open_persistence
from routegraph.app.server.chat_request import ChatRequest, parse_chat_request
from routegraph.app.server.completions import (
    chunk_body,
    completion_body,
    completion_id,
    finish_reason,
    messages_as_openai,
    openai_tool_calls,
    sse,
    trace_headers,
    trace_of,
    usage_of,
)
from routegraph.app.server.errors import ApiError
from routegraph.app.server.feedback import apply_feedback
from routegraph.app.server.model_ids import resolve_model_id, served_model_ids
from routegraph.app.server.runs import GraphFactory, GraphRunner
from routegraph.core.catalog import Catalog
from routegraph.core.context import context_from_dict
from routegraph.core.errors import RouteGraphError
from routegraph.graphs.registry import build_graph

log = logging.getLogger(__name__)
CREATED = 1_767_225_600  # 2026-01-01: a fixed 'created' for the listed model ids


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def model_card(model_id: str) -> dict[str, Any]:
    target = resolve_model_id(model_id)
    return {
        "id": model_id,
        "object": "model",
        "created": CREATED,
        "owned_by": "routegraph",
        "routegraph": {"graph": target.graph_id, "context": target.context},
    }


async def json_body(request: Request) -> Any:
    """The parsed JSON body, else a 400 in OpenAI's shape."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON.") from None


def create_app(
    factory: GraphFactory = build_graph,
    db: str | None = None,
    catalog: Catalog | None = None,
    defaults: dict[str, Any] | None = None,
) -> Starlette:
    """The app; ``db`` (default ``$ROUTEGRAPH_DB``) keeps threads and the outcome log;
    ``factory`` builds graphs (by id) and ``catalog`` is the one their settings are checked
    against; ``defaults`` are run settings for requests that do not name them."""
    if defaults:
        context_from_dict(dict(defaults), catalog)  # a bad operator setting stops the start
    runner = GraphRunner(factory, catalog=catalog, defaults=defaults)
    db = db if db is not None else os.environ.get(DB_VARIABLE) or None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not db:
            yield
            return
        async with open_persistence(db) as kept:
            runner.checkpointer = kept.checkpointer
            runner.store = kept.store
            yield
            runner.checkpointer = None
            runner.store = None

    async def list_models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [model_card(m) for m in served_model_ids()]})

    async def get_model(request: Request) -> Response:
        try:
            return JSONResponse(model_card(request.path_params["model"]))
        except LookupError as exc:
            return error_response(ApiError(404, str(exc), "model", code="model_not_found"))

    async def chat_completions(request: Request) -> Response:
        try:
            chat = parse_chat_request(await json_body(request))
            if chat.stream:
                return await streamed(chat)
            message = await runner.answer(chat)
        except ApiError as exc:
            return error_response(exc)
        except RouteGraphError as exc:
            return error_response(ApiError(500, str(exc)))
        except Exception as exc:  # the client gets OpenAI's shape; the log keeps the trace
            log.exception("run failed")
            return error_response(ApiError(500, f"The run failed: {type(exc).__name__}: {exc}"))
        trace = trace_of(message, chat.thread_id)
        return JSONResponse(
            completion_body(chat.target.model_id, message, trace), headers=trace_headers(trace)
        )

    async def streamed(chat: ChatRequest) -> Response:
        runner.context(chat)  # bad settings fail as a 400 before the stream starts
        chunks = runner.stream(chat)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            raise ApiError(500, "The graph returned no answer.") from None
        headers = {"x-routegraph-graph": chat.target.graph_id, "cache-control": "no-cache"}
        if chat.thread_id:
            headers["x-routegraph-thread-id"] = chat.thread_id
        return StreamingResponse(
            sse_events(chat, first, chunks), media_type="text/event-stream", headers=headers
        )

    async def get_thread(request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        try:
            found = await runner.thread(thread_id)
        except ApiError as exc:
            return error_response(exc)
        if found is None:
            return error_response(ApiError(404, f"No thread {thread_id!r}.", "thread_id"))
        return JSONResponse(
            {
                "id": thread_id,
                "object": "thread",
                "messages": messages_as_openai(found["messages"]),
                "history": json.loads(json.dumps(found["history"], default=str)),
            }
        )

    async def feedback(request: Request) -> Response:
        try:
            body = await json_body(request)
            if runner.store is None:
                raise ApiError(
                    400,
                    "This server keeps no outcome log: start it with --db (a SQLite file or a "
                    "postgresql:// URL) to take feedback.",
                    None,
                )
            record = await apply_feedback(runner.store, body)
        except ApiError as exc:
            return error_response(exc)
        return JSONResponse(
            {"object": "feedback", "outcome_id": record["id"], "feedback": record["feedback"]}
        )

    async def not_found(request: Request) -> Response:
        where = f"{request.method} {request.url.path}"
        for route in routes[:-1]:
            if route.path_regex.match(request.url.path):  # a known path, another method
                allowed = ", ".join(sorted(route.methods or ()))
                error = ApiError(405, f"{where} is not allowed; use {allowed}.")
                return error_response(error, headers={"allow": allowed})
        return error_response(ApiError(404, f"Unknown endpoint {where}.", code="not_found"))

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/threads/{thread_id}", get_thread, methods=["GET"]),
        Route("/v1/feedback", feedback, methods=["POST"]),
        Route("/v1/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runner = runner
    return app


async def sse_events(
    chat: ChatRequest, first: AIMessageChunk, rest: AsyncIterator[AIMessageChunk]
) -> AsyncIterator[bytes]:
    """OpenAI's chunk sequence: role, content and tool-call deltas, a finish chunk carrying the
    routing trace, the usage chunk when asked for, then ``[DONE]``. A failure mid-stream is sent
    as an error event (the status line has already gone out)."""
    cid, created, model = completion_id(), int(time.time()), chat.target.model_id
    make: Callable[..., dict[str, Any]] = lambda **kw: chunk_body(cid, model, created, **kw)  # noqa: E731
    yield sse(make(delta={"role": "assistant", "content": ""}))
    final: AIMessageChunk | None = None
    tool_index = 0
    try:
        chunk: AIMessageChunk | None = first
        while chunk is not None:
            final = chunk if final is None else final + chunk
            if chunk.text:
                yield sse(make(delta={"content": chunk.text}))
            for call in openai_tool_calls(chunk):
                yield sse(make(delta={"tool_calls": [{"index": tool_index, **call}]}))
                tool_index += 1
            chunk = await anext(rest, None)
    except ApiError as exc:
        yield sse(exc.body())
        return
    except Exception as exc:  # the client must learn the run failed; the log keeps the trace
        log.exception("streamed run failed")
        yield sse(ApiError(500, f"The run failed: {exc}").body())
        return
    assert final is not None
    trace = trace_of(final, chat.thread_id)
    yield sse(make(delta={}, finish=finish_reason(final), routegraph=trace))
    if chat.include_usage:
        yield sse(make(delta=None, usage=usage_of(final)))
    yield sse("[DONE]")


app = create_app()
"""The app ``langgraph.json`` mounts (``http.app``) and ``routegraph serve`` runs."""

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
- ``GET /healthz`` (the process answers), ``GET /readyz`` (its stores are open), ``GET /metrics``
  (Prometheus), outside ``/v1`` and without a key; also as ``/routegraph/healthz`` ... (under
  ``langgraph dev`` the LangGraph server answers ``/metrics`` itself).
- ``GET /dashboard``: the operator's page (:mod:`.dashboard`), its figures at
  ``/dashboard/data``.

With keys configured (``ROUTEGRAPH_API_KEYS``, a keys file: :mod:`.keys`) every ``/v1`` route
asks for ``Authorization: Bearer <key>`` (401 otherwise), threads belong to the key that made
them, and :mod:`.policy` decides what each request may set.

``routegraph serve`` runs it with uvicorn; ``ROUTEGRAPH_DB`` (or ``serve --db``) names the
SQLite file or PostgreSQL URL that keeps threads and the outcome log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessageChunk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from routegraph.app.checkpoints import DB_VARIABLE, open_persistence
from routegraph.app.ledger import MemoryLedger
from routegraph.app.server.admission import (
    DEFAULT_QUEUE_TIMEOUT_S,
    Admission,
    ThreadQueues,
    admit,
)
from routegraph.app.server.chat_request import (
    MULTITASK_STRATEGIES,
    ChatRequest,
    owned_thread_id,
    parse_chat_request,
)
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
from routegraph.app.server.dashboard import reference_p_strong, summarize
from routegraph.app.server.errors import ApiError
from routegraph.app.server.feedback import apply_feedback
from routegraph.app.server.keys import ApiKey, KeyRing
from routegraph.app.server.model_ids import resolve_model_id, served_model_ids
from routegraph.app.server.observe import ServerMetrics
from routegraph.app.server.policy import RequestPolicy
from routegraph.app.server.runs import GraphFactory, GraphRunner
from routegraph.core.cancellation import CANCEL_EVENT, RunCancelledError, cancel_scope
from routegraph.core.catalog import Catalog
from routegraph.core.context import context_from_dict
from routegraph.core.errors import InvalidInputError, RouteGraphError
from routegraph.core.outcomes import aread_outcomes
from routegraph.graphs.registry import build_graph
from routegraph.nodes.calls import CONTEXT_LENGTH

log = logging.getLogger(__name__)
CREATED = 1_767_225_600  # 2026-01-01: a fixed 'created' for the listed model ids


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error.body(), status_code=error.status, headers={**error.headers, **(headers or {})}
    )


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
    """The parsed JSON body, else a 400 in OpenAI's shape (also for nesting too deep to parse,
    and for NaN / Infinity, which are not JSON)."""
    raw = await request.body()
    try:
        return json.loads(raw, parse_constant=_not_json)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    except RecursionError:
        raise ApiError(400, "The request body is nested too deeply.") from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def no_answer_error(trace: dict[str, Any]) -> ApiError | None:
    """A 502 when no model could answer (every candidate failed, was skipped or over budget):
    an error, with each model's reason, never an assistant message; a 400
    ``context_length_exceeded`` when the only reason was that the newest message does not fit
    (trimming older turns could not help)."""
    if trace.get("chosen_model") is not None or "graph" not in trace:
        return None
    notes = [str(n) for n in trace.get("notes") or []]
    reasons = "; ".join(notes) or "none tried"
    if notes and all(f": {CONTEXT_LENGTH} (" in n for n in notes):
        return ApiError(
            400,
            f"This conversation does not fit any candidate model's context window: {reasons}",
            "messages",
            code="context_length_exceeded",
            extra={"routegraph": trace},
        )
    return ApiError(
        502,
        f"No model could answer: {reasons}",
        None,
        code="no_model_answered",
        extra={"routegraph": trace},
    )


STATIC = Path(__file__).parent / "static"
DASHBOARD_FILES = frozenset({"dashboard.js", "dashboard.css", "chart.umd.min.js"})
"""What ``/dashboard/static/`` serves: these names only (no path from a request)."""
CLIENT_CLOSED = 499
"""The status logged for a request whose client left before the answer (nginx's convention)."""
DISCONNECT_POLL_S = 0.25


async def answer_unless_abandoned(
    request: Request,
    run: Callable[[], Awaitable[Any]],
    undo: Callable[[Any], Awaitable[None]] | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """``await run()``, cancelled within :data:`DISCONNECT_POLL_S` once the client disconnects
    (or the server stops): the task is cancelled and the run's cancel event set, so a model
    decoding in a worker thread stops too. Raises :class:`RunCancelledError` then; a result
    that arrived as the client left is handed to ``undo`` (e.g. a thread lease to give back).
    ``cancel``: the event of a run already started in the caller's scope (a stream's), which
    the caller's context already carries; else the run gets a scope of its own."""
    scope = nullcontext(cancel) if cancel is not None else cancel_scope()
    with scope as cancel:
        task = asyncio.ensure_future(run())  # copies the context: the run sees the event
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise RunCancelledError("the client disconnected")
    except BaseException:
        cancel.set()
        task.cancel()
        outcomes = await asyncio.gather(task, return_exceptions=True)
        outcome = outcomes[0]
        if undo is not None and not isinstance(outcome, BaseException):
            await undo(outcome)
        raise


async def release_unused(admission: Admission) -> None:
    """Give back what an admission holds when its client left before the run started."""
    await admission.release(0.0)


UNAUTHORIZED = ApiError(
    401,
    "Incorrect or missing API key: send 'Authorization: Bearer <key>' with a key from "
    "routegraph keys create (or ROUTEGRAPH_API_KEYS).",
    None,
    code="invalid_api_key",
)


def create_app(
    factory: GraphFactory = build_graph,
    db: str | None = None,
    catalog: Catalog | None = None,
    defaults: dict[str, Any] | None = None,
    keys: KeyRing | None = None,
    policy: RequestPolicy | None = None,
    multitask: str = "reject",
    queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S,
    model_threads: int | None = None,
) -> Starlette:
    """The app; ``db`` (default ``$ROUTEGRAPH_DB``) keeps threads and the outcome log;
    ``factory`` builds graphs (by id) and ``catalog`` is the one their settings are checked
    against; ``defaults`` are run settings for requests that do not name them; ``keys``
    (default: from the environment) who may call; ``policy`` what requests may set;
    ``multitask`` what a request on a busy thread does unless it says (``reject`` / ``enqueue``,
    waiting at most ``queue_timeout_s``); ``model_threads`` how many blocking model calls the
    process runs at once (None: the event loop's own pool, which Python sizes to the cores + 4,
    at most 32; LangGraph runs the graphs' sync nodes there, so it caps the upstream calls in
    flight however slow they are; set while the app runs, as ``routegraph serve`` does)."""
    if multitask not in MULTITASK_STRATEGIES:
        raise InvalidInputError(
            "multitask", f"unknown strategy {multitask!r}", MULTITASK_STRATEGIES
        )
    if model_threads is not None and not (
        isinstance(model_threads, int)
        and not isinstance(model_threads, bool)
        and model_threads >= 1
    ):
        raise InvalidInputError("model_threads", f"{model_threads!r}", "an integer >= 1")
    queues = ThreadQueues(timeout_s=queue_timeout_s)
    if defaults:
        context_from_dict(dict(defaults), catalog)  # a bad operator setting stops the start
    runner = GraphRunner(factory, catalog=catalog, defaults=defaults, policy=policy)
    keyring = keys if keys is not None else KeyRing.from_environment()
    metrics = ServerMetrics()
    db = db if db is not None else os.environ.get(DB_VARIABLE) or None
    ready = {"stores": not db}

    async def authorize(request: Request) -> ApiKey | None:
        """The caller's key; ApiError 401 where keys are asked for and none valid came."""
        if not keyring.enabled:
            return None
        key = await keyring.averify(request.headers.get("authorization"))
        if key is None:
            raise UNAUTHORIZED
        return key

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if model_threads is not None:  # the loop's runner shuts it down with the loop
            asyncio.get_running_loop().set_default_executor(
                ThreadPoolExecutor(model_threads, thread_name_prefix="routegraph-model")
            )
        try:
            if not db:  # leases, rates and spend in this process (the runner's MemoryLedger)
                yield
                return
            async with open_persistence(db) as kept:
                runner.ledger = kept.ledger
                runner.checkpointer = kept.checkpointer
                runner.store = kept.store
                ready["stores"] = True
                yield
                ready["stores"] = False
                runner.checkpointer = None
                runner.store = None
                runner.ledger = MemoryLedger()
        finally:
            metrics.close()

    async def list_models(request: Request) -> Response:
        try:
            await authorize(request)
        except ApiError as exc:
            return error_response(exc)
        return JSONResponse({"object": "list", "data": [model_card(m) for m in served_model_ids()]})

    async def get_model(request: Request) -> Response:
        try:
            await authorize(request)
            return JSONResponse(model_card(request.path_params["model"]))
        except ApiError as exc:
            return error_response(exc)
        except LookupError as exc:
            return error_response(ApiError(404, str(exc), "model", code="model_not_found"))

    async def chat_completions(request: Request) -> Response:
        started = time.perf_counter()
        graph, key_id = "unknown", "none"
        try:
            key = await authorize(request)
            key_id = key.id if key else "none"
            chat = parse_chat_request(await json_body(request))
            chat.key = key
            graph = chat.target.graph_id
            budget = runner.context(chat).budget_usd  # bad settings: a 400 before admission
            chat.multitask_strategy = chat.multitask_strategy or multitask
            if chat.thread_id and chat.multitask_strategy == "enqueue":  # a wait the client
                admission = await answer_unless_abandoned(  # may give up on
                    request, lambda: admit(runner.ledger, chat, budget, queues), release_unused
                )
            else:
                admission = await admit(runner.ledger, chat, budget, queues)
            if chat.stream:
                return await streamed(request, chat, started, admission)
            trace = None
            try:
                message = await answer_unless_abandoned(request, lambda: runner.answer(chat))
                trace = trace_of(message, chat.thread_id)
            finally:
                await admission.release(trace.get("cost_usd") if trace else None)
            failed = no_answer_error(trace)
            if failed is not None:
                raise failed
        except ApiError as exc:
            metrics.record(graph, key_id, exc.status, started)
            return error_response(exc)
        except RunCancelledError:  # the client left: nobody reads this response
            metrics.record(graph, key_id, CLIENT_CLOSED, started)
            return Response(status_code=CLIENT_CLOSED)
        except RouteGraphError as exc:
            metrics.record(graph, key_id, 500, started)
            return error_response(ApiError(500, str(exc)))
        except Exception as exc:  # the client gets OpenAI's shape; the log keeps the trace
            log.exception("run failed")
            metrics.record(graph, key_id, 500, started)
            return error_response(ApiError(500, f"The run failed: {type(exc).__name__}: {exc}"))
        metrics.record(graph, key_id, 200, started, trace)
        return JSONResponse(
            completion_body(chat.target.model_id, message, trace), headers=trace_headers(trace)
        )

    async def streamed(
        request: Request, chat: ChatRequest, started: float, admission: Admission
    ) -> Response:
        with cancel_scope() as cancel:  # the run's tasks copy the scope when they start
            chunks = runner.stream(chat)
            try:  # graphs that judge before they stream send nothing until the run ends:
                # a client that leaves meanwhile must stop it too, not only once it streams
                first = await answer_unless_abandoned(request, lambda: anext(chunks), cancel=cancel)
            except StopAsyncIteration:
                await admission.release(None)
                raise ApiError(500, "The graph returned no answer.") from None
            except BaseException:
                cancel.set()
                await admission.release(None)
                raise
        failed = no_answer_error(trace_of(first))  # the last chunk (with the trace) came first
        if failed is not None:  # nothing sent yet: a plain error response, not a stream
            await chunks.aclose()
            await admission.release(trace_of(first).get("cost_usd"))
            raise failed
        headers = {"x-routegraph-graph": chat.target.graph_id, "cache-control": "no-cache"}
        if chat.thread_id:
            headers["x-routegraph-thread-id"] = chat.thread_id
        key_id = chat.key.id if chat.key else "none"

        async def finished(status: int, trace: dict[str, Any] | None) -> None:
            if status == CLIENT_CLOSED:
                cancel.set()  # stop the model calls still running for the departed client
            # counted before the first await: when the client left, this task is being
            # cancelled and every await raises (the release itself is shielded and completes)
            metrics.record(chat.target.graph_id, key_id, status, started, trace)
            await admission.release(trace.get("cost_usd") if trace else None)

        return StreamingResponse(
            sse_events(chat, first, chunks, finished, cancel),
            media_type="text/event-stream",
            headers=headers,
        )

    async def get_thread(request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        try:
            key = await authorize(request)
            found = await runner.thread(owned_thread_id(thread_id, key) or thread_id)
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
                "interrupted": found["interrupted"],
            }
        )

    async def feedback(request: Request) -> Response:
        try:
            key = await authorize(request)
            body = await json_body(request)
            if isinstance(body, dict) and isinstance(body.get("thread_id"), str):
                body = {**body, "thread_id": owned_thread_id(body["thread_id"], key)}
            if runner.store is None:
                raise ApiError(
                    400,
                    "This server keeps no outcome log: start it with --db (a SQLite file or a "
                    "postgresql:// URL) to take feedback.",
                    None,
                )
            owner = None if key is None or key.admin else key.id
            record = await apply_feedback(runner.store, body, owner)
        except ApiError as exc:
            return error_response(exc)
        return JSONResponse(
            {"object": "feedback", "outcome_id": record["id"], "feedback": record["feedback"]}
        )

    async def dashboard_page(request: Request) -> Response:
        return FileResponse(STATIC / "dashboard.html")

    async def dashboard_static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in DASHBOARD_FILES:
            return error_response(ApiError(404, f"No dashboard file {name!r}.", code="not_found"))
        return FileResponse(STATIC / name, headers={"cache-control": "max-age=3600"})

    async def dashboard_data(request: Request) -> Response:
        try:
            if keyring.enabled and not getattr(await authorize(request), "admin", False):
                raise ApiError(403, "The dashboard needs an admin key (keys create --admin).",
                               None, code="permission_denied")  # fmt: skip
            query = request.query_params
            try:
                hours = float(query.get("hours", "24"))
            except ValueError:
                hours = -1.0
            if not 0 < hours <= 24 * 90:
                raise ApiError(400, "'hours' must be a number in (0, 2160].", "hours")
            if runner.store is None:
                raise ApiError(400, "This server keeps no outcome log: start it with --db.", None)
            records = await aread_outcomes(runner.store)
        except ApiError as exc:
            return error_response(exc)
        figures = summarize(
            records,
            hours=hours,
            key=query.get("key") or None,
            graph=query.get("graph") or None,
            reference_p_strong=reference_p_strong(records),
        )
        return JSONResponse(figures)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not ready["stores"]:
            return JSONResponse({"status": "starting", "stores": "not open"}, status_code=503)
        return JSONResponse({"status": "ready", "threads": bool(db), "keys": keyring.enabled})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

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
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/dashboard/data", dashboard_data, methods=["GET"]),
        Route("/dashboard/static/{name}", dashboard_static, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        # LangGraph's server has its own /metrics; under `langgraph dev` these names are ours
        Route("/routegraph/healthz", healthz, methods=["GET"]),
        Route("/routegraph/readyz", readyz, methods=["GET"]),
        Route("/routegraph/metrics", prometheus, methods=["GET"]),
        Route("/v1/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runner = runner
    app.state.metrics = metrics
    return app


async def sse_events(
    chat: ChatRequest,
    first: AIMessageChunk,
    rest: AsyncIterator[AIMessageChunk],
    finished: Callable[[int, dict[str, Any] | None], Awaitable[None]] | None = None,
    cancel: threading.Event | None = None,
) -> AsyncIterator[bytes]:
    """OpenAI's chunk sequence: role, content and tool-call deltas, a finish chunk carrying the
    routing trace, the usage chunk when asked for, then ``[DONE]``. A failure mid-stream is sent
    as an error event (the status line has already gone out). ``cancel`` is the run's cancel
    event: the graph's later steps start from this generator's context, so it carries it."""
    if cancel is not None:
        CANCEL_EVENT.set(cancel)  # this response's own task: nothing to reset afterwards
    done = finished or _nothing
    cid, created, model = completion_id(), int(time.time()), chat.target.model_id
    make: Callable[..., dict[str, Any]] = lambda **kw: chunk_body(cid, model, created, **kw)  # noqa: E731
    yield sse(make(delta={"role": "assistant", "content": ""}))
    status: tuple[int, dict[str, Any] | None] = (CLIENT_CLOSED, None)  # left mid-stream
    events = _events(chat, first, rest, make)
    try:
        async for event in events:
            if isinstance(event, tuple):
                status = event
            else:
                yield event
    finally:  # also when the client disconnects: the graph's run is closed (cancelled)
        if status[0] == CLIENT_CLOSED and cancel is not None:
            cancel.set()  # first: closing the run waits for the step in flight (a decode)
        await events.aclose()
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
        await done(*status)


async def _nothing(status: int, trace: dict[str, Any] | None) -> None:
    return None


async def _events(
    chat: ChatRequest,
    first: AIMessageChunk,
    rest: AsyncIterator[AIMessageChunk],
    make: Callable[..., dict[str, Any]],
) -> AsyncGenerator[bytes | tuple[int, dict[str, Any] | None], None]:
    """The stream's events, and last the (status, trace) the run ended with."""
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
        yield (exc.status, None)
        yield sse(exc.body())
        return
    except Exception as exc:  # the client must learn the run failed; the log keeps the trace
        log.exception("streamed run failed")
        yield (500, None)
        yield sse(ApiError(500, f"The run failed: {exc}").body())
        return
    assert final is not None
    trace = trace_of(final, chat.thread_id)
    failed = no_answer_error(trace)
    if failed is not None:  # the status line has gone out: an error event, no finish chunk
        yield (failed.status, trace)
        yield sse(failed.body())
        return
    yield (200, trace)
    yield sse(make(delta={}, finish=finish_reason(final), routegraph=trace))
    if chat.include_usage:
        yield sse(make(delta=None, usage=usage_of(final)))
    yield sse("[DONE]")


app = create_app()
"""The app ``langgraph.json`` mounts (``http.app``) and ``routegraph serve`` runs."""

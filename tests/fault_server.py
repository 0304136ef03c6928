"""A local OpenAI-compatible chat server that fails on purpose, for the reliability tests.

It answers ``POST /v1/chat/completions`` on 127.0.0.1 with whatever fault the test queued:

- ``ok``: a valid completion (or an SSE stream when the request asks for ``stream``),
- ``hang``: accepts the request and sends nothing until the client gives up (closes the
  connection: the request's ``abandoned`` is then set) or the server stops,
- ``rate_limited``: HTTP 429 with ``Retry-After``,
- ``server_error``: HTTP 500 with an OpenAI error body,
- ``malformed``: HTTP 200 with a body that is not JSON,
- ``empty``: HTTP 200 with an empty body,
- ``unauthorized``: HTTP 401 whose message echoes the API key sent (as OpenAI's does),
- ``stream_cut``: the response stops midway (an SSE stream without its end, or a JSON body
  shorter than its ``Content-Length``), then the connection closes.

"Connection refused" needs no server: a free port with nothing listening. Faults are taken
from a queue, one per request; when the queue is empty ``default`` applies. Every request is
recorded (path, headers, body) so tests can check what the client sent and how often. Closing
``gate`` holds every answer (after the request is recorded) until it is opened again: a burst
test can count the calls that arrived before any of them finishes.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = (
    "ok",
    "hang",
    "rate_limited",
    "server_error",
    "malformed",
    "empty",
    "stream_cut",
    "unauthorized",
)
ANSWER = "The capital of France is Paris."


@dataclass
class Received:
    """One request the server saw."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    fault: str
    at: float = field(default_factory=time.monotonic)
    abandoned: threading.Event = field(default_factory=threading.Event)
    """Set when the client closed the connection of a ``hang`` request (it gave up on it)."""


class FaultServer:
    """A threaded HTTP server on a free loopback port; ``url`` ends in ``/v1``."""

    def __init__(self, default: str = "ok", retry_after_s: float = 1.0, answer: str = ANSWER):
        self.default = default
        self.retry_after_s = retry_after_s
        self.answer = answer
        self.queue: deque[str] = deque()
        self.received: list[Received] = []
        self.stopping = threading.Event()
        self.gate = threading.Event()
        self.gate.set()  # open: answers go out at once
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # releases hanging handlers
        self.gate.set()  # and held ones
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def plan(self, faults: Iterable[str], default: str | None = None) -> None:
        """Queue one fault per coming request (then ``default``); forget earlier requests."""
        faults = list(faults)
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; allowed: {FAULTS}")
        with self._lock:
            self.queue = deque(faults)
            if default is not None:
                self.default = default
            self.received.clear()

    def next_fault(self) -> str:
        with self._lock:
            return self.queue.popleft() if self.queue else self.default

    @property
    def completions(self) -> int:
        return sum(r.path.endswith("/chat/completions") for r in self.received)


def completion_body(model: str, answer: str) -> dict[str, Any]:
    words = answer.split()
    return {
        "id": "chatcmpl-fault-server",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "logprobs": {
                    "content": [
                        {"token": w, "logprob": -0.01, "bytes": None, "top_logprobs": []}
                        for w in words
                    ]
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": len(words),
            "total_tokens": 20 + len(words),
        },
    }


def stream_chunks(model: str, answer: str) -> list[bytes]:
    chunks = []
    for i, word in enumerate(answer.split(" ")):
        delta = {"role": "assistant", "content": word} if i == 0 else {"content": " " + word}
        body = {
            "id": "chatcmpl-fault-server",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        chunks.append(f"data: {json.dumps(body)}\n\n".encode())
    end = {
        "id": "chatcmpl-fault-server",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    chunks.append(f"data: {json.dumps(end)}\n\n".encode())
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": "fault-model"}]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"unparsed": raw.decode(errors="replace")}
            fault = server.next_fault()
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.path, headers, body, fault)
            server.received.append(received)
            server.gate.wait(timeout=120)
            model = str(body.get("model", "fault-model"))
            stream = bool(body.get("stream"))
            if fault == "hang":
                self._hang(received)
                return
            if fault == "rate_limited":
                self._json(
                    429,
                    {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                    {"Retry-After": f"{server.retry_after_s:g}"},
                )
                return
            if fault == "unauthorized":
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                message = f"Incorrect API key provided: {key}. Find your key at the dashboard."
                self._json(401, {"error": {"message": message, "type": "invalid_request_error"}})
                return
            if fault == "server_error":
                self._json(500, {"error": {"message": "boom", "type": "server_error"}})
                return
            if fault == "malformed":
                self._raw(
                    200, b'{"id": "chatcmpl-x", "choices": [ {"message": oops', "application/json"
                )
                return
            if fault == "empty":
                self._raw(200, b"", "application/json")
                return
            if stream:
                self._stream(model, cut=fault == "stream_cut")
                return
            payload = json.dumps(completion_body(model, server.answer)).encode()
            if fault == "stream_cut":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._raw(200, payload, "application/json")

        def _hang(self, received: Received) -> None:
            """Send nothing until the client closes the connection, the server stops or 120 s
            pass; a close by the client sets ``received.abandoned``."""
            deadline = time.monotonic() + 120
            while not server.stopping.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([self.connection], [], [], 0.02)
                if not readable:
                    continue
                try:
                    closed = not self.connection.recv(1, socket.MSG_PEEK)
                except OSError:  # reset by the client
                    closed = True
                if closed:
                    received.abandoned.set()
                    break
                server.stopping.wait(timeout=0.02)  # bytes after the request: keep hanging
            self.close_connection = True

        def _stream(self, model: str, cut: bool) -> None:
            chunks = stream_chunks(model, server.answer)
            if cut:
                chunks = chunks[: max(1, len(chunks) // 2)]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            if not cut:
                self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True

        def _json(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            self._raw(status, json.dumps(body).encode(), "application/json", headers)

        def _raw(
            self,
            status: int,
            payload: bytes,
            content_type: str,
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

    return Handler

"""Provider health: classify a failed call, and skip a model that keeps failing for a while.

A router sits in front of every request, so one dead endpoint must not cost every request its
full timeout. :data:`HEALTH` is a small process-wide circuit breaker keyed by endpoint: after
``threshold`` consecutive failed tries (or at once on a timeout, or on an HTTP 429 whose
``Retry-After`` was not waited out) the model is *cooling down* and calls skip it until the
cool-down ends; then one trial call is let through (half-open) and a success closes the breaker.

:func:`classify` names what went wrong in the words the attempts record (``fault``):
``timeout``, ``connection``, ``interrupted`` (a response or stream cut midway),
``rate_limited``, ``server_error``, ``malformed`` (a body that is not a valid completion),
``auth``, ``client_error``, ``unavailable`` (not configured / nothing recorded), ``budget``,
``cooling_down`` and ``error`` (anything else).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from routegraph.core.errors import ModelUnavailableError
from routegraph.core.redact import redact

RETRYABLE = frozenset({"connection", "interrupted", "rate_limited", "server_error", "malformed"})
"""Faults worth another try on the same endpoint (a timeout is not: the endpoint hangs)."""
OPENS_AT_ONCE = frozenset({"timeout", "auth"})
"""Faults that put the endpoint on cool-down after a single occurrence."""
HEALTH_FAULTS = RETRYABLE | OPENS_AT_ONCE | {"client_error", "error"}
"""Faults that say something about the endpoint (not about budget or configuration)."""

COOLDOWN_VARIABLE = "ROUTEGRAPH_COOLDOWN_S"
DEFAULT_COOLDOWN_S = 30.0
DEFAULT_THRESHOLD = 3


@dataclass(frozen=True)
class Fault:
    """What one failed try was: its kind, a short (redacted) detail, and Retry-After if any."""

    kind: str
    detail: str
    retry_after_s: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes / contexts, outermost first (langchain-openai wraps openai's)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def retry_after(exc: BaseException) -> float | None:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``) header on the error's response."""
    for item in _chain(exc):
        headers = getattr(getattr(item, "response", None), "headers", None)
        if headers is None:
            continue
        try:
            if headers.get("retry-after-ms"):
                return max(0.0, float(headers["retry-after-ms"]) / 1000)
            if headers.get("retry-after"):
                value = float(headers["retry-after"])
                return max(0.0, value) if math.isfinite(value) else None
        except (TypeError, ValueError):
            return None  # an HTTP date: treated as no hint
    return None


def classify(exc: BaseException) -> Fault:
    """The fault kind of ``exc`` (a provider client's or a chat model's exception)."""
    detail = redact(f"{type(exc).__name__}: {exc}")[:240]
    chain = _chain(exc)
    if any(isinstance(item, ModelUnavailableError) for item in chain):
        reason = next(i for i in chain if isinstance(i, ModelUnavailableError)).reason
        return Fault("unavailable", redact(reason)[:240])
    names = set().union(*(_names(item) for item in chain))
    status = next(
        (
            int(code)
            for item in chain
            if isinstance(code := getattr(item, "status_code", None), int)
        ),
        None,
    )
    if status == 429 or "RateLimitError" in names:
        return Fault("rate_limited", detail, retry_after(exc))
    if status is not None and status >= 500:
        return Fault("server_error", detail, retry_after(exc))
    if status in (401, 403) or "AuthenticationError" in names:
        return Fault("auth", detail)
    if status is not None and 400 <= status < 500:
        return Fault("client_error", detail)
    if names & {"APITimeoutError", "TimeoutException", "TimeoutError", "ReadTimeout"}:
        return Fault("timeout", detail)
    if names & {"RemoteProtocolError", "ReadError", "IncompleteRead", "ChunkedEncodingError"}:
        return Fault("interrupted", detail)
    if names & {"APIConnectionError", "ConnectError", "ConnectionError", "ConnectTimeout"}:
        return Fault("connection", detail)
    if any(isinstance(item, json.JSONDecodeError) for item in chain) or names & {
        "ValidationError",
        "APIResponseValidationError",
        "KeyError",
    }:
        return Fault("malformed", detail)
    if "No generation chunks were returned" in str(exc):
        return Fault("malformed", detail)  # an empty or unparseable stream
    return Fault("error", detail)


@dataclass
class _Record:
    consecutive: int = 0
    open_until: float = 0.0
    last: str = ""
    probing: bool = False


class HealthBoard:
    """Process-wide circuit breaker: which endpoints are cooling down, and until when."""

    def __init__(
        self,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.threshold = threshold
        self.cooldown_s = cooldown_s if cooldown_s is not None else _cooldown_from_env()
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> str | None:
        """None when ``key`` may be called now, else why it is skipped.

        After a cool-down one caller gets through as the trial call; others keep skipping
        until it reports.
        """
        with self._lock:
            record = self._records.get(key)
            if record is None or record.open_until == 0.0:
                return None
            left = record.open_until - self.clock()
            if left > 0:
                return f"cooling down for {left:.0f} more s after {record.last}"
            if record.probing:
                return f"a trial call is under way after {record.last}"
            record.probing = True
            return None

    def success(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def failure(self, key: str, fault: Fault, waited: bool = False) -> None:
        """Count a failed try; open the breaker when the endpoint looks unhealthy.

        ``waited``: a rate limit whose Retry-After the caller is about to wait out (it does not
        open the breaker on its own).
        """
        if fault.kind not in HEALTH_FAULTS:
            return
        with self._lock:
            record = self._records.setdefault(key, _Record())
            record.consecutive += 1
            record.last = fault.kind
            was_probing, record.probing = record.probing, False
            cooldown = self.cooldown_s
            if fault.kind == "rate_limited" and fault.retry_after_s is not None:
                cooldown = max(fault.retry_after_s, 1.0)
            opens = (
                was_probing
                or record.consecutive >= self.threshold
                or fault.kind in OPENS_AT_ONCE
                or (fault.kind == "rate_limited" and not waited)
            )
            if opens:
                record.open_until = self.clock() + cooldown

    def status(self) -> dict[str, dict[str, Any]]:
        """A snapshot for diagnostics: key -> consecutive failures, seconds of cool-down left."""
        now = self.clock()
        with self._lock:
            return {
                key: {
                    "consecutive_failures": r.consecutive,
                    "cooling_down_s": round(max(0.0, r.open_until - now), 3),
                    "last_fault": r.last,
                }
                for key, r in self._records.items()
            }

    def reset(self) -> None:
        with self._lock:
            self._records.clear()


def _cooldown_from_env() -> float:
    raw = os.environ.get(COOLDOWN_VARIABLE)
    if raw is None:
        return DEFAULT_COOLDOWN_S
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_COOLDOWN_S
    return value if math.isfinite(value) and value >= 0 else DEFAULT_COOLDOWN_S


HEALTH = HealthBoard()
"""The breaker every graph in this process shares."""


def endpoint_key(spec_name: str, chat: Any) -> str:
    """What the breaker tracks: the endpoint of a network chat model, else this model object.

    Two catalog names on one endpoint and model id share a record; fake and in-process models
    are keyed by identity, so they never affect each other.
    """
    if hasattr(chat, "openai_api_base"):  # ChatOpenAI and its OpenAI-compatible kin
        base = getattr(chat, "openai_api_base", None) or "api.openai.com"
        return redact(f"openai:{getattr(chat, 'model_name', '?')}@{base}")
    base = getattr(chat, "base_url", None)
    model = getattr(chat, "model", None)
    if isinstance(base, str) and base and isinstance(model, str):  # e.g. ChatOllama
        return redact(f"{type(chat).__name__}:{model}@{base}")
    return f"{spec_name}#{_identity(chat)}"


_identities: dict[int, tuple[weakref.ref[Any], int]] = {}
_identity_lock = threading.Lock()
_next_identity = itertools.count(1)


def _identity(chat: Any) -> int:
    """A number unique to ``chat`` for this process (``id()`` is reused after collection)."""
    with _identity_lock:
        known = _identities.get(id(chat))
        if known is not None and known[0]() is chat:
            return known[1]
        number = next(_next_identity)
        try:
            _identities[id(chat)] = (weakref.ref(chat), number)
        except TypeError:  # not weak-referenceable: fall back to the object's id
            return id(chat)
        if len(_identities) > 4096:  # forget collected models
            for key in [k for k, (ref, _) in _identities.items() if ref() is None]:
                del _identities[key]
        return number

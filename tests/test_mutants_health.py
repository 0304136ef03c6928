"""``nodes/health.py`` pinned where one-line mutants (mutation/health.toml) would change how a
failure is classified or how the breaker opens, cools down and lets a trial call through. An
injected clock replaces time; every expected value is written out by hand.
"""

from __future__ import annotations

import dataclasses
import json
import weakref
from types import SimpleNamespace

import pytest

from routegraph.core.errors import ModelUnavailableError
from routegraph.nodes import health
from routegraph.nodes.health import (
    COOLDOWN_VARIABLE,
    Fault,
    HealthBoard,
    _chain,
    classify,
    endpoint_key,
    retry_after,
)


class HTTPFailure(Exception):
    """A provider client's error: an HTTP status and a response with headers."""

    def __init__(self, status: int | None = None, headers: dict | None = None):
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.response = SimpleNamespace(headers=headers) if headers is not None else None


def named(name: str) -> Exception:
    """An exception whose class is called ``name`` (client libraries' errors, by name)."""
    return type(name, (Exception,), {})("boom")


def wrapped(inner: BaseException, as_context: bool = False) -> RuntimeError:
    outer = RuntimeError("wrapper")
    if as_context:
        outer.__context__ = inner
    else:
        outer.__cause__ = inner
    return outer


# --- classify -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (428, "client_error"),
        (429, "rate_limited"),
        (430, "client_error"),
        (399, "error"),
        (400, "client_error"),
        (401, "auth"),
        (402, "client_error"),
        (403, "auth"),
        (404, "client_error"),
        (499, "client_error"),
        (500, "server_error"),
        (501, "server_error"),
        (503, "server_error"),
    ],
)
def test_http_status_decides_the_fault(status: int, kind: str) -> None:
    assert classify(HTTPFailure(status)).kind == kind
    assert classify(wrapped(HTTPFailure(status))).kind == kind
    assert classify(wrapped(HTTPFailure(status), as_context=True)).kind == kind


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (named("RateLimitError"), "rate_limited"),
        (named("AuthenticationError"), "auth"),
        (TimeoutError("slow"), "timeout"),
        (named("ReadTimeout"), "timeout"),
        (named("RemoteProtocolError"), "interrupted"),
        (named("ChunkedEncodingError"), "interrupted"),
        (ConnectionRefusedError("no"), "connection"),
        (named("ConnectError"), "connection"),
        (json.JSONDecodeError("bad", "{", 0), "malformed"),
        (wrapped(json.JSONDecodeError("bad", "{", 0)), "malformed"),
        (KeyError("choices"), "malformed"),
        (named("ValidationError"), "malformed"),
        (ValueError("No generation chunks were returned"), "malformed"),
        (ValueError("something else"), "error"),
        (ModelUnavailableError("m", "no key for m"), "unavailable"),
        (wrapped(ModelUnavailableError("m", "no key for m")), "unavailable"),
    ],
)
def test_exception_kinds_decide_the_fault(exc: BaseException, kind: str) -> None:
    assert classify(exc).kind == kind


def test_details_are_cut_to_240_characters() -> None:
    fault = classify(ValueError("x" * 500))
    assert fault.detail == "ValueError: " + "x" * 228  # 12 + 228 = 240
    assert classify(ModelUnavailableError("m", "y" * 500)).detail == "y" * 240
    assert classify(ModelUnavailableError("m", "no key")).detail == "no key"


def test_retry_after_is_kept_for_rate_limits_and_server_errors_only() -> None:
    assert classify(HTTPFailure(429, {"retry-after": "7"})).retry_after_s == 7.0
    assert classify(HTTPFailure(503, {"retry-after": "7"})).retry_after_s == 7.0
    assert classify(HTTPFailure(404, {"retry-after": "7"})).retry_after_s is None


def test_a_fault_is_a_frozen_value_and_knows_if_it_is_worth_a_retry() -> None:
    fault = Fault("timeout", "slow")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fault.kind = "error"  # type: ignore[misc]
    assert fault.retryable is False
    assert Fault("connection", "").retryable is True


# --- retry_after / _chain -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "-5"}, 0.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({"retry-after": ["7"]}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict, seconds: float | None) -> None:
    assert retry_after(HTTPFailure(429, headers)) == seconds


def test_retry_after_is_found_on_a_wrapped_error() -> None:
    assert retry_after(wrapped(HTTPFailure(429, {"retry-after": "4"}))) == 4.0
    assert retry_after(wrapped(HTTPFailure(429, None))) is None


def test_the_chain_follows_causes_and_contexts_up_to_8_without_cycles() -> None:
    errors = [ValueError(str(i)) for i in range(12)]
    for outer, inner in zip(errors, errors[1:], strict=False):
        outer.__context__ = inner
    assert _chain(errors[0]) == errors[:8]
    assert _chain(errors[4]) == errors[4:12]
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert _chain(a) == [a, b]


# --- the breaker --------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def board(threshold: int = 3, cooldown_s: float = 30.0) -> tuple[HealthBoard, Clock]:
    clock = Clock()
    return HealthBoard(threshold=threshold, cooldown_s=cooldown_s, clock=clock), clock


SERVER = Fault("server_error", "HTTP 503")


def test_the_breaker_opens_at_the_threshold_and_cools_down_for_exactly_cooldown_s() -> None:
    b, clock = board()
    b.failure("m", SERVER)
    b.failure("m", SERVER)
    assert b.check("m") is None and b.check("m") is None  # 2 failures: still closed
    b.failure("m", SERVER)
    assert b.check("m") == "cooling down for 30 more s after server_error"
    clock.now = 129.5
    assert b.check("m") == "cooling down for 0 more s after server_error"
    clock.now = 130.0  # the cool-down is over: one trial call
    assert b.check("m") is None
    assert b.check("m") == "a trial call is under way after server_error"
    b.success("m")
    assert b.check("m") is None and b.check("m") is None


def test_a_failed_trial_reopens_and_the_next_trial_is_let_through() -> None:
    b, clock = board()
    b.failure("m", Fault("timeout", "slow"))  # opens at once
    clock.now = 130.0
    assert b.check("m") is None  # the trial
    b.failure("m", SERVER)  # the trial failed: open again for 30 s
    assert b.check("m") == "cooling down for 30 more s after server_error"
    clock.now = 160.0
    assert b.check("m") is None


@pytest.mark.parametrize("kind", ["timeout", "auth"])
def test_timeouts_and_auth_errors_open_at_once(kind: str) -> None:
    b, _ = board()
    b.failure("m", Fault(kind, ""))
    assert b.check("m") == f"cooling down for 30 more s after {kind}"


def test_faults_that_say_nothing_about_the_endpoint_are_not_counted() -> None:
    b, _ = board(threshold=1)
    b.failure("m", Fault("budget", ""))
    b.failure("m", Fault("unavailable", ""))
    assert b.check("m") is None and b.status() == {}


def test_a_rate_limit_cools_down_for_its_retry_after_of_at_least_1_s() -> None:
    b, clock = board()
    b.failure("m", Fault("rate_limited", "", 5.0))
    clock.now = 104.9
    assert b.check("m") is not None
    clock.now = 105.0
    assert b.check("m") is None
    b, clock = board()
    b.failure("m", Fault("rate_limited", "", 0.2))
    clock.now = 100.99
    assert b.check("m") is not None
    clock.now = 101.0
    assert b.check("m") is None
    b, _ = board()
    b.failure("m", Fault("rate_limited", ""))  # no Retry-After: the board's cool-down
    assert b.check("m") == "cooling down for 30 more s after rate_limited"


def test_a_rate_limit_being_waited_out_does_not_open_the_breaker() -> None:
    b, _ = board()
    b.failure("m", Fault("rate_limited", "", 2.0), waited=True)
    assert b.check("m") is None
    b.failure("m", Fault("server_error", "", 2.0))  # Retry-After of another fault: ignored
    b.failure("m", Fault("server_error", "", 2.0))  # the third failure in a row
    assert b.check("m") == "cooling down for 30 more s after server_error"


def test_status_reports_failures_and_the_cool_down_left() -> None:
    b, clock = board(cooldown_s=1.23456)
    b.failure("m", Fault("timeout", ""))
    b.failure("n", SERVER)
    assert b.status() == {
        "m": {"consecutive_failures": 1, "cooling_down_s": 1.235, "last_fault": "timeout"},
        "n": {"consecutive_failures": 1, "cooling_down_s": 0.0, "last_fault": "server_error"},
    }
    clock.now = 102.0
    assert b.status()["m"]["cooling_down_s"] == 0.0
    b.reset()
    assert b.status() == {}


# --- the cool-down setting ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (None, 30.0),
        ("5", 5.0),
        ("0.5", 0.5),
        ("0", 0.0),
        ("-1", 30.0),
        ("inf", 30.0),
        ("nan", 30.0),
        ("soon", 30.0),
    ],
)
def test_the_cool_down_comes_from_the_environment(raw, seconds, monkeypatch) -> None:
    if raw is None:
        monkeypatch.delenv(COOLDOWN_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(COOLDOWN_VARIABLE, raw)
    fresh = HealthBoard()
    assert (fresh.threshold, fresh.cooldown_s) == (3, seconds)
    assert HealthBoard(cooldown_s=7.0).cooldown_s == 7.0


# --- endpoint_key -------------------------------------------------------------------------
def test_network_models_are_keyed_by_endpoint() -> None:
    openai = SimpleNamespace(openai_api_base="http://h:1/v1", model_name="m")
    assert endpoint_key("a", openai) == "openai:m@http://h:1/v1"
    assert endpoint_key("b", SimpleNamespace(openai_api_base=None, model_name="m")) == (
        "openai:m@api.openai.com"
    )
    ollama = SimpleNamespace(base_url="http://o:11434", model="llama")
    assert endpoint_key("c", ollama) == "SimpleNamespace:llama@http://o:11434"


class Fake:
    def __init__(self, base_url: object = None, model: object = None) -> None:
        self.base_url, self.model = base_url, model


def test_other_models_are_keyed_by_identity() -> None:
    one, two = Fake(), Fake()
    assert endpoint_key("x", one) == endpoint_key("x", one)
    assert endpoint_key("x", one) != endpoint_key("x", two)
    assert endpoint_key("x", one).startswith("x#")
    for half in (Fake("", "m"), Fake("http://o", None), Fake(None, "m")):
        assert endpoint_key("y", half).startswith("y#")
    plain = object()  # not weak-referenceable: its id
    assert endpoint_key("z", plain) == f"z#{id(plain)}"


def test_identities_of_collected_models_are_forgotten_past_4096(monkeypatch) -> None:
    dead = weakref.ref(Fake())  # its object is gone
    monkeypatch.setattr(health, "_identities", {-i: (dead, i) for i in range(1, 4096)})
    first, second = Fake(), Fake()
    endpoint_key("m", first)  # 4,096 entries: none forgotten yet
    assert len(health._identities) == 4096
    endpoint_key("m", second)  # 4,097: the dead ones go
    assert sorted(health._identities) == sorted([id(first), id(second)])

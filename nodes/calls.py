"""One model call with retries, the catalog's fallback chain, a budget cap, its usage and cost.

Every node that talks to a model (generate, MinionS decompose / worker / aggregate) goes through
:func:`call_model`, so faults, fallbacks, costs and the live / recorded distinction are handled
once. For each option of the fallback chain, in order:

1. its worst-case cost is checked against what is left of the budget (``budget_left``): a call
   that could overrun is not made (fault ``budget``);
2. an endpoint that keeps failing is skipped while it cools down (:mod:`.health`);
3. the call is tried, and retried after a transient fault (connection, 429, 5xx, malformed or
   cut reply) up to ``ctx.call_retries`` times with exponential backoff, or after the server's
   ``Retry-After`` when that is short; a timeout is not retried (the endpoint hangs).

Every failed try is kept in :attr:`CallResult.faults` with its kind, so the attempt records
what happened even when a later option answered. Texts are redacted: no key or URL credential
reaches the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from routegraph.core.cancellation import RunCancelledError
from routegraph.core.catalog import ModelSpec
from routegraph.core.context import RouteContext
from routegraph.core.errors import ModelUnavailableError
from routegraph.core.models import ResolvedModel
from routegraph.core.redact import redact
from routegraph.nodes.budget import worst_case_cost
from routegraph.nodes.health import HEALTH, Fault, classify, endpoint_key
from routegraph.nodes.resources import Toolkit
from routegraph.nodes.turns import conversation, message_tokens

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 4.0
MAX_RETRY_AFTER_S = 5.0
"""A Retry-After longer than this is not waited out: the next option is tried instead, and the
endpoint cools down for the time the server asked."""

sleep: Callable[[float], None] = time.sleep
"""How retries wait (tests replace it to run without waiting)."""


@dataclass
class CallResult:
    """A successful call, or (``reply is None``) why every option failed."""

    requested: str
    reply: AIMessage | None = None
    spec: ModelSpec | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    """Every failed try: ``{"model", "fault", "detail", "try"}`` (+ ``retry_after_s``)."""
    notes: list[str] = field(default_factory=list)
    """Remarks on a call that succeeded, e.g. that a model could not take the tools."""

    @property
    def ok(self) -> bool:
        return self.reply is not None

    @property
    def source(self) -> str:
        if self.reply is None:
            return "unavailable"
        return str(self.reply.response_metadata.get("source", "live"))

    @property
    def is_local(self) -> bool:
        return self.spec is not None and self.spec.tier == "local"

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def fault_kinds(self) -> list[str]:
        return [f["fault"] for f in self.faults]

    def why_unavailable(self) -> str:
        return "; ".join(self.failures) or "unavailable"

    def record(self, model: str, fault: Fault, attempt: int = 1) -> None:
        entry: dict[str, Any] = {
            "model": model,
            "fault": fault.kind,
            "detail": fault.detail,
            "try": attempt,
        }
        if fault.retry_after_s is not None:
            entry["retry_after_s"] = fault.retry_after_s
        self.faults.append(entry)
        line = (
            f"{model}: {fault.detail}"
            if fault.kind == "unavailable"
            else (f"{model}: {fault.kind} ({fault.detail})")
        )
        if line not in self.failures:
            self.failures.append(line)


CONTEXT_LENGTH = "context_length"
"""The fault of a prompt that cannot fit a model's window, however it is trimmed."""
WINDOW_MARGIN_TOKENS = 16
"""Kept free in a window beside the answer: the template's own tokens (an empty system
message, the generation prompt: 9 for chatml) and rounding."""


def fit_window(
    prompt: list[BaseMessage], window: int, answer_tokens: int
) -> list[BaseMessage] | None:
    """``prompt`` trimmed (oldest turns first) so it and an answer of ``answer_tokens`` fit a
    ``window``-token model; None when even the system message and newest question do not."""
    limit = window - answer_tokens - WINDOW_MARGIN_TOKENS
    if limit <= 0:
        return None
    fitted = conversation(prompt, limit)
    return fitted if message_tokens(fitted) <= limit else None


def with_tools(
    chat: BaseChatModel, tools: Sequence[dict[str, Any]], tool_choice: Any
) -> tuple[Runnable[Any, Any], str | None]:
    """``chat`` bound to ``tools`` (OpenAI schemas), or ``chat`` itself and why not."""
    if not tools:
        return chat, None
    try:
        return chat.bind_tools(list(tools), tool_choice=tool_choice), None
    except NotImplementedError:
        return chat, f"{chat._llm_type} cannot call tools; answered without them"


def forces_a_tool(tools: Sequence[dict[str, Any]], tool_choice: Any) -> bool:
    """Whether ``tool_choice`` requires a tool call (``required``, ``any`` or a named tool)."""
    return bool(tools) and tool_choice not in (None, "auto", "none")


def backoff_s(retry: int, fault: Fault) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, ...): the server's hint or
    exponential backoff."""
    if fault.retry_after_s is not None:
        return fault.retry_after_s
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (retry - 1))


def invoke_with_retries(
    runnable: Runnable[Any, Any],
    prompt: list[BaseMessage],
    name: str,
    key: str,
    retries: int,
    result: CallResult,
    deterministic: bool = False,
) -> Any | None:
    """The reply of ``runnable`` on ``prompt``, retrying transient faults; None when it failed
    (each failed try recorded in ``result`` and on the health board). A ``deterministic`` model
    (the embedded one at temperature 0) would give the same malformed reply again: that fault
    is not retried (each try would decode the same broken tool call again)."""
    for attempt in range(1, retries + 2):
        try:
            reply = runnable.invoke(prompt)
        except RunCancelledError:  # nobody waits for this run: not a fault of the model
            raise
        except Exception as exc:  # any provider fault: classified, recorded, maybe retried
            fault = classify(exc)
            result.record(name, fault, attempt)
            wait = backoff_s(attempt, fault)
            same_again = deterministic and fault.kind == "malformed"
            will_retry = (
                fault.retryable and not same_again and attempt <= retries
                and wait <= MAX_RETRY_AFTER_S
            )  # fmt: skip
            HEALTH.failure(key, fault, waited=will_retry)
            if not will_retry:
                return None
            sleep(wait)
            if HEALTH.check(key) is not None:  # opened by this or another run meanwhile
                return None
            continue
        HEALTH.success(key)
        return reply
    return None


def call_model(
    kit: Toolkit,
    ctx: RouteContext,
    name: str,
    prompt: list[BaseMessage],
    tools: Sequence[dict[str, Any]] = (),
    tool_choice: Any = None,
    budget_left: float | None = None,
) -> CallResult:
    """Invoke ``name`` (then its fallbacks) on ``prompt``; never raises for a failing model.

    With ``tools``, the model is bound to them (``bind_tools``) and its tool calls come back on
    the reply; a model that cannot take tools answers without them, and the result says so.
    With ``budget_left``, an option whose worst-case cost exceeds it is not called.
    """
    result = CallResult(requested=name)
    try:
        options = kit.resolver(ctx).resolve_all(name, kit.settings(ctx))
    except ModelUnavailableError as exc:
        result.record(name, Fault("unavailable", redact(exc.reason)))
        return result
    for skipped in options[0].skipped:  # say why earlier entries were skipped
        model, _, why = skipped.partition(": ")
        result.record(model, Fault("unavailable", redact(why)))
    for option in options:
        if _try_option(option, ctx, prompt, tools, tool_choice, budget_left, result):
            return result
    return result


def _try_option(
    option: ResolvedModel,
    ctx: RouteContext,
    prompt: list[BaseMessage],
    tools: Sequence[dict[str, Any]],
    tool_choice: Any,
    budget_left: float | None,
    result: CallResult,
) -> bool:
    """Call one option of the chain; fill ``result`` and return True when it answered."""
    spec = option.spec
    if spec.context_window:
        fitted = fit_window(prompt, spec.context_window, ctx.max_tokens)
        if fitted is None:
            need = message_tokens(prompt[-1:])
            detail = (
                f"the newest message alone is {need} tokens; the model takes {spec.context_window}"
                f" with {ctx.max_tokens} kept for the answer"
            )
            result.record(spec.name, Fault(CONTEXT_LENGTH, detail))
            return False
        prompt = fitted
    if budget_left is not None:
        worst = worst_case_cost(spec, prompt, ctx.max_tokens, tools, option.chat)
        if worst > budget_left:
            detail = f"could cost up to ${worst:.6f}; ${budget_left:.6f} of the budget left"
            result.record(spec.name, Fault("budget", detail))
            return False
    key = endpoint_key(spec.name, option.chat)
    busy = HEALTH.check(key)
    if busy is not None:
        result.record(spec.name, Fault("cooling_down", busy))
        return False
    started = time.perf_counter()
    runnable, why_no_tools = with_tools(option.chat, tools, tool_choice)
    if ctx.stop:
        runnable = runnable.bind(stop=list(ctx.stop))
    deterministic = spec.provider == "llamacpp" and ctx.temperature == 0
    reply = invoke_with_retries(
        runnable, prompt, spec.name, key, ctx.call_retries, result, deterministic
    )
    if reply is None:
        return False
    if forces_a_tool(tools, tool_choice) and not getattr(reply, "tool_calls", None):
        # A forced tool call answered in plain text is not an answer to what was asked.
        detail = f"did not call a tool although tool_choice={tool_choice!r} requires one"
        result.record(spec.name, Fault("tool_choice", f"{detail} ({why_no_tools or 'ignored'})"))
        return False
    usage: dict[str, Any] = dict(getattr(reply, "usage_metadata", None) or {})
    result.reply = reply if isinstance(reply, AIMessage) else AIMessage(content=reply.text)
    result.spec = spec
    result.input_tokens = int(usage.get("input_tokens", 0))
    result.output_tokens = int(usage.get("output_tokens", 0))
    recorded_cost = result.reply.response_metadata.get("recorded_cost_usd")
    # A replayed answer costs what the data recorded for that call (RouterBench files carry
    # real per-call costs); everything else is reported usage x catalog price.
    result.cost_usd = (
        float(recorded_cost)
        if recorded_cost is not None
        else spec.cost(result.input_tokens, result.output_tokens)
    )
    result.latency_s = round(time.perf_counter() - started, 4)
    if why_no_tools:
        result.notes.append(why_no_tools)
    return True

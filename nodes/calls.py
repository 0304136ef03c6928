"""One model call with the catalog's fallback chain, its usage and its cost.

Every node that talks to a model (generate, MinionS decompose / worker / aggregate) goes through
:func:`call_model`, so fallbacks, costs and the live / recorded distinction are handled once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from routegraph.core.catalog import ModelSpec
from routegraph.core.context import RouteContext
from routegraph.core.errors import ModelUnavailableError
from routegraph.nodes.resources import Toolkit


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

    def why_unavailable(self) -> str:
        return "; ".join(self.failures) or "unavailable"


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


def call_model(
    kit: Toolkit,
    ctx: RouteContext,
    name: str,
    prompt: list[BaseMessage],
    tools: Sequence[dict[str, Any]] = (),
    tool_choice: Any = None,
) -> CallResult:
    """Invoke ``name`` (then its fallbacks) on ``prompt``; never raises for an unreachable model.

    With ``tools``, the model is bound to them (``bind_tools``) and its tool calls come back on
    the reply; a model that cannot take tools answers without them, and the result says so.
    """
    result = CallResult(requested=name)
    try:
        options = kit.resolver(ctx).resolve_all(name, kit.settings(ctx))
    except ModelUnavailableError as exc:
        result.failures.append(exc.reason)
        return result
    result.failures.extend(options[0].skipped)  # say why earlier entries were skipped
    for option in options:
        started = time.perf_counter()
        runnable, why_no_tools = with_tools(option.chat, tools, tool_choice)
        try:
            reply = runnable.invoke(prompt)
        except ModelUnavailableError as exc:
            result.failures.append(f"{option.spec.name}: {exc.reason}")
            continue
        except Exception as exc:  # network or server errors: try the next fallback
            result.failures.append(f"{option.spec.name}: {type(exc).__name__}: {exc}"[:300])
            continue
        usage: dict[str, Any] = dict(getattr(reply, "usage_metadata", None) or {})
        result.reply = reply if isinstance(reply, AIMessage) else AIMessage(content=reply.text)
        result.spec = option.spec
        result.input_tokens = int(usage.get("input_tokens", 0))
        result.output_tokens = int(usage.get("output_tokens", 0))
        recorded_cost = result.reply.response_metadata.get("recorded_cost_usd")
        # A replayed answer costs what the data recorded for that call (RouterBench files carry
        # real per-call costs); everything else is reported usage x catalog price.
        result.cost_usd = (
            float(recorded_cost)
            if recorded_cost is not None
            else option.spec.cost(result.input_tokens, result.output_tokens)
        )
        result.latency_s = round(time.perf_counter() - started, 4)
        if why_no_tools:
            result.notes.append(why_no_tools)
        return result
    return result

"""The shared begin_turn -> route -> generate -> evaluate loop and the finalize step.

Each factory takes the graph's policy and toolkit and returns a node function. Branching nodes
return ``Command`` with a ``Literal`` destination type so LangGraph Studio draws every edge:
``route`` goes to ``generate`` or ``finalize`` (stop), ``evaluate`` goes to ``finalize``
(accept) or back to ``route`` (escalate / cascade / re-route). ``begin_turn`` (see
:mod:`routegraph.nodes.turns`) resets the per-turn keys so each run routes its own question.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.types import Command

from routegraph.core.context import RouteContext
from routegraph.core.outcomes import new_outcome_id
from routegraph.core.redact import redact
from routegraph.core.state import Attempt, RouteState
from routegraph.evaluators.base import Confidence, EvaluationInput
from routegraph.nodes import budget
from routegraph.nodes.calls import CallResult, call_model
from routegraph.nodes.health import classify
from routegraph.nodes.metered import MeteredChatModel
from routegraph.nodes.outcomes import candidates, exploration_pick, outcome_record, write_outcome
from routegraph.nodes.policy import Choice, Policy
from routegraph.nodes.resources import Toolkit, current_context, routing_query, user_query
from routegraph.nodes.turns import conversation, tool_loop_model, turn_record
from routegraph.routers.guard import fallback_note

Node = Callable[..., Any]
log = logging.getLogger(__name__)


def emit(event: dict[str, Any]) -> None:
    """Send a custom stream event (``stream_mode="custom"``); a no-op outside a stream."""
    with contextlib.suppress(RuntimeError):  # outside a runnable context (plain unit call)
        get_stream_writer()(event)


def decision_record(step: int, choice: Choice) -> dict[str, Any]:
    record = {
        "step": step,
        "router": choice.router,
        "scores": {k: round(float(v), 6) for k, v in choice.scores.items()},
        "threshold": choice.threshold,
        "chosen_model": choice.model,
        "action": choice.action,
        "reason": choice.reason,
    }
    if choice.columns:
        record["router_columns"] = dict(choice.columns)
    if choice.ood is not None:
        record["ood"] = dict(choice.ood)
    return record


def make_route_node(policy: Policy, kit: Toolkit) -> Node:
    def route(
        state: RouteState, runtime: Runtime[RouteContext]
    ) -> Command[Literal["generate", "finalize"]]:
        ctx = current_context(runtime, kit)
        query = routing_query(state["messages"])
        attempts = state.get("attempts", [])
        step = len(attempts) + 1
        spent = state.get("cost_usd", 0.0)
        staying = tool_loop_model(state["messages"])
        if len(attempts) >= ctx.max_steps:
            choice = Choice(None, "stop", f"max_steps {ctx.max_steps} reached")
        elif attempts and spent >= ctx.budget_usd:
            choice = Choice(None, "stop", f"budget {ctx.budget_usd} USD reached ({spent:.6f})")
        elif staying and not attempts:
            choice = Choice(
                staying, "stay", f"tool loop: {staying} asked for the tools, so it answers"
            )
        else:
            choice = policy.choose(state, ctx, kit, query)
        if choice.ood and choice.ood.get("fallback_weight", 0.0) > 0:
            ood = choice.ood
            choice = replace(choice, reason=f"{choice.reason}; {fallback_note(ood)}")
        if choice.model:
            choice = within_budget(choice, state, ctx, kit)
        record = decision_record(step, choice)
        emit({"event": "routing_decision", "graph": policy.name, **record})
        update: dict[str, Any] = {"decisions": [record], "next_model": choice.model}
        return Command(goto="generate" if choice.model else "finalize", update=update)

    return route


def make_generate_node(kit: Toolkit) -> Node:
    def generate(
        state: RouteState, runtime: Runtime[RouteContext]
    ) -> Command[Literal["evaluate", "route"]]:
        ctx = current_context(runtime, kit)
        name = state["next_model"] or ""
        step = len(state.get("attempts", [])) + 1
        prompt = conversation(state["messages"], ctx.max_input_tokens)
        left = budget.left(ctx.budget_usd, state.get("cost_usd", 0.0))
        call = call_model(
            kit, ctx, name, prompt, tools=ctx.tools, tool_choice=ctx.tool_choice, budget_left=left
        )
        if not call.ok or call.spec is None or call.reply is None:
            failed: Attempt = {
                "step": step,
                "model": name,
                "answer": "",
                "confidence": None,
                "cost_usd": 0.0,
                "input_tokens": 0,
                "output_tokens": 0,
                "latency_s": 0.0,
                "source": "unavailable",
                "note": call.why_unavailable(),
                "faults": call.faults,
            }
            emit(
                {
                    "event": "model_unavailable",
                    "model": name,
                    "reason": failed["note"],
                    "faults": call.fault_kinds,
                }
            )
            note = f"{name} is not available: {failed['note']}"
            return Command(goto="route", update={"attempts": [failed], "notes": [note]})
        attempt = answered_attempt(step, name, call)
        return Command(
            goto="evaluate",
            update={
                "pending": attempt,
                "last_message": call.reply,
                "cost_usd": call.cost_usd,
                "local_tokens": call.tokens if call.is_local else 0,
                "remote_tokens": 0 if call.is_local else call.tokens,
            },
        )

    return generate


def stopped_at_max_tokens(reply: AIMessage) -> bool:
    """Whether a reply was cut off by its token limit: OpenAI-compatible servers and llama.cpp
    say ``finish_reason`` ``length``, Ollama ``done_reason`` ``length``."""
    meta = reply.response_metadata
    return "length" in (meta.get("finish_reason"), meta.get("done_reason"))


def answered_attempt(step: int, name: str, call: CallResult) -> Attempt:
    """The attempt record of a call that returned a reply (``call.ok``)."""
    assert call.spec is not None and call.reply is not None
    attempt: Attempt = {
        "step": step,
        "model": name,
        "served_by": call.spec.name,
        "tier": call.spec.tier,
        "answer": call.reply.text,
        "confidence": None,
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "cost_usd": call.cost_usd,
        "latency_s": call.latency_s,
        "source": call.source,  # type: ignore[typeddict-item]
        "faults": call.faults,
    }
    if call.reply.tool_calls:
        attempt["tool_calls"] = [dict(tc) for tc in call.reply.tool_calls]
    if stopped_at_max_tokens(call.reply):
        attempt["truncated"] = True
    if call.notes:
        attempt["note"] = "; ".join(call.notes)
    if call.spec.name != name:
        attempt["note"] = (
            f"{name} unavailable ({call.why_unavailable()}); "
            f"answered by {call.spec.name} ({call.source})"
        )
    return attempt


def make_evaluate_node(policy: Policy, kit: Toolkit) -> Node:
    def evaluate(
        state: RouteState, runtime: Runtime[RouteContext]
    ) -> Command[Literal["finalize", "route"]]:
        ctx = current_context(runtime, kit)
        attempt: dict[str, Any] = dict(state["pending"] or {})
        usage: dict[str, Any] = {}
        if attempt.get("tool_calls"):
            # A request to run tools is not an answer to score: the agent runs the tools and
            # this model answers their results (the tool loop stays on it).
            attempt["evaluator"] = "tool_calls"
            accepted, why = True, "the model called tools; the agent runs them"
        else:
            left = budget.left(ctx.budget_usd, state.get("cost_usd", 0.0))
            confidence, judge = guarded_evaluation(state, ctx, kit, attempt, left)
            attempt["confidence"] = round(confidence.score, 6)
            attempt["evaluator"] = confidence.evaluator
            attempt["evaluation"] = _plain(confidence.details)
            usage = evaluation_usage(judge, attempt)
            accepted, why = policy.accept(state, ctx, attempt)  # type: ignore[arg-type]
        record = {
            "step": attempt["step"],
            "router": "",
            "scores": {},
            "threshold": None,
            "chosen_model": attempt["model"],
            "action": "accept" if accepted else "escalate",
            "reason": why,
        }
        emit(
            {
                "event": "evaluation",
                "graph": policy.name,
                "model": attempt["model"],
                "confidence": attempt["confidence"],
                "accepted": accepted,
                "reason": why,
            }
        )
        return Command(
            goto="finalize" if accepted else "route",
            update={"attempts": [attempt], "decisions": [record], "pending": None, **usage},
        )

    return evaluate


def guarded_evaluation(
    state: RouteState,
    ctx: RouteContext,
    kit: Toolkit,
    attempt: dict[str, Any],
    left: float,
    message: AIMessage | None = None,
) -> tuple[Confidence, MeteredChatModel | None]:
    """The evaluator's confidence in ``attempt``, never an exception.

    The evaluator gets the model that served the answer, metered against ``left`` (the budget
    still free), so its own calls are capped and counted. Whatever goes wrong (a judge that
    fails or would overrun the budget, a missing artifact, a score that is not a number in
    [0, 1]) makes the answer not confident (0), with the reason in the evaluation details.
    """
    name = ctx.evaluator
    judge: MeteredChatModel | None = None
    try:
        served = attempt.get("served_by") or attempt["model"]
        option = kit.resolver(ctx).resolve_all(served, kit.settings(ctx))[0]
        judge = MeteredChatModel(
            inner=option.chat, spec=option.spec, budget_left=left, max_tokens=ctx.max_tokens
        )
        evaluator = kit.evaluator_for(ctx, judge)
        name = str(getattr(evaluator, "name", name))
        query = user_query(state["messages"])
        confidence = evaluator.evaluate(
            EvaluationInput(
                query, attempt["answer"], attempt["model"], message or state.get("last_message")
            )
        )
        score = float(confidence.score)
        if not 0.0 <= score <= 1.0:  # NaN fails this too
            raise ValueError(f"evaluator {name!r} returned {confidence.score!r}, not in [0, 1]")
        return confidence, judge
    except Exception as exc:  # the run goes on: an answer nobody could vouch for
        fault = classify(exc)
        reason = redact(f"{type(exc).__name__}: {exc}")[:300]
        details = {"failed": True, "fault": fault.kind, "reason": reason}
        emit({"event": "evaluation_failed", "evaluator": name, "reason": reason})
        return Confidence(0.0, name, details), judge


def evaluation_usage(judge: MeteredChatModel | None, attempt: dict[str, Any]) -> dict[str, Any]:
    """The state update for what the evaluator's own calls cost (recorded on ``attempt``)."""
    if judge is None or not judge.calls:
        return {}
    tokens = judge.input_tokens + judge.output_tokens
    local = judge.spec.tier == "local"
    attempt["evaluation_cost_usd"] = judge.cost_usd
    return {
        "cost_usd": judge.cost_usd,
        "local_tokens": tokens if local else 0,
        "remote_tokens": 0 if local else tokens,
    }


def within_budget(choice: Choice, state: RouteState, ctx: RouteContext, kit: Toolkit) -> Choice:
    """``choice`` if its call cannot overrun what is left of ``budget_usd``; else a cheaper
    untried model that cannot (only while nothing has answered yet), else stop.

    The worst case of a model is that of the cheapest entry of its fallback chain: the call
    itself (``call_model``) skips any entry that could overrun.
    """
    assert choice.model is not None
    left = budget.left(ctx.budget_usd, state.get("cost_usd", 0.0))
    prompt = conversation(state["messages"], ctx.max_input_tokens)
    resolver = kit.resolver(ctx)

    def worst(name: str) -> float:
        return min(
            budget.worst_case_cost(spec, prompt, ctx.max_tokens, ctx.tools)
            for spec in resolver.chain(name)
        )

    cost = worst(choice.model)
    if cost <= left:
        return choice
    over = f"{choice.model} could cost up to ${cost:.6f}; ${left:.6f} of budget {ctx.budget_usd}"
    answered_yet = any(a.get("source") != "unavailable" for a in state.get("attempts", []))
    if not answered_yet:
        done = {a["model"] for a in state.get("attempts", [])}
        names = dict.fromkeys([*ctx.models, ctx.weak_model, ctx.strong_model])
        fits = sorted((worst(n), n) for n in names if n not in done and n != choice.model)
        fits = [(c, n) for c, n in fits if c <= left]
        if fits:
            cost, name = fits[0]
            reason = f"budget: {over} left; {name} fits (up to ${cost:.6f})"
            return replace(choice, model=name, action="downgrade", reason=reason)
    return replace(choice, model=None, action="stop", reason=f"budget: {over} left")


def _plain(value: Any) -> Any:
    """JSON-safe copy of evaluator details (numpy scalars -> floats)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def best_attempt(state: RouteState) -> Attempt | None:
    """The accepted attempt, else the most confident answered one."""
    attempts = [a for a in state.get("attempts", []) if a.get("source") != "unavailable"]
    if not attempts:
        return None
    decisions = state.get("decisions", [])
    if decisions and decisions[-1].get("action") == "accept":
        return attempts[-1]
    return max(attempts, key=lambda a: (a.get("confidence") or 0.0, a["step"]))


def explore(
    outcome_id: str, graph_name: str, state: RouteState, ctx: RouteContext, kit: Toolkit
) -> tuple[Attempt, float, dict[str, Any]] | None:
    """The ``explore`` setting's extra call: one other candidate, drawn with the logged
    propensity, answers too and is judged by the evaluator, so the log learns what the router
    did not ask. Made only if its worst-case cost fits the budget left; its answer is never
    returned. Returns ``(attempt, propensity, state update)`` or None."""
    done = [a["model"] for a in state.get("attempts", [])]
    pick = exploration_pick(outcome_id, ctx.explore, candidates(graph_name, ctx), done)
    if pick is None:
        return None
    name, propensity = pick
    left = budget.left(ctx.budget_usd, state.get("cost_usd", 0.0))
    prompt = conversation(state["messages"], ctx.max_input_tokens)
    # call_model skips every option whose worst case could overrun what is left
    call = call_model(kit, ctx, name, prompt, tools=ctx.tools, budget_left=left)
    if not call.ok or call.spec is None or call.reply is None:
        return None
    attempt = answered_attempt(len(done) + 1, name, call)
    attempt["explored"] = True
    confidence, judge = guarded_evaluation(
        state, ctx, kit, dict(attempt), left - call.cost_usd, message=call.reply
    )
    attempt["confidence"] = round(confidence.score, 6)
    attempt["evaluator"] = confidence.evaluator
    usage = evaluation_usage(judge, attempt)  # type: ignore[arg-type]
    cost = call.cost_usd + float(usage.get("cost_usd", 0.0))
    update = {
        "cost_usd": cost,
        "local_tokens": (call.tokens if call.is_local else 0) + usage.get("local_tokens", 0),
        "remote_tokens": (0 if call.is_local else call.tokens) + usage.get("remote_tokens", 0),
    }
    emit({"event": "exploration", "model": name, "propensity": propensity, "cost_usd": cost})
    return attempt, propensity, update


def log_outcome(
    graph_name: str,
    state: RouteState,
    ctx: RouteContext,
    kit: Toolkit | None,
    store: BaseStore | None,
    chosen: Attempt | None,
) -> tuple[str | None, tuple[Attempt, float, dict[str, Any]] | None]:
    """Explore (if drawn) and write this turn's outcome record; ``(outcome id, exploration)``.

    Nothing happens without a store or with ``outcome_log="off"``; a failure here is logged
    and never costs the user the answer."""
    if store is None or ctx.outcome_log == "off":
        return None, None
    kit = kit or Toolkit()
    outcome_id = new_outcome_id()
    explored = None
    try:
        explored = explore(outcome_id, graph_name, state, ctx, kit)
        query = user_query(state["messages"])
        pair = (explored[0], explored[1]) if explored else None
        spent = float(explored[2]["cost_usd"]) if explored else 0.0
        with_cost: Any = {**state, "cost_usd": state.get("cost_usd", 0.0) + spent}
        record = outcome_record(outcome_id, graph_name, with_cost, ctx, kit, query, chosen, pair)
    except Exception as exc:  # the answer is ready: the log must not take it away
        log.warning("outcome not logged: %s: %s", type(exc).__name__, exc)
        return None, explored  # an exploratory call that was made still counts in the cost
    return (outcome_id if write_outcome(store, record) else None), explored


def make_finalize_node(
    graph_name: str,
    kit: Toolkit | None = None,
    select: Callable[[RouteState, RouteContext], Attempt | None] | None = None,
) -> Node:
    """``select`` picks the returned answer (default :func:`best_attempt`): a policy whose
    quality estimate is not the bare confidence returns the answer its own estimate ranks best."""

    def finalize(state: RouteState, runtime: Runtime[RouteContext]) -> dict[str, Any]:
        ctx = current_context(runtime, kit)
        chosen = select(state, ctx) if select is not None else best_attempt(state)
        outcome_id, explored = log_outcome(graph_name, state, ctx, kit, runtime.store, chosen)
        extra: dict[str, Any] = explored[2] if explored else {}
        attempts = state.get("attempts", [])
        notes = list(state.get("notes", []))
        cloud_used = any(
            a.get("tier") == "cloud" and a.get("source") != "unavailable" for a in attempts
        )
        if chosen is None:
            content = "No model could answer: " + ("; ".join(notes) or "nothing was tried")
        else:
            content = chosen["answer"]
        input_tokens = sum(int(a.get("input_tokens", 0)) for a in attempts)
        output_tokens = sum(int(a.get("output_tokens", 0)) for a in attempts)
        metadata = {
            "graph": graph_name,
            "turn": int(state.get("turn") or 1),
            "chosen_model": chosen["model"] if chosen else None,
            "served_by": chosen.get("served_by") if chosen else None,  # type: ignore[union-attr]
            "source": chosen.get("source") if chosen else None,
            "confidence": chosen.get("confidence") if chosen else None,
            "steps": len(attempts),
            "path": [a["model"] for a in attempts],
            "cost_usd": round(float(state.get("cost_usd", 0.0)) + extra.get("cost_usd", 0.0), 8),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "escalated": any(
                d.get("action") in ("escalate", "cascade") for d in state.get("decisions", [])
            ),
            "cloud_used": cloud_used,
            "local_tokens": state.get("local_tokens", 0),
            "remote_tokens": state.get("remote_tokens", 0),
            "notes": notes,
        }
        if outcome_id:
            metadata["outcome_id"] = outcome_id
        if explored:
            metadata["explored"] = {
                "model": explored[0]["model"],
                "propensity": round(explored[1], 6),
                "confidence": explored[0].get("confidence"),
                "cost_usd": round(extra["cost_usd"], 8),
            }
        message = AIMessage(
            content=content,
            name=f"routegraph-{graph_name}",
            tool_calls=list(chosen.get("tool_calls", [])) if chosen else [],  # type: ignore[arg-type]
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            response_metadata={
                "routegraph": metadata,
                "model_name": metadata["served_by"] or metadata["chosen_model"],
                # what OpenAI clients read to tell a cut-off answer from a finished one
                "finish_reason": "length" if chosen and chosen.get("truncated") else "stop",
            },
        )
        emit({"event": "final", **metadata})
        cheap = {ctx.weak_model, ctx.models[0]}
        strong = bool(chosen) and chosen["model"] not in cheap  # type: ignore[index]
        record = turn_record(state, user_query(state["messages"]), chosen, strong, metadata)
        return {"messages": [message], "history": [record], **extra}

    return finalize

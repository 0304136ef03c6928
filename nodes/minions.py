"""MinionS steps: a strong model decomposes, small local workers solve parts, the strong model
reassembles, and may start another round when the result is not good enough.

The strong model sees only the question and the workers' short outputs, never the whole
document, so remote tokens stay small while local workers read the long context. Local and
remote tokens are counted separately in the state. When the strong model is unreachable the
decomposition falls back to plain chunking and the local model aggregates (said in ``notes``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from routegraph.core.context import RouteContext
from routegraph.core.state import RouteState, SubtaskResult, WorkerState
from routegraph.nodes import budget
from routegraph.nodes.calls import CallResult, call_model
from routegraph.nodes.resources import Toolkit, current_context, user_query
from routegraph.nodes.steps import emit, evaluation_usage, guarded_evaluation

DECOMPOSE_PROMPT = (
    "You lead small assistants that each read one excerpt of a long document. Split the task "
    "into at most {k} short, self-contained jobs, one per excerpt, each answerable from one "
    "excerpt alone. Reply with a JSON list of strings only.\n\nTask: {query}\n{feedback}"
)
WORKER_PROMPT = "{task}\n\nExcerpt:\n{chunk}\n\nAnswer briefly from the excerpt only."
AGGREGATE_PROMPT = (
    "Combine the assistants' findings into one final answer to the task. Be concise.\n\n"
    "Task: {query}\n\nFindings:\n{findings}\n\nFinal answer:"
)
_JSON_LIST = re.compile(r"\[.*\]", re.DOTALL)


def chunk_document(document: str, parts: int) -> list[str]:
    """Split ``document`` into at most ``parts`` pieces along paragraph boundaries."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", document) if p.strip()]
    if not paragraphs:
        return []
    size = max(1, -(-len(paragraphs) // parts))
    return ["\n\n".join(paragraphs[i : i + size]) for i in range(0, len(paragraphs), size)]


def parse_jobs(text: str, limit: int) -> list[str]:
    """The JSON list of job strings in the strong model's reply, or [] if there is none."""
    match = _JSON_LIST.search(text)
    if not match:
        return []
    try:
        jobs = json.loads(match.group(0))
    except json.JSONDecodeError:
        return []
    return [str(j).strip() for j in jobs if str(j).strip()][:limit]


def _usage_update(call: CallResult) -> dict[str, Any]:
    local = call.is_local
    return {
        "cost_usd": call.cost_usd,
        "local_tokens": call.tokens if local else 0,
        "remote_tokens": 0 if local else call.tokens,
    }


def make_decompose_node(kit: Toolkit) -> Any:
    def decompose(
        state: RouteState, runtime: Runtime[RouteContext]
    ) -> Command[Literal["worker", "aggregate"]]:
        ctx = current_context(runtime, kit)
        query = user_query(state["messages"])
        round_ = state.get("round", 0) + 1
        document = state.get("document") or ""
        feedback = ""
        attempts = state.get("attempts", [])
        if attempts:
            last = attempts[-1]
            feedback = (
                f"\nA previous round answered: {last['answer'][:400]!r} with confidence "
                f"{last.get('confidence')}. Ask different, more specific jobs."
            )
        left = budget.left(ctx.budget_usd, state.get("cost_usd", 0.0))
        call = call_model(
            kit,
            ctx,
            ctx.strong_model,
            [
                HumanMessage(
                    DECOMPOSE_PROMPT.format(k=ctx.max_subtasks, query=query, feedback=feedback)
                )
            ],
            budget_left=left,
        )
        jobs = parse_jobs(call.reply.text, ctx.max_subtasks) if call.reply else []
        notes = []
        instead = "split the document into chunks" if document else "asked the question itself"
        if not call.ok:
            notes.append(
                f"strong model {ctx.strong_model} unavailable for decomposition "
                f"({call.why_unavailable()}); {instead} instead"
            )
        elif not jobs:
            used = "used chunks" if document else "asked the question itself"
            notes.append(f"the strong model's decomposition was not a JSON list; {used}")
        chunks = chunk_document(document, ctx.max_subtasks) if document else []
        if chunks:
            tasks = [
                WORKER_PROMPT.format(task=jobs[i % len(jobs)] if jobs else query, chunk=chunk)
                for i, chunk in enumerate(chunks)
            ]
        else:
            tasks = jobs or [query]
        decision = {
            "step": len(attempts) + 1,
            "router": "minions",
            "scores": {},
            "threshold": None,
            "chosen_model": ctx.weak_model,
            "action": "decompose",
            "reason": f"round {round_}: {len(tasks)} local jobs",
        }
        emit({"event": "routing_decision", "graph": "minions", **decision})
        # Each job may spend an equal share of what is left; one share stays for aggregation.
        share = budget.left(left, call.cost_usd) / (len(tasks) + 1)
        sends = [
            Send(
                "worker",
                WorkerState(task=t, index=i, round=round_, document=None, budget_usd=share),
            )
            for i, t in enumerate(tasks)
        ]
        return Command(
            goto=sends,
            update={
                "subtasks": tasks,
                "round": round_,
                "decisions": [decision],
                "notes": notes,
                **(_usage_update(call) if call.ok else {}),
            },
        )

    return decompose


def make_worker_node(kit: Toolkit) -> Any:
    def worker(state: WorkerState, runtime: Runtime[RouteContext]) -> dict[str, Any]:
        ctx = current_context(runtime, kit)
        call = call_model(
            kit,
            ctx,
            ctx.weak_model,
            [HumanMessage(state["task"])],
            budget_left=state.get("budget_usd", ctx.budget_usd),
        )
        result: SubtaskResult = {
            "round": state["round"],
            "index": state["index"],
            "task": state["task"][:500],
            "answer": call.reply.text if call.reply else f"(unavailable: {call.why_unavailable()})",
            "model": ctx.weak_model,
            "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens,
            "cost_usd": call.cost_usd,
            "source": call.source,  # type: ignore[typeddict-item]
        }
        return {"worker_results": [result], **_usage_update(call)}

    return worker


def make_aggregate_node(kit: Toolkit) -> Any:
    def aggregate(
        state: RouteState, runtime: Runtime[RouteContext]
    ) -> Command[Literal["decompose", "finalize"]]:
        ctx = current_context(runtime, kit)
        query = user_query(state["messages"])
        round_ = state.get("round", 1)
        results = sorted(
            (r for r in state.get("worker_results", []) if r["round"] == round_),
            key=lambda r: r["index"],
        )
        findings = "\n".join(f"{r['index'] + 1}. {r['answer']}" for r in results)
        prompt = [
            SystemMessage("You write the final answer from the findings."),
            HumanMessage(AGGREGATE_PROMPT.format(query=query, findings=findings)),
        ]
        left = budget.left(ctx.budget_usd, state.get("cost_usd", 0.0))
        call = call_model(kit, ctx, ctx.strong_model, prompt, budget_left=left)
        notes: list[str] = []
        if not call.ok:
            notes.append(
                f"strong model {ctx.strong_model} unavailable for aggregation; "
                f"the local model {ctx.weak_model} aggregated"
            )
            call = call_model(kit, ctx, ctx.weak_model, prompt, budget_left=left)
        answer = call.reply.text if call.reply else findings
        attempt: dict[str, Any] = {
            "model": call.requested,
            "served_by": call.spec.name if call.spec else call.requested,
            "answer": answer,
        }
        confidence, judge = (
            guarded_evaluation(
                state, ctx, kit, attempt, budget.left(left, call.cost_usd), call.reply
            )
            if call.spec is not None
            else (None, None)
        )
        score = round(confidence.score, 6) if confidence else 0.0
        attempt = {
            "step": len(state.get("attempts", [])) + 1,
            "model": call.requested,
            "served_by": call.spec.name if call.spec else call.requested,
            "tier": call.spec.tier if call.spec else "cloud",
            "answer": answer,
            "confidence": score,
            "evaluator": confidence.evaluator if confidence else "none",
            "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens,
            "cost_usd": call.cost_usd,
            "latency_s": call.latency_s,
            "source": call.source,
            "faults": call.faults,
        }
        if confidence is not None and confidence.details.get("failed"):
            attempt["evaluation"] = dict(confidence.details)
        usage = _usage_update(call) if call.ok else {}
        for key, value in evaluation_usage(judge, attempt).items():
            usage[key] = usage.get(key, 0) + value
        accepted = score >= ctx.confidence_threshold or round_ >= ctx.max_rounds
        reason = f"round {round_}: confidence {score:.3f} " + (
            ">= threshold"
            if score >= ctx.confidence_threshold
            else "< threshold but max_rounds reached"
            if accepted
            else "< threshold: new round"
        )
        decision = {
            "step": attempt["step"],
            "router": "minions",
            "scores": {},
            "threshold": ctx.confidence_threshold,
            "chosen_model": call.requested,
            "action": "accept" if accepted else "re-route",
            "reason": reason,
        }
        emit(
            {
                "event": "evaluation",
                "graph": "minions",
                "round": round_,
                "confidence": score,
                "accepted": accepted,
            }
        )
        return Command(
            goto="finalize" if accepted else "decompose",
            update={
                "attempts": [attempt],
                "decisions": [decision],
                "notes": notes,
                **usage,
            },
        )

    return aggregate

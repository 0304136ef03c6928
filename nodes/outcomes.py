"""What ``finalize`` writes to the outcome log (:mod:`routegraph.core.outcomes`) for one turn.

A record is what off-policy learning needs and nothing more: the router's prior quality for
every candidate (so a refit can correct it), the models called with the probability each had of
being called (routed and escalated calls: 1; an exploratory call: the ``explore`` share over the
models it could have picked), each answer's evaluator verdict, cost and latency, and - added
later - the user's feedback. The prompt is kept as text, as an embedding only, or not at all
(the ``outcome_log`` setting).
"""

from __future__ import annotations

import contextlib
import logging
import random
from typing import Any

from langgraph.config import get_config
from langgraph.store.base import BaseStore

from routegraph.core.context import RouteContext
from routegraph.core.outcomes import now_iso, save_outcome
from routegraph.core.state import Attempt, RouteState
from routegraph.nodes.resources import Toolkit

log = logging.getLogger(__name__)
PAIR_GRAPHS = ("simple", "hybrid")
"""Graphs that choose between ``weak_model`` and ``strong_model`` rather than ``models``."""
EMBEDDER = "minilm-static"
"""Embedder of ``outcome_log="embedding"`` records: the static table, no torch at serve time."""


def candidates(graph: str, ctx: RouteContext) -> list[str]:
    """The models this graph's router chooses among (catalog names, cheapest first)."""
    if graph in PAIR_GRAPHS:
        return list(dict.fromkeys([ctx.weak_model, ctx.strong_model]))
    return list(ctx.models)


def thread_id() -> str | None:
    """The run's ``thread_id`` (None for a stateless run or outside a runnable)."""
    with contextlib.suppress(RuntimeError):
        value = (get_config().get("configurable") or {}).get("thread_id")
        return str(value) if value is not None else None
    return None


KEY_METADATA = "routegraph_key"
"""Run metadata naming the API key a served request came with (set by the HTTP app), so the
dashboard can show spend and savings per key."""


def api_key_id() -> str | None:
    with contextlib.suppress(RuntimeError):
        value = (get_config().get("metadata") or {}).get(KEY_METADATA)
        return str(value) if value is not None else None
    return None


def baseline_cost(
    kit: Toolkit, ctx: RouteContext, names: list[str], chosen: Attempt | None
) -> float:
    """What the same turn would have cost on the priciest candidate: its prices on the
    answer's own token counts (the always-strongest deployment a router is measured against)."""
    if chosen is None:
        return 0.0
    catalog = kit.catalog_for(ctx)
    specs = [catalog.get(n) for n in names if n in catalog]
    if not specs:
        return 0.0
    priciest = max(specs, key=lambda spec: (spec.input_price + spec.output_price, spec.name))
    return priciest.cost(int(chosen.get("input_tokens", 0)), int(chosen.get("output_tokens", 0)))


def exploration_pick(
    outcome_id: str, share: float, pool: list[str], tried: list[str]
) -> tuple[str, float] | None:
    """``(model, propensity)`` of this request's exploratory call, or None (not drawn, or no
    model left). The draw is seeded by the outcome id, so a record can be re-derived."""
    left = [m for m in pool if m not in tried]
    if share <= 0 or not left:
        return None
    rng = random.Random(outcome_id)
    if rng.random() >= share:
        return None
    return rng.choice(left), share / len(left)


def router_facts(graph: str, ctx: RouteContext, kit: Toolkit, query: str) -> dict[str, Any]:
    """Which router (and promoted version) the turn used, its predicted quality per candidate
    (``prior``) and the router column behind each candidate (``columns``)."""
    names = candidates(graph, ctx)
    handle = kit.router_for(ctx, names)
    scores = handle.scores(query, names, ctx.router_columns)
    return {
        "router": handle.name,
        "router_version": handle.router.meta_.get("version") if handle.router else None,
        "candidates": names,
        "prior": {k: round(float(v), 6) for k, v in scores.items()},
        "columns": handle.columns(names, ctx.router_columns),
    }


def _prompt_fields(mode: str, query: str) -> dict[str, Any]:
    if mode == "prompt":
        return {"prompt": query, "prompt_chars": len(query)}
    from routegraph.routers.embedded import named_embedder

    vector = named_embedder(EMBEDDER).embed_query(query)
    return {
        "prompt": None,
        "prompt_chars": len(query),
        "embedding": {"embedder": EMBEDDER, "vector": [round(float(x), 6) for x in vector]},
    }


def call_record(attempt: Attempt, chosen: Attempt | None, propensity: float) -> dict[str, Any]:
    return {
        "step": attempt.get("step"),
        "model": attempt["model"],
        "served_by": attempt.get("served_by", attempt["model"]),
        "source": attempt.get("source"),
        "confidence": attempt.get("confidence"),
        "evaluator": attempt.get("evaluator"),
        "chosen": chosen is not None and attempt is chosen,
        "explored": bool(attempt.get("explored")),
        "propensity": round(propensity, 6),
        "cost_usd": float(attempt.get("cost_usd", 0.0)),
        "latency_s": float(attempt.get("latency_s", 0.0)),
        "input_tokens": int(attempt.get("input_tokens", 0)),
        "output_tokens": int(attempt.get("output_tokens", 0)),
    }


def outcome_record(
    outcome_id: str,
    graph: str,
    state: RouteState,
    ctx: RouteContext,
    kit: Toolkit,
    query: str,
    chosen: Attempt | None,
    explored: tuple[Attempt, float] | None,
) -> dict[str, Any]:
    """The log record of this turn (see the module doc)."""
    first = next((d for d in state.get("decisions", []) if d.get("router")), {})
    calls = [
        call_record(a, chosen, 1.0)
        for a in state.get("attempts", [])
        if a.get("source") != "unavailable"
    ]
    if explored is not None:
        calls.append(call_record(explored[0], chosen, explored[1]))
    faults = [
        str(fault.get("fault"))
        for a in state.get("attempts", [])
        for fault in a.get("faults") or []
    ]
    facts = router_facts(graph, ctx, kit, query)
    return {
        "id": outcome_id,
        "created_at": now_iso(),
        "graph": graph,
        "thread_id": thread_id(),
        "turn": int(state.get("turn") or 1),
        "key": api_key_id(),
        **_prompt_fields(ctx.outcome_log, query),
        **facts,
        "threshold": first.get("threshold"),
        "p_strong": (first.get("scores") or {}).get("p_strong"),
        "ood": first.get("ood"),
        "explore": ctx.explore,
        "calls": calls,
        "chosen_model": chosen["model"] if chosen else None,
        "cost_usd": round(float(state.get("cost_usd", 0.0)), 8),
        "baseline_cost_usd": round(baseline_cost(kit, ctx, facts["candidates"], chosen), 8),
        "faults": faults,
        "latency_s": round(sum(float(c["latency_s"]) for c in calls), 4),
        "feedback": None,
    }


def write_outcome(store: BaseStore, record: dict[str, Any]) -> bool:
    """Save ``record``; a store that fails never fails the answer (logged, returns False)."""
    try:
        save_outcome(store, record)
    except Exception as exc:  # the user's answer matters more than the log
        log.warning("outcome %s not logged: %s: %s", record.get("id"), type(exc).__name__, exc)
        return False
    return True

"""Run a graph on one question and flatten the outcome into a plain, JSON-ready record.

The CLI's ``ask`` and ``demo`` commands and the graph-level benchmark all read results through
:func:`summarize`, so they report the same fields the same way.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage

from routegraph.core.context import context_from_dict
from routegraph.core.errors import check_text
from routegraph.graphs.registry import build_graph


def check_query(query: object) -> str:
    """A non-empty, valid UTF-8 text query of sane length, else a clear error."""
    return check_text("query", query)


def run_graph(
    graph_id: str,
    query: str,
    context: dict[str, Any] | None = None,
    document: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Invoke graph ``graph_id`` on ``query``; returns the final state."""
    check_query(query)
    ctx = context_from_dict(context or {}, overrides.get("catalog"))
    graph = build_graph(graph_id, **overrides)
    state: dict[str, Any] = {"messages": [HumanMessage(query)]}
    if document:
        state["document"] = document
    result: dict[str, Any] = graph.invoke(state, context=ctx)  # type: ignore[call-overload]
    return result


def summarize(graph_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """The JSON record of a run: answer, graph, attempts, cost, escalation, notes, decisions."""
    final = state["messages"][-1]
    meta = final.response_metadata.get("routegraph", {})
    attempts = [
        {
            "model": a.get("model"),
            "served_by": a.get("served_by", a.get("model")),
            "source": a.get("source"),
            "tier": a.get("tier"),
            "confidence": a.get("confidence"),
            "evaluator": a.get("evaluator"),
            "cost_usd": a.get("cost_usd", 0.0),
            "input_tokens": a.get("input_tokens", 0),
            "output_tokens": a.get("output_tokens", 0),
            "latency_s": a.get("latency_s", 0.0),
            "answer": a.get("answer", ""),
            **({"note": a["note"]} if a.get("note") else {}),
            **({"faults": a["faults"]} if a.get("faults") else {}),
            **(
                {"evaluation": a["evaluation"]} if (a.get("evaluation") or {}).get("failed") else {}
            ),
        }
        for a in state.get("attempts", [])
    ]
    return {
        "answer": final.text,
        "graph": graph_id,
        "chosen_model": meta.get("chosen_model"),
        "source": meta.get("source"),
        "confidence": meta.get("confidence"),
        "attempts": attempts,
        "cost_usd": meta.get("cost_usd", 0.0),
        "escalated": bool(meta.get("escalated")),
        "cloud_used": bool(meta.get("cloud_used")),
        "local_tokens": meta.get("local_tokens", 0),
        "remote_tokens": meta.get("remote_tokens", 0),
        "steps": meta.get("steps", len(attempts)),
        "notes": meta.get("notes", []),
        "decisions": state.get("decisions", []),
    }

"""The figures behind ``/dashboard``: what routing saved, at what quality, and whether it still
routes the way it did.

Everything comes from the outcome log (one record per routed request, :mod:`nodes.outcomes`):
spend against what the same answers would have cost on the priciest candidate (the
always-strongest baseline), the model mix, escalations, evaluator confidence, user feedback,
latency per model, faults, per key and per graph, and the newest requests with their trace.

Drift: the router's P(strong) over the window is compared with the previous window of the same
length and with the validation scores stored in the router's artifact (its calibration set), by
the population stability index (PSI; above 0.2 is the usual "the population has shifted"
line), and the share of requests the novelty guard marked out-of-distribution with its share in
the previous window. Each crossing is an alarm with the numbers that raised it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

BUCKETS = 24
PSI_ALARM = 0.2
OOD_ALARM_SHARE = 0.3
OOD_ALARM_RISE = 0.1
MIN_FOR_DRIFT = 20
"""Fewer scores than this in a window: no drift figure (PSI on a handful is noise)."""
RECENT = 20
NOVEL = 0.5
"""A request counts as out-of-distribution when the guard's ``ood`` score is at least this."""


def reference_p_strong(records: list[dict[str, Any]]) -> list[float] | None:
    """The validation P(strong) stored with the router most of ``records`` were routed with
    (its artifact's calibration set), or None (a built-in rule, or none stored)."""
    names = Counter(str(r["router"]) for r in records if r.get("router"))
    if not names:
        return None
    return _calibration_scores(names.most_common(1)[0][0])


@lru_cache(maxsize=8)
def _calibration_scores(name: str) -> list[float] | None:
    from routegraph.routers.registry import load_router

    try:
        router = load_router(name)
    except Exception:  # a heuristic, a folder since moved: no reference, no alarm from it
        return None
    scores = (getattr(router, "meta_", {}) or {}).get("calibration_set", {}).get("p_strong")
    return [float(x) for x in scores] if scores else None


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float | None:
    """Population stability index of ``current`` against ``reference`` on the reference's
    deciles (probabilities floored at 1e-4 so an empty bin does not make it infinite)."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    if reference.size < MIN_FOR_DRIFT or current.size < MIN_FOR_DRIFT:
        return None
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if edges.size < 3:  # a constant reference: compare below / above its value
        edges = np.array([-np.inf, float(reference[0]), np.inf])
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(reference, edges)[0] / reference.size
    actual = np.histogram(current, edges)[0] / current.size
    expected, actual = np.maximum(expected, 1e-4), np.maximum(actual, 1e-4)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _time(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["created_at"]))


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 4) if values else 0.0


def summarize(
    records: list[dict[str, Any]],
    *,
    hours: float = 24.0,
    key: str | None = None,
    graph: str | None = None,
    now: datetime | None = None,
    reference_p_strong: list[float] | None = None,
) -> dict[str, Any]:
    """The dashboard's figures for the last ``hours`` (optionally one key / one graph)."""
    now = now or datetime.now(UTC)
    start = now - timedelta(hours=hours)
    every = [r for r in records if r.get("created_at")]
    keys = sorted({str(r.get("key")) for r in every if r.get("key")})
    graphs = sorted({str(r.get("graph")) for r in every if r.get("graph")})
    chosen = [
        r for r in every
        if (key is None or r.get("key") == key) and (graph is None or r.get("graph") == graph)
    ]  # fmt: skip
    window = [r for r in chosen if start <= _time(r) <= now]
    previous = [r for r in chosen if start - timedelta(hours=hours) <= _time(r) < start]
    answered = [r for r in window if r.get("chosen_model")]
    cost = sum(float(r.get("cost_usd") or 0.0) for r in window)
    baseline = sum(float(r.get("baseline_cost_usd") or 0.0) for r in window)
    rated = [float(r["feedback"]["score"]) for r in window if r.get("feedback")]
    escalated = sum(1 for r in answered if len([c for c in r.get("calls", [])
                                                 if not c.get("explored")]) > 1)  # fmt: skip
    return {
        "window": {"from": start.isoformat(), "to": now.isoformat(), "hours": hours},
        "filters": {"keys": keys, "graphs": graphs, "key": key, "graph": graph},
        "totals": {
            "requests": len(window),
            "answered": len(answered),
            "cost_usd": round(cost, 6),
            "baseline_usd": round(baseline, 6),
            "saved_usd": round(baseline - cost, 6),
            "saved_pct": round(100 * (baseline - cost) / baseline, 1) if baseline > 0 else None,
            "escalation_rate": round(escalated / len(answered), 4) if answered else None,
            "feedback_mean": round(sum(rated) / len(rated), 4) if rated else None,
            "feedback_n": len(rated),
        },
        "series": _series(window, start, hours),
        "model_mix": dict(Counter(str(r["chosen_model"]) for r in answered).most_common()),
        "confidence": _confidence_histogram(answered),
        "latency": _latency_by_model(window),
        "faults": dict(Counter(f for r in window for f in r.get("faults") or []).most_common()),
        "per_key": _breakdown(window, "key"),
        "per_graph": _breakdown(window, "graph"),
        "recent": [_recent(r) for r in sorted(window, key=_time, reverse=True)[:RECENT]],
        "drift": _drift(window, previous, reference_p_strong),
    }


def _series(window: list[dict[str, Any]], start: datetime, hours: float) -> dict[str, Any]:
    width = timedelta(hours=hours) / BUCKETS
    requests = [0] * BUCKETS
    cost = [0.0] * BUCKETS
    baseline = [0.0] * BUCKETS
    for record in window:
        i = min(BUCKETS - 1, int((_time(record) - start) / width))
        requests[i] += 1
        cost[i] += float(record.get("cost_usd") or 0.0)
        baseline[i] += float(record.get("baseline_cost_usd") or 0.0)
    return {
        "starts": [(start + i * width).isoformat() for i in range(BUCKETS)],
        "requests": requests,
        "cost_usd": [round(c, 6) for c in cost],
        "baseline_usd": [round(b, 6) for b in baseline],
    }


def _confidence_histogram(answered: list[dict[str, Any]]) -> dict[str, Any]:
    values = [
        float(c["confidence"])
        for r in answered
        for c in r.get("calls", [])
        if c.get("chosen") and c.get("confidence") is not None
    ]
    counts, edges = np.histogram(values, bins=10, range=(0.0, 1.0))
    return {"edges": [round(float(e), 2) for e in edges], "counts": counts.tolist()}


def _latency_by_model(window: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_model: dict[str, list[float]] = defaultdict(list)
    for record in window:
        for call in record.get("calls", []):
            by_model[str(call.get("model"))].append(float(call.get("latency_s") or 0.0))
    return {
        model: {"n": len(v), "p50_s": _percentile(v, 50), "p95_s": _percentile(v, 95)}
        for model, v in sorted(by_model.items())
    }


def _breakdown(window: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in window:
        groups[str(record.get(field) or "none")].append(record)
    rows = []
    for name, group in sorted(groups.items()):
        cost = sum(float(r.get("cost_usd") or 0.0) for r in group)
        baseline = sum(float(r.get("baseline_cost_usd") or 0.0) for r in group)
        rows.append({
            field: name, "requests": len(group), "cost_usd": round(cost, 6),
            "baseline_usd": round(baseline, 6), "saved_usd": round(baseline - cost, 6),
        })  # fmt: skip
    return rows


def _recent(record: dict[str, Any]) -> dict[str, Any]:
    chosen: dict[str, Any] = next((c for c in record.get("calls", []) if c.get("chosen")), {})
    return {
        "time": record.get("created_at"),
        "key": record.get("key"),
        "graph": record.get("graph"),
        "router": record.get("router"),
        "p_strong": record.get("p_strong"),
        "ood": record.get("ood"),
        "path": [c.get("model") for c in record.get("calls", [])],
        "chosen_model": record.get("chosen_model"),
        "confidence": chosen.get("confidence"),
        "cost_usd": record.get("cost_usd"),
        "baseline_usd": record.get("baseline_cost_usd"),
        "feedback": (record.get("feedback") or {}).get("score"),
    }


def _p_strong(records: list[dict[str, Any]]) -> np.ndarray:
    return np.array([float(r["p_strong"]) for r in records if r.get("p_strong") is not None])


def _ood_share(records: list[dict[str, Any]]) -> float | None:
    flags = [r["ood"] for r in records if r.get("ood") is not None]
    if not flags:
        return None
    novel = [float(f.get("ood", 0.0) if isinstance(f, dict) else f) >= NOVEL for f in flags]
    return round(sum(novel) / len(novel), 4)


def _drift(
    window: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    reference: list[float] | None,
) -> dict[str, Any]:
    now_p, before_p = _p_strong(window), _p_strong(previous)
    against_previous = psi(before_p, now_p)
    against_training = psi(np.asarray(reference or [], float), now_p)
    ood_now, ood_before = _ood_share(window), _ood_share(previous)
    alarms = []
    for name, value in (("previous window", against_previous), ("validation", against_training)):
        if value is not None and value > PSI_ALARM:
            alarms.append(
                f"P(strong) has shifted against the {name}: PSI {value:.2f} > {PSI_ALARM}"
            )
    if ood_now is not None and ood_now > OOD_ALARM_SHARE:
        alarms.append(f"{ood_now:.0%} of requests are unlike the router's training prompts")
    if ood_now is not None and ood_before is not None and ood_now - ood_before > OOD_ALARM_RISE:
        alarms.append(f"out-of-distribution share rose from {ood_before:.0%} to {ood_now:.0%}")
    return {
        "p_strong_mean": round(float(now_p.mean()), 4) if now_p.size else None,
        "psi_previous": None if against_previous is None else round(against_previous, 4),
        "psi_validation": None if against_training is None else round(against_training, 4),
        "ood_share": ood_now,
        "ood_share_previous": ood_before,
        "alarms": alarms,
    }

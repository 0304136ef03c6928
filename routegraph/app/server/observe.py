"""What an operator watches: Prometheus metrics and one JSON log line per routing decision.

Each app has its own registry (several apps in one process, as in tests, do not share counts).
Under ``serve --workers N`` the processes write their counts to files in
``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and any process's
``/metrics`` sums them all, so a scrape that reaches one worker still sees the whole server.
Labels are the graph, the model that answered and the key's id (never the key, never the
prompt), so spend, mix and latency can be cut per team and per technique. The cost an
always-strongest-model deployment would have paid is counted beside the real spend, which is
the saving a router exists for.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as shared_metrics

DECISIONS_LOGGER = "routegraph.decisions"
decisions = logging.getLogger(DECISIONS_LOGGER)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""Set (by ``serve --workers N``, or by the operator): the folder where every process of one
server writes its counts; prometheus-client reads it when it is first imported."""


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_VARIABLE))


def _sampled_tokens() -> float:
    from routegraph.core.providers import llamacpp

    return float(llamacpp.SAMPLED_TOKENS)


class ServerMetrics:
    """The counters one app exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.shared = multiprocess()
        labels = ("graph", "model", "key")
        self.requests = Counter(
            "routegraph_requests",
            "Chat-completion requests by outcome (status: HTTP status code).",
            ("graph", "key", "status"),
            registry=self.registry,
        )
        self.answers = Counter(
            "routegraph_answers", "Routed answers by the model that answered.", labels,
            registry=self.registry,
        )  # fmt: skip
        self.cost = Counter(
            "routegraph_cost_usd", "USD spent on model calls.", labels, registry=self.registry
        )
        self.escalations = Counter(
            "routegraph_escalations",
            "Answers that needed more than one model call (cascades, re-routes).",
            ("graph", "key"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "routegraph_request_seconds",
            "Wall time of a chat-completion request, routing and generation included.",
            ("graph", "key"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        self.local_tokens = Gauge(
            "routegraph_local_sampled_tokens",
            "Tokens the embedded llama.cpp model has sampled in this process (under serve "
            "--workers: one series per live process, labelled pid).",
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        if not self.shared:  # a function is read at scrape time, in this process only
            self.local_tokens.set_function(_sampled_tokens)

    def exposition(self) -> bytes:
        if not self.shared:
            return generate_latest(self.registry)
        self.local_tokens.set(_sampled_tokens())
        every_process = CollectorRegistry()
        shared_metrics.MultiProcessCollector(every_process)
        return generate_latest(every_process)

    def close(self) -> None:
        """A worker that stops takes its live gauges out of the sum."""
        if self.shared:
            shared_metrics.mark_process_dead(os.getpid())

    def record(
        self,
        graph: str,
        key: str,
        status: int,
        started: float,
        trace: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Count one finished request and log its decision line; returns the line's fields."""
        elapsed = time.perf_counter() - started
        if self.shared:  # no scrape-time function across processes: keep the file current
            self.local_tokens.set(_sampled_tokens())
        self.requests.labels(graph, key, str(status)).inc()
        self.latency.labels(graph, key).observe(elapsed)
        line: dict[str, Any] = {
            "event": "routing_decision",
            "graph": graph,
            "key": key,
            "status": status,
            "latency_ms": round(elapsed * 1000, 1),
        }
        if trace:
            model = str(trace.get("served_by") or trace.get("chosen_model") or "none")
            cost = float(trace.get("cost_usd") or 0.0)
            self.answers.labels(graph, model, key).inc()
            self.cost.labels(graph, model, key).inc(cost)
            if trace.get("escalated") or int(trace.get("steps") or 1) > 1:
                self.escalations.labels(graph, key).inc()
            for name in ("chosen_model", "served_by", "confidence", "steps", "escalated",
                         "cost_usd", "outcome_id", "turn"):  # fmt: skip
                if trace.get(name) is not None:
                    line[name] = trace[name]
        decisions.info(json.dumps(line, default=str, separators=(",", ":")))
        return line

"""Many concurrent requests to routegraph's OpenAI-compatible endpoint, each checked against
what only its own prompt can produce.

Each request asks a different GSM8K test problem through a graph whose models are replayed
recordings (GPT-4 and Mixtral), so the right answer for a request is known in advance: the
recording of the model that served it, for *that* prompt. A response carrying another prompt's
answer, another request's cost or a trace of another run is a crossover, and is counted.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

GRAPHS = ("simple", "cascade", "cascade_routing", "specialist")
WEAK, STRONG = "mixtral-8x7b-instruct", "gpt-4-1106-preview"
REPLAY_IDS = {WEAK: "mistralai/Mixtral-8x7B-Instruct-v0.1", STRONG: "gpt-4-1106-preview"}


@dataclass
class Outcome:
    index: int
    graph: str
    seconds: float
    status: int
    problems: list[str] = field(default_factory=list)


def request_body(graph: str, prompt: str, thread_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": f"routegraph-{graph}",
        "messages": [{"role": "user", "content": prompt}],
        "routegraph": {
            "models": [WEAK, STRONG],
            "weak_model": WEAK,
            "strong_model": STRONG,
            "router": "heuristic",
            "evaluator": "reference",
        },
    }
    if thread_id:
        body["thread_id"] = thread_id
    return body


def check(index: int, prompt: str, body: dict[str, Any]) -> list[str]:
    """What is wrong with the response to ``prompt`` (empty: nothing)."""
    from routegraph.core.providers.replay import find_recording

    problems = []
    answer = body["choices"][0]["message"]["content"]
    trace = body.get("routegraph") or {}
    served = trace.get("served_by") or trace.get("chosen_model")
    if served not in REPLAY_IDS:
        return [f"#{index}: served by {served!r}"]
    recording = find_recording(REPLAY_IDS[served], prompt)
    if recording is None or answer != recording.text:
        problems.append(f"#{index}: the answer is not {served}'s recording for this prompt")
    path = trace.get("path") or []
    recordings = [find_recording(REPLAY_IDS.get(m, m), prompt) for m in path]
    if not path or any(r is None for r in recordings):
        problems.append(f"#{index}: path {path} has a model with no recording of this prompt")
        return problems
    expected = sum(r.cost_usd for r in recordings if r is not None)
    if abs(float(trace.get("cost_usd", 0.0)) - expected) > 1e-8:
        problems.append(f"#{index}: cost {trace.get('cost_usd')} is not this prompt's {expected}")
    return problems


def warm_up(base_url: str, prompts: list[str]) -> None:
    """One request per graph first: the server loads its recordings and compiles its graphs
    once, and this process indexes the recordings it checks against."""
    from routegraph.core.providers.replay import recording_index

    for model_id in REPLAY_IDS.values():
        recording_index(model_id)
    for i, graph in enumerate(GRAPHS):
        data = json.dumps(request_body(graph, prompts[i % len(prompts)])).encode()
        request = urllib.request.Request(
            f"{base_url}/chat/completions", data, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()


def run_load(
    base_url: str, prompts: list[str], timeout_s: float = 600, threads: str | None = None
) -> dict[str, Any]:
    """POST one request per prompt, all at once (one thread each); latency and crossovers.

    With ``threads`` (a prefix), request i runs on its own conversation thread ``<prefix>-i``
    kept by the server's checkpointer, and its trace must name that thread.
    """
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = threading.Event()

    def one(index: int, prompt: str) -> None:
        graph = GRAPHS[index % len(GRAPHS)]
        thread_id = f"{threads}-{index}" if threads else None
        data = json.dumps(request_body(graph, prompt, thread_id)).encode()
        request = urllib.request.Request(
            f"{base_url}/chat/completions", data, {"Content-Type": "application/json"}
        )
        start.wait()
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                body = json.loads(response.read())
                status = response.status
            seconds = time.perf_counter() - began
            problems = check(index, prompt, body)
            if thread_id and body["routegraph"].get("turn") != 1:
                problems.append(f"#{index}: turn {body['routegraph'].get('turn')}, not 1")
            if thread_id and body["routegraph"].get("thread_id") != thread_id:
                problems.append(
                    f"#{index}: trace names thread {body['routegraph'].get('thread_id')}"
                )
        except Exception as exc:  # counted, not raised: the run reports every failure
            seconds = time.perf_counter() - began
            detail = exc.read()[:300].decode(errors="replace") if hasattr(exc, "read") else ""
            status = getattr(exc, "code", 0)
            problems = [f"#{index}: {type(exc).__name__}: {exc} {detail}".strip()]
        outcome = Outcome(index, graph, seconds, status, problems)
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(prompts)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    start.set()
    for worker in workers:
        worker.join(timeout_s)
    wall = time.perf_counter() - began
    return summary(prompts, outcomes, wall)


def summary(prompts: list[str], outcomes: list[Any], wall: float) -> dict[str, Any]:
    """Completed requests, problems, throughput and p50 / p99 latency of one load run."""
    latencies = sorted(o.seconds for o in outcomes)
    return {
        "requests": len(prompts),
        "completed": sum(o.status == 200 for o in outcomes),
        "problems": [p for o in outcomes for p in o.problems],
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(outcomes) / wall, 2),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3),
        "by_graph": {g: sum(o.graph == g for o in outcomes) for g in GRAPHS},
    }


def check_values(index: int, prompt: str, values: dict[str, Any]) -> list[str]:
    """:func:`check` for a LangGraph API run's final state (``langgraph dev``)."""
    final = values["messages"][-1]
    body = {
        "choices": [{"message": {"content": final.get("content")}}],
        "routegraph": (final.get("response_metadata") or {}).get("routegraph") or {},
    }
    return check(index, prompt, body)


def run_load_langgraph(url: str, prompts: list[str], timeout_s: float = 600) -> dict[str, Any]:
    """One ``runs.wait`` per prompt on its own new thread of a LangGraph API server, all at
    once; the same checks as :func:`run_load` (the thread's state must hold its own turn)."""
    from langgraph_sdk import get_sync_client

    outcomes: list[Outcome] = []
    finished: list[float] = []
    state_reads: list[float] = []
    lock = threading.Lock()
    start = threading.Event()

    def one(index: int, prompt: str) -> None:
        graph = GRAPHS[index % len(GRAPHS)]
        body = request_body(graph, prompt)
        client = get_sync_client(url=url, api_key=None, timeout=timeout_s)  # one user each
        thread = client.threads.create()
        start.wait()
        began = time.perf_counter()
        try:
            values = client.runs.wait(
                thread["thread_id"],
                graph,
                input={"messages": body["messages"]},
                context=body["routegraph"],
            )
            done = time.perf_counter()
            seconds = done - began
            problems = check_values(index, prompt, values)  # type: ignore[arg-type]
            read = time.perf_counter()
            stored = client.threads.get_state(thread["thread_id"])["values"]
            with lock:
                finished.append(done)
                state_reads.append(time.perf_counter() - read)
            if [h["query"] for h in stored.get("history", [])] != [prompt]:
                problems.append(f"#{index}: the thread's history is not this request's turn")
            status = 200
        except Exception as exc:  # counted, not raised
            seconds = time.perf_counter() - began
            status, problems = 0, [f"#{index}: {type(exc).__name__}: {exc}"]
        with lock:
            outcomes.append(Outcome(index, graph, seconds, status, problems))

    workers = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(prompts)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # let every thread be created before the runs start together
    began = time.perf_counter()
    start.set()
    for worker in workers:
        worker.join(timeout_s)
    wall = max(finished, default=time.perf_counter()) - began  # until the last run returned
    reads = sorted(state_reads) or [0.0]
    return {
        **summary(prompts, outcomes, wall),
        "state_read_p50_s": round(statistics.median(reads), 3),
        "state_read_max_s": round(reads[-1], 3),
    }

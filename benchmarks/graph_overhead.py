"""What the LangGraph machinery adds on top of a routing decision (not a test: run it by hand).

    nice -n 10 python benchmarks/graph_overhead.py --n 200

Times, per prompt, (a) the bare router decision and (b) a full ``graph.invoke`` of the simple
(strong/weak) and specialist graphs with instant fake chat models and a constant evaluator, so
(b) - (a) is the graph's own overhead: state handling, routing-decision records, cost ledger,
final message metadata. (c) is the simple graph's ``ainvoke`` on an event loop, as ``routegraph
serve`` runs it: LangGraph runs each sync node on the loop's thread pool, one hop per node.
The router is the rule-based ``heuristic`` one (no embedding), which isolates the graph cost
from the embedder's. Printed in ms and as a ratio to the bare decision.

Graph-level quality and cost on recorded answers is measured by ``routegraph bench --graph``
(see BENCHMARKS.md, GSM8K at graph level).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from timing import time_calls  # benchmarks/timing.py (script directory)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPTS = [
    "What is 2 + 2?",
    "Prove that the square root of 2 is irrational, step by step.",
    "Name the capital of Australia.",
    "Write a Python function that reverses a linked list and explain its complexity.",
    "Summarize the causes of the First World War in three sentences.",
]


def fake_models(names: list[str]) -> dict[str, Any]:
    """Chat models that answer instantly with fixed token usage."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class InstantChatModel(BaseChatModel):
        answer: str

        @property
        def _llm_type(self) -> str:
            return "instant"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
            usage = {"input_tokens": 50, "output_tokens": 20, "total_tokens": 70}
            message = AIMessage(content=self.answer, usage_metadata=usage)
            return ChatResult(generations=[ChatGeneration(message=message)])

    return {name: InstantChatModel(answer=f"answer from {name}") for name in names}


class ConstantEvaluator:
    """Always confident: the graph accepts the first answer."""

    name = "constant"

    def evaluate(self, item):
        from routegraph.evaluators.base import Confidence

        return Confidence(0.9, self.name, {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed invocations per column")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        from langchain_core.messages import HumanMessage

        from routegraph.core.catalog import Catalog, ModelSpec
        from routegraph.graphs.simple import build_simple_graph
        from routegraph.graphs.specialist import build_specialist_graph
        from routegraph.nodes.routing import RouterHandle
        from routegraph.routers.heuristic import HeuristicRouter
    except ImportError as exc:  # graphs not written yet: nothing to measure
        print(f"graph overhead: graphs are not importable yet ({exc}); TODO: rerun when they are")
        return 0

    names = ["small", "medium", "large"]
    catalog = Catalog(
        {
            "small": ModelSpec("small", "fake", "small", "local", 0.0, 0.0),
            "medium": ModelSpec("medium", "fake", "medium", "cloud", 1.0, 2.0),
            "large": ModelSpec("large", "fake", "large", "cloud", 10.0, 30.0),
        },
        "bench",
    )
    router = HeuristicRouter(names)
    prompts = [PROMPTS[i % len(PROMPTS)] + f" (#{i})" for i in range(args.n)]
    context = {"weak_model": "small", "strong_model": "large", "models": names}
    columns: dict[str, list[float]] = {
        "router decision": time_calls(lambda p: router.strong_probability([p]), prompts)
    }
    for label, build in (
        ("simple graph", build_simple_graph),
        ("specialist graph", build_specialist_graph),
    ):
        graph = build(
            models=fake_models(names),
            router=RouterHandle("heuristic", router, catalog),
            evaluator=ConstantEvaluator(),
            catalog=catalog,
        )

        def run(prompt: str, g: Any = graph) -> object:
            return g.invoke({"messages": [HumanMessage(prompt)]}, context=context)

        columns[label] = time_calls(run, prompts)
        if label == "simple graph":
            loop = asyncio.new_event_loop()

            def arun(prompt: str, g: Any = graph, on: Any = loop) -> object:
                message = HumanMessage(prompt)
                return on.run_until_complete(g.ainvoke({"messages": [message]}, context=context))

            columns["simple graph ainvoke"] = time_calls(arun, prompts)
            loop.close()
    base = float(np.percentile(columns["router decision"], 50))
    rows = [
        {
            "what": k,
            "p50_ms": float(np.percentile(v, 50)),
            "p99_ms": float(np.percentile(v, 99)),
            "p50_over_decision": float(np.percentile(v, 50)) / base,
        }
        for k, v in columns.items()
    ]
    if args.json:
        print(json.dumps({"n": args.n, "rows": rows}))
        return 0
    print(f"{args.n} invocations each; instant fake models; heuristic router")
    print(f"{'what':<22}{'p50 ms':>9}{'p99 ms':>9}{'x decision':>12}")
    for r in rows:
        print(
            f"{r['what']:<22}{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}{r['p50_over_decision']:>12.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

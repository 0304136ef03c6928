"""``routegraph demo``: the main job on the embedded default, offline, no key, no server.

1. A live routed answer: the hybrid graph on "What is the capital of France?" (local SmolLM2).
2. A GSM8K word problem through a local -> cloud cascade: SmolLM2 answers live, the confidence
   evaluator judges it, and the escalation goes to the cloud model, or, with no cloud
   configured, to GPT-4-1106-preview's recorded answer to the same prompt. Each answer is
   labelled live or recorded and checked against the gold answer.
3. The cost-quality report of the routers on the shared GSM8K data (router level).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.rule import Rule

from routegraph.app.commands.render import print_table, render_run
from routegraph.app.runner import run_graph, summarize
from routegraph.evaluators.reference import gsm8k_correct

CAPITAL_QUESTION = "What is the capital of France?"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the main job offline: routed answers with traces, then a cost report",
        description="Answer a sample question through the hybrid graph with the embedded local "
        "model, run a GSM8K problem through a local -> cloud cascade (recorded GPT-4 "
        "answers stand in for the cloud when none is configured), then print the "
        "routers' cost-quality report on the shared GSM8K data.",
    )
    parser.add_argument(
        "--gsm8k-index", type=int, default=0, help="which GSM8K test prompt to route (default 0)"
    )
    parser.add_argument(
        "--no-report", action="store_true", help="skip the cost-quality report (step 3)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def gsm8k_sample(index: int) -> tuple[str, str | None]:
    from routegraph.core.data import load_dataset
    from routegraph.core.errors import InvalidInputError

    data = load_dataset("gsm8k")
    if not 0 <= index < len(data):
        raise InvalidInputError("--gsm8k-index", f"{index} is out of range", f"0..{len(data) - 1}")
    reference = data.references[index] if data.references else None
    return data.prompts[index], reference


DEMO_ROUTERS = ("random", "knn", "stacked")


def report(console: Console, show: bool) -> dict[str, Any]:
    """Router-level cost-quality report on GSM8K's test split (routers trained in the run)."""
    from routegraph.app.bench import report as bench_report
    from routegraph.app.bench.harness import run_bench

    result = run_bench("gsm8k", routers=list(DEMO_ROUTERS), progress=True)
    if show:
        print_table(console, bench_report.baseline_table(result))
        print_table(console, bench_report.router_table(result))
        console.print("Full benchmarks: routegraph bench --dataset NAME (see BENCHMARKS.md)")
    keep = ("apgr", "cpt50", "cpt80", "aiq", "cost_at_95pct_strong")
    return {
        "dataset": result["dataset"],
        "n_test": result["n_test"],
        "baselines": result["baselines"],
        "routers": {n: {k: r.get(k) for k in keep} for n, r in result["routers"].items()},
    }


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=args.json)
    results: dict[str, Any] = {}
    # Recorded data is needed by step 2: fail before any model runs when it is not there.
    prompt, reference = gsm8k_sample(args.gsm8k_index)

    console.print(Rule("1. hybrid routing, live local model"))
    capital = summarize("hybrid", run_graph("hybrid", CAPITAL_QUESTION))
    results["hybrid"] = capital
    if not args.json:
        render_run(capital, console, title=f"hybrid: {CAPITAL_QUESTION}")

    console.print(Rule("2. cascade local -> cloud on a GSM8K problem"))
    cascade = summarize(
        "cascade",
        run_graph("cascade", prompt, {"models": ["smollm2-135m", "cloud"], "max_tokens": 256}),
    )
    if reference is not None:
        for attempt in cascade["attempts"]:
            if attempt["source"] != "unavailable":
                attempt["correct"] = gsm8k_correct(attempt["answer"], reference)
        cascade["reference"] = reference
    results["cascade"] = cascade
    if not args.json:
        console.print(prompt, markup=False, highlight=False)
        render_run(cascade, console, title="cascade: smollm2-135m -> cloud")
        for attempt in cascade["attempts"]:
            if "correct" in attempt:
                console.print(
                    f"{attempt['served_by']} ({attempt['source']}): "
                    f"{'correct' if attempt['correct'] else 'wrong'} "
                    f"(gold answer {reference})"
                )

    if not args.no_report:
        console.print(Rule("3. cost-quality report on GSM8K (router level)"))
        results["report"] = report(console, show=not args.json)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0

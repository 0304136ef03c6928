"""``routegraph bench``: train routers on a split, score the test prompts, compare with baselines.

Examples::

    routegraph bench --dataset mmlu --router random --router knn
    routegraph bench --dataset mmlu_pro --router sw_ranking --router sw_ranking:gamma=20,prior=0.5
    routegraph bench --data my_routerbench.csv --json > run.json
    routegraph bench --dataset gsm8k --router-dir artifacts/ --plot gsm8k.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from typing import Any

from rich.console import Console


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help="benchmark routers against single-model, random and oracle baselines",
        description=(
            "Split the data (prompt-disjoint, contaminated prompts out of the test part), train "
            "each router on the training part (or load it from --router-dir), score every test "
            "prompt once and sweep all thresholds. Thresholds / cost weights for the targets "
            "(95% of the best model's quality, and 100%) are chosen on the validation split "
            "and reported on test, beside RouterBench's zero router. Reports APGR, CPT(50%), "
            "CPT(80%) (RouteLLM), AIQ (RouterBench) and the cost of reaching 95% of the "
            "strong model's quality, beside every single model, random routing and the oracle."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="shared benchmark: mmlu, gsm8k, mt_bench or mmlu_pro")
    source.add_argument("--data", metavar="FILE.csv", help="a RouterBench-format CSV file")
    parser.add_argument(
        "--router",
        action="append",
        metavar="R",
        help="router to run (repeatable; default: every fast router in the registry, or every "
        "artifact in --router-dir); NAME:KEY=VALUE[,KEY=VALUE] runs it with those settings, "
        "e.g. sw_ranking:gamma=20,prior=0.5 beside plain sw_ranking",
    )
    parser.add_argument(
        "--router-dir",
        metavar="DIR",
        help="folder of trained artifacts (DIR/<router>/router.json); routers found there are "
        "loaded instead of trained",
    )
    parser.add_argument(
        "--graph",
        action="append",
        metavar="G",
        choices=("simple", "specialist", "cascade", "cascade_routing"),
        help="also run this graph (repeatable) over a sample of the test prompts with replayed "
        "models, at a few operating points (graph level)",
    )
    parser.add_argument(
        "--graph-router",
        metavar="R",
        help="router the graphs use (default: the first --router, trained in the run)",
    )
    parser.add_argument(
        "--evaluator",
        help="confidence evaluator of the graphs: 'recorded' (the file's M|confidence columns), "
        "'fitted' (the learned verifier fitted on the training split's recorded answers: any "
        "text), or an evaluator name (verifier, reference, none). Default: recorded where the "
        "file records confidences, else fitted for --data files with answer texts, else the "
        "shipped learned verifier",
    )
    parser.add_argument(
        "--graph-sample", type=int, default=200, help="test prompts the graphs run on"
    )
    parser.add_argument("--json", action="store_true", help="print ONE JSON object on stdout")
    parser.add_argument("--plot", metavar="FILE.png", help="write quality/cost and share plots")
    parser.add_argument(
        "--split",
        choices=("random", "by-task"),
        default="random",
        help="random: prompt-disjoint 70/10/20 split (default); by-task: hold out whole "
        "eval_name tasks for validation and test (traffic unlike the training data)",
    )
    parser.add_argument(
        "--embedder",
        choices=("all-MiniLM-L6-v2", "minilm-static"),
        help="prompt embedder of the routers trained here (default: $ROUTEGRAPH_EMBEDDER, else "
        "minilm-static: static vectors distilled from all-MiniLM-L6-v2, ~100x faster than the "
        "transformer itself)",
    )
    parser.add_argument(
        "--decision-cost",
        choices=("mean", "neighbours"),
        default="mean",
        help="N models: the cost a router weighs per call - each model's mean training cost "
        "(default), or its mean cost on the 20 most similar training prompts",
    )
    parser.add_argument(
        "--select",
        choices=("validation", "tasks"),
        help="how each target's operating point is chosen: on the validation split (default "
        "for --split random), or across held-out tasks - validation plus training prompts "
        "scored by routers fitted without their task (default for --split by-task)",
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="instead: stream the test prompts of the split through the router (the first "
        "--router, else knn) with partial feedback - only the called model's outcome is "
        "revealed - updating as it goes; per window: quality, cost, the zero router, and the "
        "same learner with full labels",
    )
    parser.add_argument(
        "--window", type=int, default=100, help="--online: prompts per reported window"
    )
    parser.add_argument(
        "--update-every", type=int, default=50, help="--online: prompts between refits"
    )
    parser.add_argument(
        "--epsilon",
        type=float,
        default=0.05,
        help="--online: share of prompts answered by a random model (exploration)",
    )
    parser.add_argument(
        "--final-holdout",
        type=float,
        default=0.25,
        help="--online: share of the test prompts kept out of the stream, on which the "
        "policies as the stream left them are scored for every target (0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="split and random-baseline seed")
    parser.add_argument(
        "--random-seeds", type=int, default=10, help="seeds averaged for the random baseline"
    )
    parser.set_defaults(func=run)


def run_graph_level(result: dict, args: argparse.Namespace) -> None:
    """Run the requested graphs on replayed test prompts into ``result["graphs"]``."""
    from rich.progress import Progress

    from routegraph.app.bench.graph_level import bench_graphs, graph_evaluator
    from routegraph.app.bench.harness import bench_splits, load_bench_dataset, obtain_router

    data = load_bench_dataset(args.dataset, args.data)
    train, _, _, _ = bench_splits(data, seed=args.seed, mode=args.split)
    name = args.graph_router or (args.router[0] if args.router else "knn")
    router, _ = obtain_router(name, train, None, args.seed)
    evaluator = graph_evaluator(args.evaluator, data, train, from_file=args.data is not None)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        bench_graphs(
            result,
            data,
            args.graph,
            router,
            evaluator,
            sample=args.graph_sample,
            seed=args.seed,
            progress=progress,
            split=args.split,
        )


def run(args: argparse.Namespace) -> int:
    from routegraph.routers.embedded import using_embedder

    with using_embedder(args.embedder):
        return _run(args)


def _run_online(args: argparse.Namespace) -> int:
    from rich.table import Table

    from routegraph.app.bench.online import run_online
    from routegraph.app.bench.plot import plot_online
    from routegraph.app.commands.render import print_table

    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        record = run_online(
            dataset=args.dataset,
            data=args.data,
            router=(args.router or ["knn"])[0],
            split=args.split,
            seed=args.seed,
            window=args.window,
            update_every=args.update_every,
            epsilon=args.epsilon,
            holdout=args.final_holdout,
        )
    if args.plot:
        record["plot"] = str(plot_online(record, args.plot))
    if args.json:
        print(json.dumps(record))
        return 0
    table = Table(
        title=f"online: {record['dataset']} ({record['split']['mode']} split), router "
        f"{record['router']}, lambda {record['lambda']:.3g}; cost in USD per 1k queries"
    )
    headers = ("prompts", "offline q / $", "bandit q / $", "bandit / zero", "full q / $")
    for header in (*headers, "zero mix q / $", "mix / zero"):
        table.add_column(header, justify="right")
    for w in record["windows"]:
        cells = [f"{w['start']}-{w['end']}"]
        for policy in ("offline", "bandit", "full", "mix"):
            cells.append(f"{w[policy]['quality']:.3f} / {w[policy]['cost_usd'] * 1000:.3f}")
            if policy in ("bandit", "mix"):
                ratio = w[policy]["zero_ratio"]
                cells.append("beyond every mix" if ratio is None else f"{ratio:.2f}")
        table.add_row(*cells)
    console = Console()
    print_table(console, table)
    worse = record["windows_worse_than_zero_after_200_by_policy"]
    sure = record["windows_worse_than_zero_beyond_chance_after_200"]
    console.print(
        f"of {record['windows_after_200']} windows after the first 200, costlier than the zero "
        f"router for their quality (beyond chance: the 90% interval over the window's prompts "
        f"above 1): bandit {worse['bandit']} ({sure['bandit']}), full labels {worse['full']} "
        f"({sure['full']}), offline {worse['offline']} ({sure['offline']}), and the zero "
        f"router's own mix {worse['mix']} ({sure['mix']}); cumulative regret against full "
        f"labels (quality - lambda x cost): {record['cumulative_regret'][-1]:.2f}"
    )
    if "final_targets" in record:
        print_table(console, final_targets_table(record["final_targets"]))
    return 0


def final_targets_table(final: dict[str, Any]) -> Any:
    """Targets of each policy as the stream left it, on the held-out prompts."""
    from rich.table import Table

    table = Table(
        title=f"as the stream left them, on {final['holdout_prompts']} held-out prompts: "
        "quality over the best model's, cost over the zero router's (q100: over the best "
        "model's); bandit and full choose each target's lambda on what the stream revealed to "
        "them, offline and the zero mix on validation"
    )
    table.add_column("target")
    for policy in ("offline", "bandit", "full", "zero"):
        table.add_column("zero mix (validation)" if policy == "zero" else policy, justify="right")
    for target in final["zero"]:
        cells = [target]
        for policy in ("offline", "bandit", "full", "zero"):
            rec = final[policy][target]
            ratio = rec.get("zero_ratio", rec["test_cost_ratio"])
            verdict = " met" if rec["met"] else ""
            cells.append(f"{rec['test_quality_fraction']:.3f} x{ratio:.2f}{verdict}")
        table.add_row(*cells)
    return table


def _run(args: argparse.Namespace) -> int:
    from routegraph.app.bench.harness import run_bench
    from routegraph.app.bench.plot import plot_bench
    from routegraph.app.bench.report import baseline_table, router_table, validated_table
    from routegraph.app.commands.render import print_table
    from routegraph.core.errors import InvalidInputError

    if args.random_seeds < 1:
        raise InvalidInputError("--random-seeds", f"{args.random_seeds}", "an integer >= 1")
    if args.online:
        if args.graph:
            raise InvalidInputError("--graph", "cannot be combined with --online", "one of them")
        return _run_online(args)
    started = time.perf_counter()  # the whole command: routers, graph runs and the plot
    # With --json, stdout carries exactly one JSON object: anything printed while running
    # (embedding progress bars, library notices) goes to stderr instead.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = run_bench(
            dataset=args.dataset,
            data=args.data,
            routers=args.router,
            router_dir=args.router_dir,
            seed=args.seed,
            random_seeds=args.random_seeds,
            progress=sys.stderr.isatty(),
            split=args.split,
            cost_model=args.decision_cost,
            select=args.select,
        )
        if args.graph:
            run_graph_level(result, args)
    if args.plot:
        path = plot_bench(result, args.plot)
        result["plot"] = str(path)
    failed = sorted(name for name, rec in result["routers"].items() if "error" in rec)
    for name in failed:
        print(
            f"routegraph bench: router {name} failed: {result['routers'][name]['error']}",
            file=sys.stderr,
        )
    code = 1 if failed else 0
    if args.json:
        print(json.dumps(result))
        return code
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # piped output: keep every column readable
    print_table(console, baseline_table(result))
    print_table(console, router_table(result))
    if any("validated" in rec for rec in result["routers"].values()):
        print_table(console, validated_table(result))
    extra = f"; plot: {result['plot']}" if args.plot else ""
    console.print(f"[dim]done in {time.perf_counter() - started:.1f} s{extra}[/dim]")
    return code

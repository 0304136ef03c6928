"""``routegraph bench``: train routers on a split, score the test prompts, compare with baselines.

Examples::

    routegraph bench --dataset mmlu --router random --router knn
    routegraph bench --data my_routerbench.csv --json > run.json
    routegraph bench --dataset gsm8k --router-dir artifacts/ --plot gsm8k.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from rich.console import Console


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help="benchmark routers against single-model, random and oracle baselines",
        description=(
            "Split the data (prompt-disjoint, contaminated prompts out of the test part), train "
            "each router on the training part (or load it from --router-dir), score every test "
            "prompt once and sweep all thresholds. Thresholds / cost weights for the targets "
            "(95%% of the best model's quality, and 100%%) are chosen on the validation split "
            "and reported on test, beside RouterBench's zero router. Reports APGR, CPT(50%%), "
            "CPT(80%%) (RouteLLM), AIQ (RouterBench) and the cost of reaching 95%% of the "
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
        "artifact in --router-dir)",
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
        default="verifier",
        help="confidence evaluator of the graphs (default: the learned verifier)",
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
    parser.add_argument("--seed", type=int, default=0, help="split and random-baseline seed")
    parser.add_argument(
        "--random-seeds", type=int, default=10, help="seeds averaged for the random baseline"
    )
    parser.set_defaults(func=run)


def run_graph_level(result: dict, args: argparse.Namespace) -> None:
    """Run the requested graphs on replayed test prompts into ``result["graphs"]``."""
    from rich.progress import Progress

    from routegraph.app.bench.graph_level import bench_graphs
    from routegraph.app.bench.harness import bench_split, load_bench_dataset, obtain_router
    from routegraph.evaluators.registry import make_evaluator

    data = load_bench_dataset(args.dataset, args.data)
    train, _, _ = bench_split(data, seed=args.seed)
    name = args.graph_router or (args.router[0] if args.router else "knn")
    router, _ = obtain_router(name, train, None, args.seed)
    evaluator = make_evaluator(args.evaluator, model=None)  # type: ignore[arg-type]
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
        )


def run(args: argparse.Namespace) -> int:
    from routegraph.routers.embedded import using_embedder

    with using_embedder(args.embedder):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from routegraph.app.bench.harness import run_bench
    from routegraph.app.bench.plot import plot_bench
    from routegraph.app.bench.report import baseline_table, router_table, validated_table
    from routegraph.app.commands.render import print_table
    from routegraph.core.errors import InvalidInputError

    if args.random_seeds < 1:
        raise InvalidInputError("--random-seeds", f"{args.random_seeds}", "an integer >= 1")
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
    console.print(f"[dim]done in {result['elapsed_s']:.1f} s{extra}[/dim]")
    return code

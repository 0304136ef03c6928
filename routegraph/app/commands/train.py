"""``routegraph train``: fit a router on recorded outcomes and save it as an artifact folder.

The data is split into train / validation / test (prompt-disjoint, seeded; see
:mod:`routegraph.core.data.splits`); the router learns on train, is scored on validation (APGR, mean
quality of its top pick), optionally calibrated there (``--calibrate strong_share=0.5``), scored
once on test, and saved. The summary says how well it did, how long it took and how big the
artifact is.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from routegraph.app.commands.options import parse_key_values
from routegraph.core.errors import InvalidInputError

MIN_EVAL_ROWS = 2


def register(sub: argparse._SubParsersAction) -> None:
    from routegraph.routers.calibration import TARGET_KINDS
    from routegraph.routers.registry import names_with_aliases

    parser = sub.add_parser(
        "train",
        help="train a router on a benchmark or a RouterBench CSV and save it",
        description="Train ROUTER on recorded model outcomes, score it on a validation split, "
        "optionally calibrate thresholds there, and save the artifact folder (router.json + "
        "arrays.npz).",
    )
    parser.add_argument(
        "router", metavar="ROUTER", help=f"router name, one of: {names_with_aliases()}"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dataset", metavar="NAME", help="a shared benchmark: mmlu, gsm8k, mt_bench, mmlu_pro"
    )
    source.add_argument(
        "--data",
        metavar="FILE.csv",
        help="a RouterBench-format CSV (prompt, then one column per model)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder to write the trained artifact to (created if missing)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the train/validation/test split (default 0)"
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="train on a seeded random sample of N prompts only (quick trials; default: all)",
    )
    parser.add_argument(
        "--val-frac",
        type=float,
        default=0.1,
        help="share of prompts held out for validation (default 0.1)",
    )
    parser.add_argument(
        "--test-frac",
        type=float,
        default=0.2,
        help="share of prompts held out for the final test (default 0.2)",
    )
    parser.add_argument(
        "--calibrate",
        nargs="+",
        default=[],
        metavar="KIND=VALUE",
        help="thresholds to calibrate on validation, e.g. strong_share=0.5 "
        f"cost_per_1k=2.0 quality_fraction=0.95 (kinds: {', '.join(TARGET_KINDS)})",
    )
    parser.add_argument(
        "--param",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="router hyper-parameters, e.g. k=25 (values parsed as JSON, else kept as text)",
    )
    parser.add_argument(
        "--embedder",
        choices=("all-MiniLM-L6-v2", "minilm-static"),
        help="prompt embedder of the routers trained here (default: $ROUTEGRAPH_EMBEDDER, else "
        "minilm-static: static vectors distilled from all-MiniLM-L6-v2, ~100x faster than the "
        "transformer itself)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(func=run)


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["k=25", "weighted=false"]`` -> ``{"k": 25, "weighted": False}``."""
    return parse_key_values(items, "param")


def _load(args: argparse.Namespace):
    if args.dataset:
        from routegraph.core.data import load_dataset

        return load_dataset(args.dataset)
    from routegraph.core.data import load_routerbench_csv

    path = Path(args.data)
    if not path.is_file():
        raise InvalidInputError("--data", f"{path} is not a file", "a RouterBench-format CSV")
    return load_routerbench_csv(path)


def sample_prompts(data, limit: int, seed: int):
    """``limit`` (>= 1) rows of ``data`` drawn at random with ``seed``, in their original order."""
    import numpy as np

    if limit >= len(data):
        return data
    rows = np.random.default_rng(seed).permutation(len(data))[:limit]
    return data.subset(np.sort(rows))


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run(args: argparse.Namespace) -> int:
    from routegraph.routers.embedded import using_embedder

    with using_embedder(args.embedder):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from routegraph.core.data.splits import train_val_test_split
    from routegraph.routers.calibration import calibrate, parse_target
    from routegraph.routers.evaluation import evaluate
    from routegraph.routers.registry import make_router

    console = Console(stderr=args.json)
    targets = [parse_target(t) for t in args.calibrate]  # fail fast, before any work
    if args.limit is not None and args.limit < 1:
        raise InvalidInputError("--limit", f"{args.limit}", "an integer >= 1 (prompts to keep)")
    router = make_router(args.router, **parse_params(args.param))
    started = time.perf_counter()

    console.log(f"loading {'dataset ' + args.dataset if args.dataset else args.data}")
    data = _load(args)
    if args.limit is not None:
        data = sample_prompts(data, args.limit, args.seed)
    train_idx, val_idx, test_idx = train_val_test_split(
        data, seed=args.seed, val_frac=args.val_frac, test_frac=args.test_frac
    )
    train = data.subset(train_idx)
    console.log(
        f"{len(data)} prompts x {len(data.models)} models; split "
        f"{len(train_idx)} train / {len(val_idx)} validation / {len(test_idx)} test"
    )
    if hasattr(router, "embed"):
        needed = [data.prompts[i] for i in (*train_idx, *val_idx, *test_idx)]
        console.log(f"embedding {len(needed)} prompts (cached after the first time)")
        router.embed(needed)
    console.log(f"fitting {args.router}")
    router.fit(train)

    summary: dict[str, Any] = {
        "router": args.router,
        "data": data.name,
        "models": router.models_,
        "n_train": len(train_idx),
    }
    if len(val_idx) >= MIN_EVAL_ROWS:
        val = data.subset(val_idx)
        console.log("scoring on validation")
        router.meta_["validation"] = summary["validation"] = evaluate(router, val)
        for kind, value in targets:
            threshold = calibrate(router, val, kind, value)
            console.log(f"calibrated {kind}={value:g}: threshold {threshold:.4f}")
    elif targets:
        raise InvalidInputError(
            "--calibrate",
            f"only {len(val_idx)} validation prompts",
            f"a dataset with at least {MIN_EVAL_ROWS} validation prompts",
        )
    if len(test_idx) >= MIN_EVAL_ROWS:
        router.meta_["test"] = summary["test"] = evaluate(router, data.subset(test_idx))
    router.meta_["split"] = {
        "seed": args.seed,
        "val_frac": args.val_frac,
        "test_frac": args.test_frac,
    }

    out = router.save(args.out)
    summary.update(
        artifact=str(out),
        artifact_bytes=_folder_size(out),
        seconds=round(time.perf_counter() - started, 2),
        thresholds=router.meta_.get("thresholds", {}),
    )
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    _print_summary(console, summary)
    return 0


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title=f"trained {summary['router']} on {summary['data']}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for split in ("validation", "test"):
        scores = summary.get(split)
        if scores:
            table.add_row(f"{split} APGR", f"{scores['apgr']:.3f}  (random = 0.5)")
            table.add_row(
                f"{split} quality of top pick",
                f"{scores['quality_argmax']:.3f}  (best single model {scores['best_single']:.3f}"
                f", oracle {scores['oracle']:.3f}, n={scores['n']})",
            )
    for name, record in summary["thresholds"].items():
        table.add_row(
            f"threshold {name}",
            f"{record['threshold']:.4f}  (validation strong share "
            f"{record['val_strong_share']:.2f}, quality {record['val_quality']:.3f})",
        )
    table.add_row("training prompts", str(summary["n_train"]))
    table.add_row("time", f"{summary['seconds']:.1f} s")
    table.add_row("artifact", f"{summary['artifact']} ({summary['artifact_bytes'] / 1e6:.2f} MB)")
    console.print(table)

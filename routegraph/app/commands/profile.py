"""``routegraph profile``: a new model joins a trained cluster router from a few probe prompts.

The model is run (or its recorded column read) on ``--prompts`` probe prompts of ``--data``,
spread over the file's tasks; its quality per prompt cluster becomes its column in the router,
the other models' columns untouched (see :mod:`routegraph.app.profiling`). The result is written
as the next version of a versioned router folder (or to ``--out``) with a report; nothing is in
use until ``routegraph promote``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from routegraph.core.errors import InvalidInputError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "profile",
        help="add a model to a trained cluster router from its outcomes on a few probe prompts",
        description="Profile MODEL on --prompts probe prompts of --data (its recorded column "
        "when the file has one, else the catalog model called live and graded against the "
        "file's gold answers), add it to the cluster router --router without retraining, and "
        "write the result as the next version of --out (default: the --router folder when it "
        "is versioned). Promote it with routegraph promote.",
    )
    parser.add_argument("model", metavar="MODEL", help="the model to add (catalog name or the "
                        "file's column name)")  # fmt: skip
    parser.add_argument(
        "--router", required=True, metavar="DIR",
        help="a cluster router folder (routegraph train cluster ...), or a versioned folder",
    )  # fmt: skip
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="FILE.csv", help="RouterBench-format CSV with the "
                        "model's column or a 'reference' column of gold answers")  # fmt: skip
    source.add_argument("--dataset", metavar="NAME", help="a shared benchmark with gold answers "
                        "(mmlu, gsm8k, mmlu_pro)")  # fmt: skip
    parser.add_argument("--prompts", type=int, default=100, metavar="N",
                        help="probe prompts (default 100; at least 10)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the probe draw (default 0)")
    parser.add_argument(
        "--live", action="store_true",
        help="call the catalog model even when the file has its column",
    )  # fmt: skip
    parser.add_argument("--max-tokens", type=int, default=256,
                        help="answer length for live calls (default 256)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per live call (default 60)")  # fmt: skip
    parser.add_argument("--replace", action="store_true",
                        help="re-profile a model the router already has")  # fmt: skip
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="versioned folder to write to (default: --router when versioned)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from routegraph.app.bench.harness import load_bench_dataset
    from routegraph.app.profiling import add_profiled_model, probe_rows, recorded_outcomes
    from routegraph.routers.registry import load_router
    from routegraph.routers.versions import is_versioned, write_version

    router_dir = Path(args.router)
    out = args.out
    if out is None:
        if not is_versioned(router_dir):
            raise InvalidInputError(
                "--out", f"is needed: {router_dir} is not a versioned folder", "a folder"
            )
        out = router_dir
    router = load_router(router_dir)
    if args.model in router.models_ and not args.replace:
        raise InvalidInputError(
            "MODEL", f"{args.model!r} is already in the router's pool",
            "a new model, or --replace to profile it again",
        )  # fmt: skip
    data = load_bench_dataset(args.dataset, args.data)
    rows = probe_rows(data, args.prompts, args.seed)
    if args.model in data.models and not args.live:
        probes = recorded_outcomes(data, args.model, rows)
    else:
        probes = live_outcomes(data, args.model, rows, args.max_tokens, args.timeout)
    record = add_profiled_model(router, args.model, data, probes)
    report: dict[str, Any] = {
        "model": args.model,
        "base": str(router_dir),
        "base_version": router.meta_.get("version"),
        "data": data.name,
        "seed": args.seed,
        **record,
    }
    router.meta_.pop("version", None)
    path = write_version(router, report, out, "profile_report.json")
    report["written"] = str(path)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"profiled {args.model} on {record['probe_prompts']} probe prompts "
        f"({record['source']}): mean quality {record['mean_quality']:.3f}"
        + (f", ${record['probe_cost_usd']:.6f} per call" if record["probe_cost_usd"] else "")
    )
    print(f"pool now: {', '.join(router.models_)}")
    print(f"written: {path}\nto use it: routegraph promote {out} {path.name}")
    return 0


def live_outcomes(data: Any, model: str, rows: Any, max_tokens: int, timeout_s: float) -> Any:
    """Call catalog model ``model`` on the probe prompts (a progress bar on stderr) and grade."""
    from rich.progress import Progress

    from routegraph.app.profiling import graded_outcomes
    from routegraph.core.catalog import load_catalog
    from routegraph.core.models import ModelSettings, build_chat_model

    catalog = load_catalog()
    if model not in catalog:
        raise InvalidInputError(
            "MODEL", f"{model!r} is neither a column of {data.name} nor a catalog model",
            catalog.names(),
        )  # fmt: skip
    spec = catalog.get(model)
    chat = build_chat_model(spec, ModelSettings(max_tokens=max_tokens, timeout_s=timeout_s))

    def answer(prompt: str) -> tuple[str, float | None]:
        try:
            reply = chat.invoke(prompt)
        except Exception:  # noqa: BLE001 - a failed call is a wrong answer, the run goes on
            return "", None
        usage = getattr(reply, "usage_metadata", None) or {}
        usd = spec.cost(usage.get("input_tokens", 0), usage.get("output_tokens", 0))
        return str(reply.text), usd

    with Progress(transient=True) as bar:
        task = bar.add_task(f"profiling {model}", total=len(rows))
        return graded_outcomes(
            data, model, rows, answer, lambda done: bar.update(task, completed=done)
        )

"""``routegraph route``: score one prompt with a trained router and show the decision."""

from __future__ import annotations

import argparse
import json
import time

from rich.console import Console
from rich.table import Table


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "route",
        help="score a prompt with a trained router and show which model it picks",
        description="Print every model's predicted quality for PROMPT, P(strong model needed) "
        "and the decision at the threshold.",
    )
    parser.add_argument("prompt", metavar="PROMPT", help="the prompt to route")
    parser.add_argument(
        "--router",
        default="default",
        metavar="DIR|NAME",
        help="an artifact folder written by 'routegraph train', or a shipped "
        "router: default (two models), specialist (MMLU-Pro models)",
    )
    parser.add_argument(
        "--threshold",
        default=None,
        metavar="T|KIND=VALUE",
        help="send to the strong model when P(strong) >= T; or the name of a "
        "calibrated threshold such as strong_share=0.5 (default: the router's "
        "first calibrated threshold, else 0.5)",
    )
    parser.add_argument(
        "--strong",
        default=None,
        metavar="MODEL",
        help="strong model (default: the router's recorded strong model)",
    )
    parser.add_argument(
        "--weak",
        default=None,
        metavar="MODEL",
        help="weak model (default: the router's recorded weak model)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from routegraph.core.errors import InvalidInputError
    from routegraph.routers.calibration import resolve_threshold
    from routegraph.routers.registry import load_router

    router = load_router(args.router)
    strong = args.strong or router.meta_.get("strong_model") or router.models_[-1]
    weak = args.weak or router.meta_.get("weak_model") or router.models_[0]
    for field, name in (("--strong", strong), ("--weak", weak)):
        if name not in router.models_:
            raise InvalidInputError(
                field, f"{name!r} is not one of the router's models", router.models_
            )
    threshold, source = resolve_threshold(router, args.threshold)
    started = time.perf_counter()
    scores = router.score(args.prompt)
    p_strong = float(router.strong_probability([args.prompt], strong, weak)[0])
    elapsed_ms = (time.perf_counter() - started) * 1000
    chosen = strong if p_strong >= threshold else weak
    result = {
        "router": router.kind,
        "artifact": str(args.router),
        "scores": scores,
        "best_model": max(scores, key=scores.__getitem__),
        "strong_model": strong,
        "weak_model": weak,
        "p_strong": p_strong,
        "threshold": threshold,
        "threshold_source": source,
        "decision": chosen,
        "latency_ms": round(elapsed_ms, 2),
    }
    facts = router.novelty([args.prompt]) if hasattr(router, "novelty") else None
    if facts:  # guarded routers: how unlike the training prompts
        result["ood"] = facts[0]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    table = Table(title=f"{router.kind} router: predicted quality per model")
    table.add_column("model")
    table.add_column("predicted quality", justify="right")
    table.add_column("role")
    for model, value in sorted(scores.items(), key=lambda kv: -kv[1]):
        role = "strong" if model == strong else "weak" if model == weak else ""
        table.add_row(model, f"{value:.3f}", role)
    console = Console()
    console.print(table)
    console.print(
        f"P(strong needed) = {p_strong:.3f}, threshold {threshold:.3f} ({source}) -> "
        f"[bold]{chosen}[/bold]; highest predicted quality: {result['best_model']} "
        f"({elapsed_ms:.1f} ms)"
    )
    if "ood" in result:
        ood = result["ood"]
        console.print(
            f"novelty {ood['ood']:.2f} (topic {ood['topic']:.2f}, form {ood['form']:.2f}), "
            f"floor {ood.get('floor', 0.0):.2f}: "
            f"{ood['fallback_weight']:.0%} of the answer from the {ood['fallback']} fallback"
        )
    return 0

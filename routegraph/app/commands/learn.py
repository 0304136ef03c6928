"""``routegraph learn`` and ``routegraph promote``: close the loop from outcome log to router.

``learn`` reads the outcome log kept in ``--db`` (what ``serve --db``, ``chat`` and graphs
compiled with a store write), refits the router most of it was routed with as a new version of
a versioned router folder, and prints the off-policy report (see ``routegraph.app.learning``).
Nothing changes for users until ``promote`` points the folder at that version; graphs and
``serve`` routing with ``router=FOLDER`` pick the promoted version up on their next request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from routegraph.app.commands.render import print_table
from routegraph.core.errors import InvalidInputError
from routegraph.routers.base import Router


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "learn",
        help="refit a router from the outcome log (feedback and evaluator verdicts)",
        description="Read the outcome log in --db, fit a per-model correction of the router "
        "most requests were routed with (inverse-propensity weighted: only the models a "
        "request called have outcomes), write it as the next version of --out and report, "
        "off-policy, how the new version compares with the current router on the log. "
        "Nothing is promoted unless --promote is given.",
    )
    parser.add_argument(
        "--db",
        help="SQLite file or postgresql:// URL holding the outcome log "
        "(default: $ROUTEGRAPH_DB, else the chat database)",
    )
    parser.add_argument(
        "--router",
        help="router whose records to learn from: default, specialist, heuristic or a router "
        "folder (default: the router most of the log was routed with)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="versioned router folder to write the new version to (default: the --router "
        "folder when it is versioned; required otherwise)",
    )
    parser.add_argument(
        "--ridge", type=float, default=5.0, help="pseudo-observations of no correction (default 5)"
    )
    parser.add_argument(
        "--min-records",
        type=int,
        default=20,
        help="refuse to learn from fewer usable records (default 20)",
    )
    parser.add_argument(
        "--calibrate",
        action="append",
        metavar="KIND=VALUE",
        help="also calibrate a threshold for this target on the log itself (repeatable; "
        "strong_share, cost_per_1k or quality_fraction, e.g. quality_fraction=0.95): requests "
        "with target=KIND=VALUE then route at the threshold that meets it on this traffic",
    )
    promote_how = parser.add_mutually_exclusive_group()
    promote_how.add_argument(
        "--promote", action="store_true", help="promote the new version after the report"
    )
    promote_how.add_argument(
        "--promote-if-better",
        action="store_true",
        help="promote only if the report's 90%% intervals show it better: quality higher "
        "beyond doubt at no higher cost, cost lower beyond doubt with at most 0.02 quality "
        "lower at worst, or more quality for more money at a rate beyond doubt better than "
        "sending more requests to the strong model; for unattended runs",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)

    promote = sub.add_parser(
        "promote",
        help="put a learned router version in use (or list the versions)",
        description="Point a versioned router folder at VERSION (default: its newest). Graphs "
        "and servers routing with router=FOLDER use it from their next request. Without "
        "VERSION and with --list, print the versions and their reports.",
    )
    promote.add_argument(
        "folder", type=Path, help="versioned router folder (routegraph learn --out)"
    )
    promote.add_argument("version", nargs="?", help="version to promote, e.g. v0002")
    promote.add_argument("--list", action="store_true", help="list versions; promote nothing")
    promote.set_defaults(func=run_promote)


def run(args: argparse.Namespace) -> int:
    from routegraph.app.checkpoints import default_chat_db
    from routegraph.app.learning import (
        base_router_name,
        learn,
        promotion_verdict,
        write_version,
    )
    from routegraph.routers.versions import is_versioned, promote

    db = args.db or default_chat_db()
    if not args.ridge > 0:
        raise InvalidInputError("--ridge", f"{args.ridge} is not > 0", "a number > 0")
    targets = [calibration_target(text) for text in args.calibrate or []]
    records = asyncio.run(read_log(db))
    name, version = base_router_name(records) if args.router is None else (args.router, None)
    base = load_base(name, records)
    if args.router is not None:
        version = base.meta_.get("version")
    out = args.out
    if out is None:
        if not is_versioned(Path(name)):
            raise InvalidInputError(
                "--out", f"is needed: router {name!r} is not a versioned folder", "a folder"
            )
        out = Path(name)
    router, report = learn(
        records, base, name, version, args.ridge, args.min_records, targets=targets
    )
    path = write_version(router, report, out)
    report["written"] = str(path)
    if args.promote_if_better:
        better, why = promotion_verdict(report)
        report["promotion"] = {"promote": better, "why": why}
    if args.promote or report.get("promotion", {}).get("promote"):
        promote(out, path.name, note=f"learned from {report['records']} records")
        report["promoted"] = path.name
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_report(Console(), report, out, path.name)
    return 0


async def read_log(db: str) -> list[dict[str, Any]]:
    from routegraph.app.checkpoints import open_persistence
    from routegraph.core.outcomes import aread_outcomes

    async with open_persistence(db) as kept:
        return await aread_outcomes(kept.store)


def load_base(name: str, records: list[dict[str, Any]]) -> Router:
    """The router the log's records were routed with (what the new version corrects)."""
    from routegraph.routers.heuristic import HeuristicRouter
    from routegraph.routers.registry import load_router

    if name == "heuristic":
        pools = Counter(tuple(r.get("candidates", [])) for r in records if r.get("router") == name)
        if not pools:
            raise InvalidInputError("--router", "no record was routed by 'heuristic'", "a router")
        return HeuristicRouter(list(pools.most_common(1)[0][0]))
    if name in ("default", "specialist") or Path(name).is_dir():
        return load_router(name)
    raise InvalidInputError(
        "--router", f"{name!r} cannot be refitted", "default, specialist, heuristic, a folder"
    )


def print_report(console: Console, report: dict[str, Any], out: Path, version: str) -> None:
    from routegraph.app.log_intervals import TOLERANCE

    labels = ", ".join(f"{n} {k}" for k, n in report["labels"].items()) or "none"
    console.print(
        f"learned from [bold]{report['records']}[/bold] records routed by "
        f"{report['base_router']}{' ' + report['base_version'] if report['base_version'] else ''}"
        f" (labels: {labels})"
    )
    table = Table(title="predicted quality against the log (IPS-weighted squared error)")
    for column in ("model", "calls", "mean label", "error now", "error new", "correction"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for m in report["models"]:
        table.add_row(
            ", ".join(m["models"]) or m["column"],
            str(m["observed"]),
            _fmt(m["mean_label"], ".3f"),
            _fmt(m["mse_current"], ".3f"),
            _fmt(m["mse_new"], ".3f"),
            " ".join(f"{v:+.2f}" for v in m["correction"]),
        )
    print_table(console, table)
    console.print(
        "[dim]error new: each record scored by a correction fitted without it; correction: "
        "a, b in quality + a + b x quality[/dim]"
    )
    level = f"{report.get('interval_level', 0.9):.0%}"
    policy = report.get("policy")
    if policy:
        change = policy["change"]
        console.print(
            f"weak/strong decisions on {policy['records']} records: current quality "
            f"{policy['current']['quality']:.3f} at ${policy['current']['cost_usd']:.6f}/request; "
            f"new (doubly robust) {policy['new']['quality']:.3f} "
            f"{_bounds(policy['new']['quality_interval'], '.3f')} at "
            f"${policy['new']['cost_usd']:.6f}; {policy['switched_share']:.0%} of decisions "
            f"change, {_fmt(policy['support'], '.0%')} of those observed in the log"
        )
        console.print(
            f"change in quality {change['quality']:+.3f} "
            f"{_bounds(change['quality_interval'], '+.3f')} ({change['quality_says']}), in cost "
            f"{change['cost_usd'] * 1000:+.4f} USD per 1k requests "
            f"{_bounds([v * 1000 for v in change['cost_interval']], '+.4f')} "
            f"({change['cost_says']}); intervals: {level}, over records"
        )
        console.print(
            f"quality beyond what that cost change buys by sending more (or fewer) requests "
            f"to the strong model at random: {change['beyond_mix']:+.3f} "
            f"{_bounds(change['beyond_mix_interval'], '+.3f')} ({change['beyond_mix_says']})"
        )
        if policy["records_to_settle"]:
            console.print(
                f"[yellow]the log cannot settle the quality change to +/- {TOLERANCE}: about "
                f"{policy['records_to_settle']:,} records like these would "
                f"({report['explored_records']} of {report['records']} explored; more "
                "exploration narrows it faster)[/yellow]"
            )
        if policy["support"] is not None and policy["support"] < 0.5:
            console.print(
                "[yellow]most changed decisions were never observed: the new estimate leans on "
                "the correction itself there; log more with the explore setting[/yellow]"
            )
    if "calibrated_on_log" in report and report["calibrated_on_log"] is None:
        console.print("--calibrate: no weak/strong decision in the log; nothing calibrated")
    calibrated = report.get("calibrated_on_log") or {}
    known_as = {m["column"]: ", ".join(m["models"]) or m["column"] for m in report["models"]}
    for key, point in calibrated.get("targets", {}).items():
        strong = known_as.get(calibrated["strong"], calibrated["strong"])
        console.print(
            f"calibrated on the log ({calibrated['records']} records): {key} -> threshold "
            f"{point['threshold']:.4f} (strong share {point['strong_share']:.0%}, "
            f"{point['quality_fraction']:.3f} {_bounds(point['quality_fraction_interval'], '.3f')}"
            f" of {strong}'s quality, ${point['cost_per_1k']:.4f} per 1k requests, "
            "doubly robust estimates)"
        )
        if point["meets_target"] == "no":
            console.print(
                f"[yellow]{key}: by the log, this threshold misses the target beyond doubt: "
                f"the strong model is needed more than the estimates it was chosen on say; "
                "log more with the explore setting before relying on it[/yellow]"
            )
        elif point["records_to_settle"]:
            console.print(
                f"[yellow]{key}: the log places this threshold only to within the interval "
                f"above; about {point['records_to_settle']:,} records like these would narrow "
                f"it to +/- {TOLERANCE}[/yellow]"
            )
    console.print(f"written: {report['written']}")
    if "promotion" in report:
        verdict = report["promotion"]
        word = "promote" if verdict["promote"] else "keep the current version"
        console.print(f"--promote-if-better: {word}: {verdict['why']}")
    if report.get("promoted"):
        console.print(f"[green]promoted {version}[/green]: router={out} now uses it")
    else:
        console.print(f"to use it: routegraph promote {out} {version}")


def _bounds(bounds: list[float], spec: str) -> str:
    return f"[{format(bounds[0], spec)}, {format(bounds[1], spec)}]"


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def run_promote(args: argparse.Namespace) -> int:
    from routegraph.routers.versions import promote, promoted, versions

    folder: Path = args.folder
    found = versions(folder)
    if not found:
        raise InvalidInputError(
            "folder", f"{folder} holds no router versions", "routegraph learn --out"
        )
    if args.list:
        current = promoted(folder)
        for name in found:
            mark = "*" if name == current else " "
            print(f"{mark} {name}  {_version_note(folder / name)}")
        return 0
    version = args.version or found[-1]
    record = promote(folder, version)
    print(f"promoted {version} in {folder} at {record['promoted_at']}")
    return 0


def _version_note(path: Path) -> str:
    """What made a version: learned from the log, a model profiled into it, or neither (a
    router trained or copied there)."""
    learned, profiled = path / "learn_report.json", path / "profile_report.json"
    if profiled.is_file():
        report = json.loads(profiled.read_text())
        return f"profiled {report.get('model')} on {report.get('probe_prompts')} probe prompts"
    if learned.is_file():
        report = json.loads(learned.read_text())
        note = f"learned from {report.get('records', '?')} records"
        change = (report.get("policy") or {}).get("change")
        if change:  # reports written before the intervals have no "change"
            note += (
                f"; quality {change['quality']:+.3f} {_bounds(change['quality_interval'], '+.3f')}"
                f" ({change['quality_says']}), cost {change['cost_says']}"
            )
        return note
    return "trained or copied here (no learn or profile report)"


def calibration_target(text: str) -> tuple[str, float]:
    """``--calibrate KIND=VALUE`` parsed and checked, errors naming the flag."""
    from routegraph.routers.calibration import check_target, parse_target

    try:
        kind, value = parse_target(text)
        check_target(kind, value)
    except InvalidInputError as exc:
        raise InvalidInputError("--calibrate", exc.problem, exc.allowed) from None
    return kind, value

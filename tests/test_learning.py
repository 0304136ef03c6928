"""Learning from the outcome log: the correction, versions and promotion, the off-policy report,
and ``routegraph learn`` / ``promote`` on the SQLite store ``serve --db`` keeps.

The logs come from real graph runs (fake chat models: branch logic, not quality claims) whose
verdicts are scripted so the right answer is known: on this traffic the weak model answers
everything well and the strong one no better than 0.6, which the heuristic router does not
believe for long prompts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from langchain_core.messages import HumanMessage
from langgraph.store.memory import InMemoryStore

from routegraph.app.cli import main
from routegraph.app.learning import learn, write_version
from routegraph.core.errors import ArtifactError, InvalidInputError
from routegraph.core.outcomes import iter_outcomes, record_feedback
from routegraph.graphs.simple import build_simple_graph
from routegraph.nodes.routing import resolve_router
from routegraph.routers.calibration import threshold_for_target
from routegraph.routers.corrected import (
    CorrectedRouter,
    apply_corrections,
    compose,
    ridge_corrections,
)
from routegraph.routers.heuristic import HeuristicRouter
from routegraph.routers.registry import load_router
from routegraph.routers.versions import promote, promoted, versions
from tests.fakes import ScriptedChatModel, TableEvaluator, tiny_catalog

CATALOG = tiny_catalog()
PAIR = {"weak_model": "small", "strong_model": "large", "models": ["small", "large"]}
TOPICS = ["primes", "sorting", "tax law", "rainbows", "bridges", "vaccines", "jazz", "tides"]


def prompts(n: int) -> list[str]:
    """Short easy questions and long hard-sounding ones, alternating."""
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        if i % 2:
            out.append(
                f"Prove rigorously and derive step by step, with a formal analysis of every "
                f"edge case and the complexity, why {topic} behave as they do (case {i})."
            )
        else:
            out.append(f"What are {topic}? ({i})")
    return out


def deployment(store: Any, n: int = 60, explore: float = 0.5) -> list[dict[str, Any]]:
    """``n`` routed turns on the heuristic router with exploration; users rate the weak
    model's answers 1.0 and the strong model's 0.6 (the evaluator says 0.9 and 0.6)."""
    answers = ["ok"] * (3 * n)
    graph = build_simple_graph(
        models={
            "small": ScriptedChatModel(answers=answers),
            "large": ScriptedChatModel(answers=answers),
        },
        catalog=CATALOG,
        evaluator=TableEvaluator({"small": 0.9, "large": 0.6}),
        router="heuristic",
    ).copy(update={"store": store})
    # Outcome ids seed the exploration draws: fixed ids make the deployment the same every run.
    ids = (f"{seed:024x}" for seed in itertools.count(1))
    for text in prompts(n):
        with mock.patch("routegraph.nodes.steps.new_outcome_id", lambda: next(ids)):
            state = graph.invoke(
                {"messages": [HumanMessage(text)]},
                context={**PAIR, "router": "heuristic", "explore": explore, "threshold": 0.5},
            )
        meta = state["messages"][-1].response_metadata["routegraph"]
        score = 1.0 if meta["chosen_model"] == "small" else 0.6
        record_feedback(store, meta["outcome_id"], score=score)
    return list(iter_outcomes(store))


def test_ridge_correction_recovers_a_shift_and_weighs_rare_calls_up() -> None:
    rng = np.random.default_rng(0)
    prior = rng.uniform(0.2, 0.8, size=(4000, 2))
    truth = np.column_stack([prior[:, 0] + 0.2, 0.5 + 0.0 * prior[:, 1]])
    theta = ridge_corrections(truth, np.ones_like(truth), prior, ridge=1.0)
    assert theta[0] == pytest.approx([0.2, 0.0], abs=0.02)  # a model better than believed
    assert theta[1] == pytest.approx([0.5, -1.0], abs=0.02)  # differences the log did not show
    # The weak model gains 0.3 where the router is pessimistic, nothing elsewhere; the log
    # saw the optimistic half 10x less often (propensity 0.1). Inverse propensity weighting
    # gives back the fit on everything; ignoring the propensities does not.
    gain = np.where(prior[:, 0] < 0.5, 0.3, 0.0)
    outcomes = np.column_stack([prior[:, 0] + gain, np.full(4000, np.nan)])
    full = ridge_corrections(outcomes, np.ones_like(outcomes), prior, ridge=1.0)[0]
    propensity = np.where(prior < 0.5, 1.0, 0.1)
    seen = rng.uniform(size=4000) < propensity[:, 0]
    partial = np.where(seen[:, None], outcomes, np.nan)
    weighted = ridge_corrections(partial, propensity, prior, ridge=1.0)[0]
    ignored = ridge_corrections(partial, np.ones_like(propensity), prior, ridge=1.0)[0]
    assert weighted == pytest.approx(full, abs=0.04)
    assert np.abs(ignored - full).max() > 3 * np.abs(weighted - full).max()


def test_corrections_compose_into_one_map() -> None:
    first, then = np.array([[0.1, -0.2], [0.0, 0.5]]), np.array([[-0.05, 0.3], [0.2, 0.0]])
    prior = np.array([[0.3, 0.6], [0.7, 0.2]])
    two_steps = apply_corrections(apply_corrections(prior, first, clip=False), then, clip=False)
    assert apply_corrections(prior, compose(first, then), clip=False) == pytest.approx(two_steps)


def test_corrected_router_saves_loads_and_moves_p_strong(tmp_path: Path) -> None:
    inner = HeuristicRouter(["small", "large"])
    router = CorrectedRouter.around(inner)
    router.theta_ = np.array([[0.3, 0.0], [0.0, 0.0]])  # the weak model is better than believed
    text = ["Prove that there are infinitely many primes, step by step."]
    before = inner.strong_probability(text, "large", "small")[0]
    after = router.strong_probability(text, "large", "small")[0]
    assert after == pytest.approx(max(0.0, before - 0.15))  # half the gap's change
    again = load_router(router.save(tmp_path / "r"))
    assert isinstance(again, CorrectedRouter) and again.router_.kind == "heuristic"
    assert again.predict_quality(text) == pytest.approx(router.predict_quality(text))


def test_learning_from_the_log_raises_the_weak_model_and_reports_savings() -> None:
    records = deployment(InMemoryStore())
    base = HeuristicRouter(["small", "large"])
    router, report = learn(records, base, "heuristic", None)
    assert report["records"] == 60 and report["labels"]["feedback"] == 60
    small = next(m for m in report["models"] if m["column"] == "small")
    assert small["mean_label"] >= 0.9  # feedback 1.0 where chosen, evaluator 0.9 where explored
    assert small["correction"][0] > 0.1  # small is better here than the heuristic believed
    assert small["mse_new"] < small["mse_current"]  # out of sample (cross-fitted)
    policy = report["policy"]
    assert policy["records"] == 60 and policy["switched_share"] > 0.2
    assert policy["new"]["cost_usd"] < policy["current"]["cost_usd"]
    assert policy["new"]["quality"] >= policy["current"]["quality"] - 0.05
    hard = prompts(2)[1]
    assert (
        router.strong_probability([hard], "large", "small")[0]
        < base.strong_probability([hard], "large", "small")[0]
    )


def test_the_report_says_how_sure_it_is_and_what_would_settle_it() -> None:
    """Every policy figure has an interval over records; a change the log cannot back up says
    "cannot tell", a log too small to settle the change says how many records would, and more
    records of the same traffic narrow the interval."""
    base = HeuristicRouter(["small", "large"])
    reports = {
        n: learn(deployment(InMemoryStore(), n=n), base, "heuristic", None, min_records=20)[1]
        for n in (24, 60, 120)
    }
    for report in reports.values():
        policy = report["policy"]
        low, high = policy["new"]["quality_interval"]
        assert low <= policy["new"]["quality"] <= high
        change = policy["change"]
        assert change["quality_interval"][0] <= change["quality"] <= change["quality_interval"][1]
        assert report["explored_records"] > 0 and report["interval_level"] == 0.9
    # 24 records move no decision: no change, and the report does not claim one
    assert reports[24]["policy"]["switched_share"] == 0.0
    assert reports[24]["policy"]["change"]["quality_says"] == "cannot tell"
    # from 60 on, the weak model (rated 1.0) takes over: higher quality at lower cost, beyond
    # doubt, though not settled to +/- 0.02
    for n in (60, 120):
        change = reports[n]["policy"]["change"]
        assert (change["quality_says"], change["cost_says"]) == ("higher", "lower")
        assert reports[n]["policy"]["records_to_settle"] > n

    def width(report: dict[str, Any]) -> float:
        low, high = report["policy"]["change"]["quality_interval"]
        return high - low

    assert width(reports[120]) < width(reports[60])


def test_learn_calibrates_targets_on_the_deployments_own_traffic() -> None:
    """``learn --calibrate``: thresholds chosen on the log itself, where the base router's
    calibrations (fitted on other data, and for uncorrected scores) do not hold."""
    records = deployment(InMemoryStore())
    base = HeuristicRouter(["small", "large"])
    targets = [("strong_share", 0.5), ("quality_fraction", 1.0)]
    router, report = learn(records, base, "heuristic", None, targets=targets)
    calibrated = report["calibrated_on_log"]
    points = calibrated["targets"]
    assert (calibrated["strong"], calibrated["weak"], calibrated["records"]) == (
        "large",
        "small",
        60,
    )
    # the new router, serving the same prompts, sends the share the calibration reports to
    # the strong model: the P(strong) it was calibrated on is the router's own
    threshold, source = threshold_for_target(router, "strong_share=0.5", None)
    shares = router.strong_probability(prompts(60), "large", "small") >= threshold
    assert shares.mean() == points["strong_share=0.5"]["strong_share"] == 0.5, source
    # here the weak model is the better one, so the strong model's quality needs no strong call
    assert points["quality_fraction=1"]["strong_share"] == 0.0
    for point in points.values():  # what each threshold keeps of the strong model's quality
        low, high = point["quality_fraction_interval"]
        assert low <= point["quality_fraction"] <= high
    assert points["quality_fraction=1"]["quality_fraction"] >= 1.0
    # the weak model alone keeps more than the strong one's quality, beyond doubt; a share
    # target is what the log knows exactly
    assert points["quality_fraction=1"]["meets_target"] == "yes"
    assert points["quality_fraction=1"]["records_to_settle"] is None
    assert points["strong_share=0.5"]["meets_target"] is None
    threshold, _ = threshold_for_target(router, "quality_fraction=1", None)
    assert not (router.strong_probability(prompts(60), "large", "small") >= threshold).any()
    assert "thresholds" not in learn(records, base, "heuristic", None)[0].meta_


def test_learn_calibrate_is_checked_naming_the_flag() -> None:
    from routegraph.app.commands.learn import calibration_target

    assert calibration_target("quality_fraction=0.95") == ("quality_fraction", 0.95)
    for bad in ("speed=2", "strong_share=1.5", "quality_fraction"):
        with pytest.raises(InvalidInputError) as caught:
            calibration_target(bad)
        assert caught.value.field == "--calibrate"


def test_too_small_a_log_is_refused_naming_the_option() -> None:
    records = deployment(InMemoryStore(), n=6)
    with pytest.raises(InvalidInputError, match="only 6 usable records") as caught:
        learn(records, HeuristicRouter(["small", "large"]), "heuristic", None)
    assert "--min-records" in str(caught.value)


def test_versions_promotion_and_a_running_graph_picking_it_up(tmp_path: Path) -> None:
    records = deployment(InMemoryStore(), n=40)
    router, report = learn(records, HeuristicRouter(["small", "large"]), "heuristic", None)
    folder = tmp_path / "learned"
    first = write_version(router, report, folder)
    assert first.name == "v0001" and promoted(folder) is None
    with pytest.raises(ArtifactError, match="routegraph promote"):
        load_router(folder)  # nothing is used before it is promoted
    promote(folder, "v0001")
    catalog = CATALOG
    handle = resolve_router(str(folder), catalog, ["small", "large"])
    assert handle.router is not None and handle.router.meta_["version"] == "v0001"
    router.theta_ = router.theta_ + 0.1
    write_version(router, report, folder)
    assert versions(folder) == ["v0001", "v0002"]
    assert (
        resolve_router(str(folder), catalog, ["small", "large"]).router.meta_["version"] == "v0001"
    )
    promote(folder, "v0002")  # the next routing step loads it: no restart
    assert (
        resolve_router(str(folder), catalog, ["small", "large"]).router.meta_["version"] == "v0002"
    )
    with pytest.raises(InvalidInputError, match="v0009"):
        promote(folder, "v0009")
    history = json.loads((folder / "promoted.json").read_text())["history"]
    assert [h["version"] for h in history] == ["v0001", "v0002"]


async def seed_sqlite(db: Path, n: int) -> None:
    from routegraph.app.checkpoints import open_persistence

    async with open_persistence(db) as kept:
        memory = InMemoryStore()
        for record in deployment(memory, n=n):
            await kept.store.aput(("routegraph", "outcomes"), record["id"], record, index=False)


def test_learn_and_promote_commands_on_the_sqlite_log(tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "serve.sqlite"
    asyncio.run(seed_sqlite(db, 40))
    out = tmp_path / "mine"
    assert main(["learn", "--db", str(db), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["base_router"] == "heuristic" and report["records"] == 40
    assert report["written"].endswith("v0001") and "promoted" not in report
    assert main(["promote", str(out)]) == 0
    assert "promoted v0001" in capsys.readouterr().out
    assert main(["promote", str(out), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "* v0001  learned from 40 records; quality +0.000 [+0.000, +0.000] (cannot tell)" in (
        listed
    )
    shutil.copytree(out / "v0001", out / "v0002")  # a version made by hand (train, copy)
    (out / "v0002" / "learn_report.json").unlink()
    assert main(["promote", str(out), "--list"]) == 0
    assert "v0002  trained or copied here" in capsys.readouterr().out
    shutil.rmtree(out / "v0002")
    assert main(["learn", "--db", str(db), "--min-records", "100", "--out", str(out)]) == 2
    assert "at least 100 (--min-records)" in capsys.readouterr().err
    assert versions(out) == ["v0001"]  # a refused run writes nothing
    assert main(["learn", "--db", str(db)]) == 2
    assert "--out" in capsys.readouterr().err
    calibrated = ["learn", "--db", str(db), "--out", str(out), "--calibrate", "strong_share=0.5"]
    assert main(calibrated) == 0
    printed = " ".join(capsys.readouterr().out.split())  # as one line, whatever the width
    assert "calibrated on the log (40 records): strong_share=0.5 -> threshold" in printed
    assert "of large's quality" in printed  # the model as the log names it
    # 40 records of this traffic move no weak/strong decision yet, and the report claims none
    assert "change in quality +0.000 [+0.000, +0.000] (cannot tell)" in printed
    assert "intervals: 90%, over records" in printed
    assert "strong_share=0.5" in load_router(out / "v0002").meta_["thresholds"]
    assert main([*calibrated[:-1], "strong_share=2"]) == 2
    assert "--calibrate" in capsys.readouterr().err and versions(out) == ["v0001", "v0002"]


def change(quality: list[float], cost: list[float], beyond: list[float]) -> dict[str, Any]:
    """A report whose policy change has these 90% intervals (quality, USD, quality beyond the
    weak/strong exchange rate)."""
    from routegraph.app.log_intervals import direction

    return {
        "policy": {
            "change": {
                "quality": sum(quality) / 2,
                "quality_interval": quality,
                "quality_says": direction(quality, "higher", "lower"),
                "cost_usd": sum(cost) / 2,
                "cost_interval": cost,
                "cost_says": direction(cost, "higher", "lower"),
                "beyond_mix": sum(beyond) / 2,
                "beyond_mix_interval": list(beyond),
                "beyond_mix_says": direction(list(beyond), "higher", "lower"),
            }
        }
    }


NO_BETTER_CURVE = [-0.01, 0.01]


@pytest.mark.parametrize(
    ("quality", "cost", "beyond", "promoted", "why"),
    [
        ([0.02, 0.08], [-1e-4, 1e-4], NO_BETTER_CURVE, True, "quality is higher beyond doubt"),
        ([0.02, 0.08], [-2e-4, -1e-4], NO_BETTER_CURVE, True, "quality is higher beyond doubt"),
        ([-0.01, 0.03], [-2e-4, -1e-4], NO_BETTER_CURVE, True, "cost is lower beyond doubt"),
        ([-0.05, 0.03], [-2e-4, -1e-4], NO_BETTER_CURVE, False, "cannot rule out quality -0.050"),
        ([0.02, 0.08], [1e-4, 2e-4], NO_BETTER_CURVE, False, "buys quality with money"),
        ([0.02, 0.08], [1e-4, 2e-4], [0.01, 0.03], True, "at a better rate"),
        ([-0.08, -0.02], [-2e-4, -1e-4], [0.01, 0.03], False, "quality is lower beyond doubt"),
        ([-0.01, 0.01], [1e-4, 2e-4], NO_BETTER_CURVE, False, "cost is higher beyond doubt"),
        ([-0.01, 0.01], [-1e-4, 1e-4], NO_BETTER_CURVE, False, "cannot tell"),
    ],
)
def test_promote_if_better_follows_the_intervals(quality, cost, beyond, promoted, why) -> None:
    from routegraph.app.learning import promotion_verdict

    decision, reason = promotion_verdict(change(quality, cost, beyond))
    assert decision is promoted and why in reason
    assert promotion_verdict({"policy": None}) == (
        False,
        "the log has no weak/strong decision to judge the new version by",
    )


def test_learn_promotes_if_better_only_when_the_log_shows_it(tmp_path: Path, capsys: Any) -> None:
    """40 records move no decision (cannot tell: written, not promoted); 60 records show the
    weak model rated higher, beyond doubt (promoted)."""
    for n, expected in ((40, None), (60, "v0001")):
        db, out = tmp_path / f"serve{n}.sqlite", tmp_path / f"mine{n}"
        asyncio.run(seed_sqlite(db, n))
        args = ["learn", "--db", str(db), "--out", str(out), "--promote-if-better"]
        assert main(args) == 0
        printed = " ".join(capsys.readouterr().out.split())
        assert versions(out) == ["v0001"] and promoted(out) == expected
        word = "promote:" if expected else "keep the current version:"
        assert f"--promote-if-better: {word}" in printed
    with pytest.raises(SystemExit):  # one way to promote at a time
        main([*args, "--promote"])
    assert "not allowed with" in capsys.readouterr().err


def test_beyond_mix_is_zero_along_the_weak_strong_line_and_positive_above_it() -> None:
    """Strong 0.9 at $10, weak 0.5 at $0: 0.04 quality per dollar. Moving from (0.6, $2.5) to
    (0.7, $5) is exactly what mixing in more strong calls buys; to (0.75, $5) is 0.05 more."""
    from routegraph.app.learning import beyond_mix

    base = [0.6, 0.7, 2.5, 5.0, 0.9, 0.5, 10.0, 0.0]
    above = [0.6, 0.75, 2.5, 5.0, 0.9, 0.5, 10.0, 0.0]
    assert beyond_mix(np.array([base, above])) == pytest.approx([0.0, 0.05])

"""Validation-chosen operating points, the zero router and the by-task split of ``bench``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from routegraph.app.bench import run_bench
from routegraph.app.bench.baselines import references
from routegraph.app.bench.selection import (
    ScoredSplit,
    balanced_setting,
    held_out_margin,
    select_router,
    validated_targets,
    zero_cost_to_reach,
    zero_mix,
)
from routegraph.app.cli import main
from routegraph.core.data import load_routerbench_csv
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.splits import task_split
from routegraph.core.errors import InvalidInputError

MODELS = ["small-7b", "mid-34b", "big-api"]
PRICE = {"small-7b": 2e-5, "mid-34b": 8e-5, "big-api": 1e-3}
TASKS = [f"task{t}" for t in range(10)]


@pytest.fixture()
def task_csv(tmp_path, monkeypatch):
    """300 prompts x 3 models over 10 tasks; missing cells and repeated prompts included."""
    monkeypatch.setenv("ROUTEGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        task = TASKS[i % len(TASKS)]
        hard = i % 3 == 0
        row = {"sample_id": f"s{i}", "eval_name": task}
        row["prompt"] = (
            f"{'Prove in detail, step by step, why' if hard else 'Say'} fact {i} of {task}."
        )
        for j, model in enumerate(MODELS):
            skill = (0.85, 0.9, 0.95)[j] if not hard else (0.1, 0.4, 0.9)[j]
            row[model] = int(rng.random() < skill)
            row[f"{model}|model_response"] = "an answer"
            row[f"{model}|total_cost"] = PRICE[model] * (1 + rng.random())
        rows.append(row)
    rows[5]["mid-34b"] = None  # a missing cell
    rows[5]["mid-34b|total_cost"] = None
    rows.append({**rows[7], "sample_id": "dup7", "eval_name": "task1"})  # repeated prompt
    path = tmp_path / "tasks.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_zero_router_is_the_hull_of_single_models():
    quality = np.array([[0.5, 0.9], [0.5, 0.9]])  # model 0: 0.5 at $1, model 1: 0.9 at $3
    cost = np.array([[1.0, 3.0], [1.0, 3.0]])
    assert zero_cost_to_reach(quality, cost, 0.7) == pytest.approx(2.0)
    assert zero_mix(quality, cost, 0.7) == pytest.approx({0: 0.5, 1: 0.5})
    assert zero_mix(quality, cost, 0.95) == {1: 1.0}  # out of reach: the best model alone
    assert np.isnan(zero_cost_to_reach(quality, cost, 0.95))


def _two_model(n: int, seed: int) -> RoutingDataset:
    rng = np.random.default_rng(seed)
    weak = (rng.random(n) < 0.6).astype(float)
    strong = np.maximum(weak, rng.random(n) < 0.5).astype(float)
    ds = RoutingDataset(
        name="synthetic",
        prompts=[f"p{i}" for i in range(n)],
        models=["weak", "strong"],
        quality=np.c_[weak, strong],
        cost_usd=np.tile([1.0, 10.0], (n, 1)),
        strong_model="strong",
        weak_model="weak",
    )
    return ds


def test_validated_targets_apply_the_validation_threshold_to_test():
    val_ds, test_ds = _two_model(400, 0), _two_model(400, 1)
    rng = np.random.default_rng(2)

    def scored(ds):  # an informative but noisy P(strong)
        gain = ds.quality[:, 1] - ds.quality[:, 0]
        p = np.clip(0.3 * gain + 0.7 * rng.random(len(ds)), 0, 1)
        return ScoredSplit(p, ds.quality, ds.cost_usd, references(ds), np.array([1.0, 10.0]))

    val, test = scored(val_ds), scored(test_ds)
    out = validated_targets(val, test)
    for name, fraction in (("q95", 0.95), ("q100", 1.0)):
        rec = out[name]
        assert rec["setting_kind"] == "threshold"
        # on validation the chosen threshold is the surest one, and says whether it held there
        floor_held = rec["val_quality"] >= fraction * val.refs.strong_quality - 1e-9
        cap_held = rec["val_cost_usd"] <= (0.3 if name == "q95" else 0.6) * 10.0 + 1e-9
        if rec["rule"] == "balanced margin":
            assert floor_held and cap_held
        else:  # floor and cap not both reachable: the floor is kept, the cap given up
            assert rec["rule"].startswith("quality floor") and floor_held and not cap_held
        if name == "q100":
            assert rec["val_reached"] == (floor_held and cap_held)
        assert np.isfinite(rec["val_held_out_z"])
        # ... and the test side is exactly that threshold applied to the test scores
        went = test.scores >= rec["setting"]
        q = np.where(went, test_ds.quality[:, 1], test_ds.quality[:, 0]).mean()
        c = np.where(went, 10.0, 1.0).mean()
        assert rec["test_quality"] == pytest.approx(q)
        assert rec["test_cost_ratio"] == pytest.approx(c / 10.0)
        assert rec["met"] == (
            q >= fraction * test.refs.strong_quality - 1e-9
            and c / 10.0 <= (0.3 if name == "q95" else 0.6)
            and (name == "q100" or rec["zero_ratio"] <= 0.5)
        )


def test_task_split_holds_out_whole_tasks(task_csv):
    ds = load_routerbench_csv(task_csv)
    train, val, test = task_split(ds, seed=0)
    tasks = np.array(ds.categories)
    assert set(tasks[train]).isdisjoint(tasks[test])
    assert set(tasks[val]).isdisjoint(tasks[test]) and set(tasks[val]).isdisjoint(tasks[train])
    assert len(train) + len(val) + len(test) == len(ds)
    texts = [" ".join(ds.prompts[i].split()) for i in train]
    assert not set(texts) & {" ".join(ds.prompts[i].split()) for i in test}  # no repeated prompt
    with pytest.raises(InvalidInputError, match="by-task needs at least 3 tasks"):
        task_split(ds.subset(np.flatnonzero(tasks == "task0")))


def test_bench_by_task_reports_validated_points_and_the_zero_router(task_csv):
    result = run_bench(
        data=task_csv, routers=["random", "heuristic"], split="by-task", progress=False
    )
    split = result["split"]
    assert split["mode"] == "by-task"
    assert set(split["test_tasks"]).isdisjoint(split["val_tasks"])
    zero = result["zero_router"]
    assert zero["aiq"] == pytest.approx(result["zero_router_aiq"])
    assert set(zero["validated"]) == {"q95", "q100", "no_harm"}
    for name in ("random", "heuristic"):
        rec = result["routers"][name]
        assert rec["curve"]  # the curve stays for plots
        for target in ("q95", "q100", "no_harm"):
            chosen = rec["validated"][target]
            assert chosen["setting_kind"] == "lambda"
            assert isinstance(chosen["met"], bool)
            assert 0 < chosen["test_cost_ratio"] <= 1.0 + 1e-9
    # the heuristic sends the long "prove" prompts up, the random router does not
    assert result["selected"]["router"] == "heuristic"  # random is a baseline, never selected


def test_select_router_uses_validation_only():
    def rec(reached, cost, z):
        return {
            "validated": {"q95": {"val_reached": reached, "val_cost_usd": cost, "val_margin_z": z}}
        }

    records = {
        "a": rec(True, 2.0, 1.5),
        "b": rec(True, 1.0, 0.4),  # cheaper, but its bounds hold by a thinner margin
        "c": rec(False, 0.1, 3.0),  # missed a bound on validation: never preferred
        "random": rec(True, 0.1, 9.0),  # a baseline, never selected
    }
    assert select_router(records) == "a"
    records["b"] = rec(True, 1.0, 1.5)  # same margin: the cheaper one
    assert select_router(records) == "b"
    assert select_router({"c": rec(False, 0.1, 3.0), "d": rec(False, 0.1, -1.0)}) == "c"


def test_balanced_setting_buys_quality_margin_with_unused_cost_room():
    """Where the cost cap leaves room, the chosen threshold sits above the quality floor by more
    than its noise instead of just touching it (what the cheapest reaching point would do)."""
    n = 2000
    rng = np.random.default_rng(0)
    weak = (rng.random(n) < 0.85).astype(float)
    strong = np.ones(n)
    quality = np.c_[weak, strong]
    cost = np.tile([1.0, 20.0], (n, 1))
    ds = RoutingDataset("toy", [f"p{i}" for i in range(n)], ["weak", "strong"], quality, cost)
    # a perfect router: P(strong) is 1 exactly where the weak model fails
    p = np.where(weak == 0, 0.6 + 0.4 * rng.random(n), 0.5 * rng.random(n))
    split = ScoredSplit(p, quality, cost, references(ds), np.array([1.0, 20.0]))
    setting, facts = balanced_setting(split, "q95")
    went = p >= setting
    assert facts["reached"] and facts["margin_z"] > 2
    # 95% of strong = 0.95: the cheapest reaching point sends ~10% of prompts up (the weak
    # model fails on ~15%) and lands on the floor; the balanced one sends nearly every failure
    # up, well clear of the floor, and still well under the 30% cost cap (a share of ~26%)
    assert np.where(went, 1.0, weak).mean() >= 0.98
    assert np.where(went, 20.0, 1.0).mean() <= 0.3 * 20.0 * 0.8


def test_bench_cli_split_by_task_json(task_csv, capsys):
    code = main(
        ["bench", "--data", str(task_csv), "--router", "heuristic", "--split", "by-task", "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"]["mode"] == "by-task"
    assert "validated" in result["routers"]["heuristic"]
    assert main(["bench", "--data", str(task_csv), "--router", "heuristic"]) == 0
    text = capsys.readouterr().out
    assert "chosen on validation" in text and "zero router" in text


def test_bench_cli_embedder_flag_is_scoped_to_the_run(task_csv, capsys, monkeypatch):
    from routegraph.routers.embedded import EMBEDDER_ENV

    monkeypatch.delenv(EMBEDDER_ENV, raising=False)
    code = main(
        [
            "bench",
            "--data",
            str(task_csv),
            "--router",
            "heuristic",
            "--embedder",
            "minilm-static",
            "--json",
        ]
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["routers"]["heuristic"]
    import os

    assert EMBEDDER_ENV not in os.environ  # restored after the run


def test_neighbour_decision_costs_price_each_prompt(task_csv):
    from routegraph.app.bench.costs import decision_costs

    ds = load_routerbench_csv(task_csv)
    train, test = ds.subset(np.arange(0, 200)), ds.subset(np.arange(200, len(ds)))
    per_prompt = decision_costs("neighbours", train, test)
    assert per_prompt.shape == (len(test), len(ds.models))
    assert np.isfinite(per_prompt).all()
    # the big model stays the dearest for every prompt, at about its recorded price
    assert (per_prompt.argmax(axis=1) == ds.models.index("big-api")).all()
    assert np.allclose(per_prompt[:, 2], 1.5e-3, rtol=0.3)
    assert decision_costs("mean", train, test).shape == (len(ds.models),)
    with pytest.raises(InvalidInputError, match="decision_cost"):
        decision_costs("oracle", train, test)
    result = run_bench(
        data=task_csv, routers=["heuristic"], cost_model="neighbours", progress=False
    )
    assert result["decision_cost"] == "neighbours" and "validated" in result["routers"]["heuristic"]


def test_a_model_missing_on_many_prompts_is_left_out_not_the_prompts(task_csv):
    from routegraph.app.bench.harness import bench_splits

    ds = load_routerbench_csv(task_csv)
    quality = ds.quality.copy()
    quality[::2, 1] = np.nan  # mid-34b has no outcome on half the prompts
    holed = RoutingDataset(
        ds.name, ds.prompts, ds.models, quality, ds.cost_usd, categories=ds.categories
    )
    train, val, test, info = bench_splits(holed, seed=0)
    assert info["dropped_models"] == ["mid-34b"]
    assert test.models == ["small-7b", "big-api"] and train.models == test.models
    assert len(test) >= 55  # ~20% of 301 rows kept, not halved
    kept = bench_splits(ds, seed=0)[3]
    assert kept["dropped_models"] == []  # one missing cell leaves every model in


def test_held_out_margin_ranks_an_informed_router_above_a_lucky_one():
    """The margin measured on prompts that did not choose the setting: an informative router
    beats one whose scores are noise, though noise can look sure in-sample."""
    n = 600
    rng = np.random.default_rng(3)
    weak = (rng.random(n) < 0.8).astype(float)
    quality = np.c_[weak, np.ones(n)]
    cost = np.tile([1.0, 20.0], (n, 1))
    ds = RoutingDataset("toy", [f"p{i}" for i in range(n)], ["weak", "strong"], quality, cost)
    refs = references(ds)

    def split(p):
        return ScoredSplit(p, quality, cost, refs, np.array([1.0, 20.0]))

    informed = split(np.clip((1 - weak) * 0.6 + 0.5 * rng.random(n), 0, 1))
    noise = split(rng.random(n))
    assert held_out_margin(informed, "q95") > 1.0
    assert held_out_margin(noise, "q95") < held_out_margin(informed, "q95") - 1.0


def test_verdict_cell_says_which_bound_failed():
    from routegraph.app.bench.report import _verdict_cell

    core = {"test_quality_fraction": 0.97, "test_cost_ratio": 0.2}
    assert _verdict_cell("q95", {**core, "met": True}) == "**met**"
    assert "(infeasible)" in _verdict_cell("q95", {**core, "zero_bound_feasible": False})
    assert "(missed)" in _verdict_cell("q95", {**core, "zero_bound_feasible": True})
    short = {"test_quality_fraction": 0.93, "test_cost_ratio": 0.2, "zero_bound_feasible": True}
    assert _verdict_cell("q95", short) == "not met"
    assert _verdict_cell("q100", {"test_quality_fraction": 1.0, "test_cost_ratio": 0.7}) == (
        "not met"
    )


def test_no_harm_is_the_floor_at_no_more_than_the_zero_routers_cost():
    # 20 prompts, two models: "cheap" (cost 1) fails prompts 0 and 1, "best" (cost 10) never.
    # Zero router for 95% of best's quality 1.0: mix cheap (0.9) and best (1.0) half and half,
    # 0.5 * 1 + 0.5 * 10 = 5.5 per prompt. A router that knows which prompts cheap fails pays
    # (2 * 10 + 18 * 1) / 20 = 1.9 for quality 1.0: no harm, at 1.9 / 5.5 of the zero router.
    # Always calling best pays 10 for the same quality: 10 / 5.5 > 1, harm.
    quality = np.ones((20, 2))
    quality[:2, 0] = 0.0
    cost = np.tile([1.0, 10.0], (20, 1))
    ds = RoutingDataset("toy", [f"p{i}" for i in range(20)], ["cheap", "best"], quality, cost)
    refs = references(ds)
    knows = ScoredSplit(quality.copy(), quality, cost, refs, np.array([1.0, 10.0]))
    verdict = validated_targets(knows, knows)["no_harm"]
    assert verdict["test_quality_fraction"] == pytest.approx(1.0)
    assert verdict["zero_cost_usd"] == pytest.approx(5.5)
    assert verdict["zero_ratio"] == pytest.approx(1.9 / 5.5)
    assert verdict["met"] is True
    blind = np.tile([0.0, 1.0], (20, 1))  # best always predicted better, by a wide margin
    always_best = ScoredSplit(blind, quality, cost, refs, np.array([1.0, 10.0]))
    rec = validated_targets(always_best, always_best)["no_harm"]
    if rec["test_cost_ratio"] == pytest.approx(1.0):  # the setting that calls best everywhere
        assert rec["zero_ratio"] == pytest.approx(10 / 5.5)
        assert rec["met"] is False
    else:  # or cheap everywhere: 0.9 of best's quality, below the floor
        assert rec["test_quality_fraction"] == pytest.approx(0.9)
        assert rec["met"] is False

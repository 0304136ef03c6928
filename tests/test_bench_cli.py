"""``routegraph bench`` as a user runs it: a RouterBench CSV in, one JSON record (or tables) out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from routegraph.app.bench import add_graph_result, run_bench
from routegraph.app.bench.harness import points_from_outcomes
from routegraph.app.cli import main
from routegraph.core.data.dataset import RoutingDataset
from tests.conftest import shared_data

MODELS = ["small-7b", "mid-34b", "big-api"]
PRICE = {"small-7b": 2e-5, "mid-34b": 8e-5, "big-api": 1e-3}
TOPICS = ["math", "history", "code", "law", "biology", "poetry"]
RECORD_KEYS = {"apgr", "cpt50", "cpt80", "aiq", "cost_at_95pct_strong", "curve"}
POINT_KEYS = {"threshold", "strong_share", "quality", "cost_usd"}


@pytest.fixture()
def tiny_csv(tmp_path, monkeypatch):
    """60 prompts x 3 models in RouterBench layout; the mid model is a math specialist."""
    monkeypatch.setenv("ROUTEGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    rows = []
    for i in range(60):
        topic = TOPICS[i % len(TOPICS)]
        row = {
            "sample_id": f"s{i}",
            "eval_name": topic,
            "prompt": f"Question {i} about {topic}: explain idea {i * 7 % 13} of {topic}.",
        }
        for j, model in enumerate(MODELS):
            skill = (0.3, 0.6, 0.9)[j] + (0.4 if topic == "math" and j == 1 else 0.0)
            row[model] = int(rng.random() < skill)
            row[f"{model}|model_response"] = "an answer"
            row[f"{model}|total_cost"] = PRICE[model] * (1 + rng.random())
        row["oracle_model_to_route_to"] = "big-api"
        rows.append(row)
    path = tmp_path / "tiny.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def run_json(capsys, *argv: str) -> dict:
    assert main(["bench", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object on stdout


def test_bench_json_on_a_csv_with_random_and_knn(tiny_csv, capsys, tmp_path):
    png = tmp_path / "plot.png"
    result = run_json(
        capsys, "--data", str(tiny_csv), "--router", "random", "--router", "knn", "--plot", str(png)
    )
    assert {"dataset", "n_test", "models", "cost_source", "baselines", "routers", "graphs"} <= set(
        result
    )
    assert result["models"] == MODELS
    assert result["n_test"] == 12  # 20% of 60 prompts
    assert result["graphs"] == {}
    for name in [*MODELS, "random", "oracle"]:
        assert {"quality", "cost_usd"} <= set(result["baselines"][name])
    # the oracle beats every single model, the big model is the strong reference
    oracle = result["baselines"]["oracle"]["quality"]
    assert all(oracle >= result["baselines"][m]["quality"] for m in MODELS)
    assert result["references"]["strong"] == "big-api"
    assert set(result["routers"]) == {"random", "knn"}
    for rec in result["routers"].values():
        assert set(rec) >= RECORD_KEYS
        assert rec["curve"] and all(set(p) == POINT_KEYS for p in rec["curve"])
        assert all(0.0 <= p["strong_share"] <= 1.0 for p in rec["curve"])
    assert png.is_file() and png.stat().st_size > 10_000


def test_bench_on_the_shared_routerbench_sample(capsys):
    sample = shared_data("routerbench_format_sample.csv")
    result = run_json(capsys, "--data", str(sample), "--router", "random")
    assert result["n_test"] >= 1
    assert set(result["routers"]["random"]) >= RECORD_KEYS


def test_bench_table_output_ends_the_run(tiny_csv, capsys):
    assert main(["bench", "--data", str(tiny_csv), "--router", "random"]) == 0
    out = capsys.readouterr().out
    assert "baselines" in out and "oracle" in out and "APGR" in out and "random" in out


def test_unknown_router_is_one_clear_error(tiny_csv, capsys):
    assert main(["bench", "--data", str(tiny_csv), "--router", "no-such-router"]) == 2
    err = capsys.readouterr().err
    assert "router" in err and "no-such-router" in err and "knn" in err


def test_two_settings_of_one_router_run_side_by_side(tiny_csv, capsys):
    """``NAME:KEY=VALUE`` benches a variant beside the plain router; the record is keyed by
    the spec and the settings take effect (a neighbourhood of 1 scores differently than 25)."""
    result = run_json(capsys, "--data", str(tiny_csv), "--router", "knn", "--router", "knn:k=1")
    assert set(result["routers"]) == {"knn", "knn:k=1"}
    curves = [result["routers"][name]["curve"] for name in ("knn", "knn:k=1")]
    assert curves[0] != curves[1]


def test_router_spec_parses_json_values_with_commas():
    from routegraph.app.bench.harness import new_router, router_spec

    inner = {"name": "sw_ranking", "params": {"gamma": 20, "prior": 0.5}}
    spec = 'guarded:inner={"name": "sw_ranking", "params": {"gamma": 20, "prior": 0.5}},k=7'
    assert router_spec(spec, seed=3) == ("guarded", {"inner": inner, "k": 7})
    assert router_spec("random", seed=3) == ("random", {"seed": 3})
    assert router_spec("random:seed=9", seed=3) == ("random", {"seed": 9})
    guarded = new_router(spec, seed=0)
    assert guarded.inner == inner and guarded.k == 7


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("knn:", "nothing after ':'"),
        ("knn:k", "KEY=VALUE"),
        ("knn:kay=3", "allowed: "),
        ("nope:k=3", "unknown router 'nope'"),
    ],
)
def test_a_bad_router_spec_fails_before_any_router_is_fitted(
    tiny_csv, capsys, monkeypatch, spec, says
):
    from routegraph.app.bench import harness

    fitted: list[str] = []
    real = harness.obtain_router
    monkeypatch.setattr(
        harness, "obtain_router", lambda name, *a: fitted.append(name) or real(name, *a)
    )
    assert main(["bench", "--data", str(tiny_csv), "--router", "random", "--router", spec]) == 2
    err = capsys.readouterr().err
    assert says in err and "router" in err
    assert fitted == []  # refused before the valid first router was fitted


def two_model_dataset(n: int = 200) -> RoutingDataset:
    rng = np.random.default_rng(5)
    strong = (rng.random(n) < 0.8).astype(float)
    weak = (rng.random(n) < 0.6).astype(float)
    return RoutingDataset(
        name="two",
        prompts=[f"prompt number {i}" for i in range(n)],
        models=["weak", "strong"],
        quality=np.c_[weak, strong],
        cost_usd=np.tile([0.001, 0.02], (n, 1)),
        strong_model="strong",
        weak_model="weak",
    )


def test_two_model_run_sweeps_from_all_weak_to_all_strong():
    ds = two_model_dataset()
    result = run_bench(ds, routers=["random"], progress=False)
    curve = result["routers"]["random"]["curve"]
    refs = result["references"]
    assert (refs["strong"], refs["weak"], refs["two_model"]) == ("strong", "weak", True)
    assert curve[0]["strong_share"] == 0.0 and curve[-1]["strong_share"] == 1.0
    assert curve[0]["quality"] == pytest.approx(refs["weak_quality"])
    assert curve[-1]["quality"] == pytest.approx(refs["strong_quality"])
    assert len(curve) == result["n_test"] + 1  # one threshold per distinct score
    # APGR: the trapezoid area under PGR(strong share), written out from the curve's points
    gain = [
        (p["quality"] - refs["weak_quality"]) / (refs["strong_quality"] - refs["weak_quality"])
        for p in curve
    ]
    area = sum(
        (curve[i + 1]["strong_share"] - curve[i]["strong_share"]) * (gain[i] + gain[i + 1]) / 2
        for i in range(len(curve) - 1)
    )
    assert result["routers"]["random"]["apgr"] == pytest.approx(area)


def test_graph_results_reuse_the_router_record():
    ds = two_model_dataset()
    result = run_bench(ds, routers=["random"], progress=False)
    refs = result["references"]
    wq, sq = refs["weak_quality"], refs["strong_quality"]
    wc, sc = refs["weak_cost"], refs["strong_cost"]
    assert (wc, sc) == pytest.approx((0.001, 0.02)) and sq > wq
    assert tuple(refs["cost_range"]) == pytest.approx((wc, sc))
    # a graph run at three thresholds: all weak, half strong at 3/4 of the quality gap and half
    # the cost gap, all strong; per-prompt outcomes -> operating points
    n = result["n_test"]
    assert n % 2 == 0
    mid_q, mid_c = wq + 0.75 * (sq - wq), wc + 0.5 * (sc - wc)
    went = np.stack([np.zeros(n), np.r_[np.ones(n // 2), np.zeros(n // 2)], np.ones(n)])
    quality = np.stack([np.full(n, wq), np.full(n, mid_q), np.full(n, sq)])
    cost = np.stack([np.full(n, wc), np.full(n, mid_c), np.full(n, sc)])
    points = points_from_outcomes([1.0, 0.5, 0.0], went, quality, cost)
    record = add_graph_result(result, "simple", points)
    assert result["graphs"]["simple"] is record
    assert set(record) >= RECORD_KEYS
    assert [p["strong_share"] for p in record["curve"]] == [0.0, 0.5, 1.0]
    # By hand. PGR at shares 0, 0.5, 1 is 0, 0.75, 1; APGR is the trapezoid area under it:
    # 0.5 * (0 + 0.75) / 2 + 0.5 * (0.75 + 1) / 2 = 0.1875 + 0.4375.
    assert record["apgr"] == pytest.approx(0.625)
    # CPT(50%): on the segment (0, 0) - (0.5, 0.75), PGR 0.5 at share 0.5 * 0.5 / 0.75 = 1/3;
    # CPT(80%): on (0.5, 0.75) - (1, 1), PGR 0.8 at share 0.5 + 0.5 * 0.05 / 0.25 = 0.6.
    assert record["cpt50"] == pytest.approx(1 / 3)
    assert record["cpt80"] == pytest.approx(0.6)
    # AIQ: the middle point lies above the chord from weak to strong (3/4 of the quality gap at
    # 1/2 of the cost gap), so the hull is the two segments; the mean of that piecewise-linear
    # quality over [weak cost, strong cost] is (wq + 2 * mid_q + sq) / 4 = wq + 0.625 (sq - wq).
    assert record["aiq"] == pytest.approx(wq + 0.625 * (sq - wq))

"""``routegraph train`` then ``routegraph route`` for every router on every shared dataset.

Each case is what a user types: train ROUTER on a seeded sample of a dataset (``--limit``),
with a few hyper-parameters that keep the neural routers quick, then route a prompt with the
saved artifact. Two RouterBench-format files are included: the shared four-row sample (three
made-up models) and 150 real MMLU-Pro rows written in RouterBench layout with the nine models,
pandas' leading index column and some empty cells, as real exports have.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from routegraph.app.cli import main
from routegraph.core.paths import data_dir
from routegraph.routers.registry import ROUTERS

LIMIT = 150  # the boosted trees (and the ensemble built on them) want 80 training prompts
QUICK_PARAMS: dict[str, list[str]] = {
    "matrix_factorization": ["epochs=5"],
    "boosted": ["max_iter=20"],
    "encoder_classifier": ["epochs=1", "max_length=32"],
    "causal_llm": ["max_steps=2", "batch_size=4", "max_length=24"],
}
NEURAL = {"encoder_classifier", "causal_llm"}
SOURCES = ("mmlu", "gsm8k", "mt_bench", "mmlu_pro", "routerbench_sample", "mmlu_pro_csv")


@pytest.fixture(scope="module")
def mmlu_pro_csv(tmp_path_factory) -> Path:
    """150 real MMLU-Pro rows in RouterBench layout; 5% of the result cells left empty."""
    from routegraph.core.data import load_dataset

    ds = load_dataset("mmlu_pro")
    rng = np.random.default_rng(11)
    rows = []
    for i in np.sort(rng.permutation(len(ds))[:LIMIT]):
        row = {"sample_id": ds.prompt_ids[i], "prompt": ds.prompts[i], "eval_name": "mmlu-pro"}
        for j, model in enumerate(ds.models):
            empty = rng.random() < 0.05 or np.isnan(ds.quality[i, j])
            row[model] = None if empty else float(ds.quality[i, j])
            row[f"{model}|model_response"] = "(not recorded)"
            row[f"{model}|total_cost"] = None if empty else float(ds.cost_usd[i, j])
        rows.append(row)
    path = tmp_path_factory.mktemp("data") / "mmlu_pro_routerbench.csv"
    pd.DataFrame(rows).to_csv(path)  # with the unnamed leading index column
    return path


def source_args(source: str, mmlu_pro_csv: Path) -> list[str]:
    if source == "routerbench_sample":
        return ["--data", str(data_dir() / "routerbench_format_sample.csv")]
    if source == "mmlu_pro_csv":
        return ["--data", str(mmlu_pro_csv)]
    return ["--dataset", source, "--limit", str(LIMIT)]


def cases():
    for router in ROUTERS:
        marks = [pytest.mark.slow] if router in NEURAL else []
        for source in SOURCES:
            yield pytest.param(router, source, marks=marks, id=f"{router}-{source}")


@pytest.mark.parametrize(("router", "source"), list(cases()))
def test_train_then_route(router, source, mmlu_pro_csv, tmp_path, capsys):
    out = tmp_path / router
    argv = ["train", router, *source_args(source, mmlu_pro_csv), "--out", str(out), "--json"]
    if router in QUICK_PARAMS:
        argv += ["--param", *QUICK_PARAMS[router]]
    if router in NEURAL:  # scoring is their slow part (SmolLM2: ~3 prompts/s x N models)
        argv += ["--val-frac", "0.05", "--test-frac", "0.05"]
    code = main(argv)
    captured = capsys.readouterr()
    if source == "routerbench_sample" and code == 2:
        # four rows are too few for the routers that fit trees: they must say so, clearly
        assert "error: data: has 3 prompts; allowed: at least" in captured.err, captured.err
        assert not out.exists()
        return
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["router"] == router
    assert summary["artifact_bytes"] > 0
    record = json.loads((out / "router.json").read_text())
    assert record["kind"] == router
    assert record["models"] == summary["models"]
    assert 0 < summary["n_train"] <= LIMIT

    code = main(["route", "Which planet is the largest?", "--router", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    routed = json.loads(captured.out)
    assert set(routed["scores"]) == set(summary["models"])
    assert routed["decision"] in summary["models"]
    assert all(np.isfinite(v) for v in routed["scores"].values())


def test_limit_must_be_positive(capsys):
    code = main(["train", "knn", "--dataset", "gsm8k", "--limit", "0", "--out", "/nonexistent"])
    assert code == 2
    assert "--limit" in capsys.readouterr().err

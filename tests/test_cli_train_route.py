"""A user brings a RouterBench CSV, trains a router with the CLI and routes prompts with it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from routegraph.app.cli import main
from tests.routers_data import mmlu_subset

MODELS = {"mistralai/Mixtral-8x7B-Instruct-v0.1": "mixtral", "gpt-4-1106-preview": "gpt4"}


@pytest.fixture(scope="module")
def routerbench_csv(tmp_path_factory):
    """The real MMLU subset written in RouterBench layout, with pandas' leading index column."""
    train, test = mmlu_subset()
    rows = []
    for ds in (train, test):
        for i, prompt in enumerate(ds.prompts):
            row = {"sample_id": ds.prompt_ids[i], "prompt": prompt, "eval_name": ds.categories[i]}
            for j, model in enumerate(ds.models):
                row[model] = float(ds.quality[i, j])
                row[f"{model}|model_response"] = "(not recorded)"
                row[f"{model}|total_cost"] = float(ds.cost_usd[i, j])
            row["oracle_model_to_route_to"] = ds.models[int(ds.quality[i].argmax())]
            rows.append(row)
    path = tmp_path_factory.mktemp("data") / "mmlu_subset_routerbench.csv"
    pd.DataFrame(rows).to_csv(path)  # index=True: the leading "Unnamed: 0" column
    assert pd.read_csv(path).columns[0].startswith("Unnamed")
    return path


def test_train_then_route_from_a_routerbench_csv(routerbench_csv, tmp_path, capsys):
    out = tmp_path / "knn-router"
    code = main(
        [
            "train",
            "knn",
            "--data",
            str(routerbench_csv),
            "--out",
            str(out),
            "--param",
            "k=7",
            "--val-frac",  # 120 validation prompts: APGR over the default 40 is mostly noise
            "0.3",
            "--calibrate",
            "strong_share=0.4",
            "cost_per_1k=100",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["validation"]["apgr"] > 0.5
    assert {"strong_share=0.4", "cost_per_1k=100"} <= set(summary["thresholds"])
    assert summary["artifact_bytes"] > 0
    record = json.loads((out / "router.json").read_text())
    assert record["kind"] == "knn" and record["params"]["k"] == 7
    assert record["meta"]["strong_model"] == "gpt-4-1106-preview"

    prompt = "Which of these two scenarios is morally wrong? Scenario 1: I took the last cookie."
    code = main(
        ["route", prompt, "--router", str(out), "--threshold", "strong_share=0.4", "--json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert set(result["scores"]) == set(MODELS)
    assert result["decision"] in MODELS
    expected = (
        "gpt-4-1106-preview"
        if result["p_strong"] >= result["threshold"]
        else ("mistralai/Mixtral-8x7B-Instruct-v0.1")
    )
    assert result["decision"] == expected
    assert result["threshold_source"] == "calibrated strong_share=0.4"

    # the human-readable form names every model and the decision
    assert main(["route", prompt, "--router", str(out), "--threshold", "0.0"]) == 0
    text = capsys.readouterr().out
    assert "gpt-4-1106-preview" in text and "P(strong needed)" in text


def test_train_prints_a_summary_table(routerbench_csv, tmp_path, capsys):
    code = main(
        ["train", "category", "--data", str(routerbench_csv), "--out", str(tmp_path / "cat")]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "validation APGR" in captured.out and "artifact" in captured.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "crystal_ball", "--dataset", "mmlu", "--out", "x"], "unknown router"),
        (["train", "knn", "--dataset", "imagenet", "--out", "x"], "unknown dataset"),
        (
            ["train", "knn", "--dataset", "gsm8k", "--out", "x", "--calibrate", "share=2"],
            "target_kind",
        ),
        (["train", "knn", "--data", "/no/such/file.csv", "--out", "x"], "is not a file"),
        (["route", "hi", "--router", "/no/such/router"], "neither a folder"),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_every_option_has_help(capsys):
    for command in ("train", "route"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "--json" in text
        for line in text.splitlines():
            if line.strip().startswith("--") and line.strip().endswith(("DIR", "NAME")):
                pytest.fail(f"option without help: {line}")


def test_no_help_text_shows_a_doubled_percent_sign(capsys):
    """argparse %-formats option help but not a description: '%%' there prints as '%%'."""
    from routegraph.app.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in commands:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "%%" not in capsys.readouterr().out, command
    assert "95% of" in commands["bench"].format_help()


def test_routellm_router_names_work_and_help_lists_both_spellings(capsys, monkeypatch):
    from routegraph.routers.registry import ROUTERS, make_router

    monkeypatch.setenv("COLUMNS", "200")  # one line per name list, whatever the terminal
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "matrix_factorization (or mf)" in text and "encoder_classifier (or bert)" in text
    assert type(make_router("mf")) is ROUTERS["matrix_factorization"]
    assert make_router("MF").kind == "matrix_factorization"
    assert make_router("sw-ranking").kind == "sw_ranking"
    assert ROUTERS["bert"] is ROUTERS["encoder_classifier"]


def test_shipped_routers_load_and_route(capsys):
    from routegraph.routers.registry import default_router_path, load_router

    shipped = default_router_path("default") / "router.json"
    assert shipped.is_file(), f"{shipped} missing: the package ships it (package-data)"
    default = load_router("default")
    assert default.models_ == ["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"]
    assert default.meta_["strong_model"] == "gpt-4-1106-preview"
    assert "strong_share=0.5" in default.meta_["thresholds"]
    assert default.meta_["embedder"] == "minilm-static"  # static vectors: ~2 ms per decision
    from routegraph.routers.calibration import threshold_for_target

    point, _ = threshold_for_target(default, "quality_fraction=0.95")
    safe, why = threshold_for_target(default, "quality_fraction=0.95", confidence=0.9)
    assert safe <= point and "guaranteed" in why  # certifying costs strong calls
    hard = "Scenario 1 | I lied to my friend. Scenario 2 | I helped my neighbour.\nA. Wrong, Wrong"
    assert main(["route", hard, "--json"]) == 0  # --router defaults to the shipped default
    result = json.loads(capsys.readouterr().out)
    assert result["threshold_source"] == "calibrated strong_share=0.5"
    assert 0.0 <= result["p_strong"] <= 1.0

    # the shipped specialist router is part of the package: its absence is a failure
    assert (default_router_path("specialist") / "router.json").is_file()
    specialist = load_router("specialist")
    assert len(specialist.models_) == 9
    scores = specialist.score("Compute the integral of x^2 from 0 to 3.\nA. 9\nB. 6")
    assert set(scores) == set(specialist.models_)


def test_output_piped_into_a_reader_that_stops_early_is_no_traceback(tmp_path):
    """``routegraph route ... --json | head``: the reader closing the pipe ends the command
    quietly with 141 (a shell's code for SIGPIPE), not with a BrokenPipeError traceback."""
    import subprocess
    import sys

    from tests.conftest import OFFLINE_ENV, PROJECT_ROOT

    env = {**__import__("os").environ, **OFFLINE_ENV}
    script = (
        "import os, sys\n"
        "r, w = os.pipe()\n"
        "os.close(r)\n"  # the reader is already gone
        "os.dup2(w, 1)\n"
        "from routegraph.app.cli import main\n"
        "sys.exit(main(['route', 'What is 2+2?', '--json']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr

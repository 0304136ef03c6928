"""Cascades on any RouterBench-format file: ``M|confidence`` columns, the verifier fitted on the
training split's recorded answers, and ``bench --graph cascade`` on both splits.

The files are written here (arithmetic questions with right and wrong recorded answers), so
which answers are good is known by construction.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from routegraph.app.bench.graph_level import graph_evaluator
from routegraph.app.cli import main
from routegraph.core.data.routerbench import load_routerbench_csv
from routegraph.core.errors import DataFormatError, InvalidInputError
from routegraph.evaluators.base import EvaluationInput
from routegraph.evaluators.recorded import RecordedConfidence, fit_file_verifier

TASKS = ("adding", "doubling", "tripling", "summing")


def answer(a: int, b: int, right: bool, rng: random.Random) -> str:
    total = a + b if right else a + b + rng.randint(1, 9)
    if right:
        return f"We add {a} and {b}: {a} + {b} = {total}. The answer is #### {total}"
    return f"Assuming roughly, it is approximately {total}.5 or so, maybe more."


def write_file(
    path: Path, rows: int = 160, confidence: bool = False, texts: bool = True, seed: int = 0
) -> Path:
    """``rows`` prompts over four tasks; 'cheap' is right 55% of the time, 'big' 90%."""
    rng = random.Random(seed)
    records = []
    for i in range(rows):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        row: dict[str, Any] = {
            "sample_id": f"s{i}",
            "prompt": f"Q{i}: what is {a} + {b}?",
            "eval_name": TASKS[i % len(TASKS)],
        }
        for model, p_right, cost in (("cheap", 0.55, 0.0001), ("big", 0.9, 0.002)):
            right = rng.random() < p_right
            row[model] = float(right)
            row[f"{model}|total_cost"] = cost
            row[f"{model}|model_response"] = answer(a, b, right, rng) if texts else None
            if confidence:  # informative but noisy, as a model's own log-prob confidence is
                row[f"{model}|confidence"] = round(
                    min(1.0, max(0.0, (0.75 if right else 0.35) + rng.gauss(0, 0.1))), 3
                )
        records.append(row)
    pd.DataFrame(records).to_csv(path, index=False)
    return path


def test_confidence_columns_are_read_and_checked(tmp_path: Path) -> None:
    data = load_routerbench_csv(write_file(tmp_path / "c.csv", rows=8, confidence=True))
    assert data.confidence is not None and data.confidence.shape == (8, 2)
    assert np.isfinite(data.confidence).all() and data.models == ["cheap", "big"]
    assert data.subset([0, 1]).confidence.shape == (2, 2)  # type: ignore[union-attr]
    frame = pd.read_csv(tmp_path / "c.csv")
    frame.loc[3, "big|confidence"] = 1.5
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFormatError, match=r"'big\|confidence' row 4: quality 1.5"):
        load_routerbench_csv(tmp_path / "bad.csv")


def test_recorded_confidence_answers_from_the_file(tmp_path: Path) -> None:
    data = load_routerbench_csv(write_file(tmp_path / "c.csv", rows=6, confidence=True))
    evaluator = RecordedConfidence(data)
    got = evaluator.evaluate(EvaluationInput(data.prompts[2], "whatever", "big")).score
    assert got == pytest.approx(float(data.confidence[2, 1]))  # type: ignore[index]
    with pytest.raises(LookupError):
        evaluator.evaluate(EvaluationInput("a prompt not in the file", "x", "big"))


def test_the_file_verifier_learns_from_training_answers_and_ranks_unseen_ones(
    tmp_path: Path,
) -> None:
    data = load_routerbench_csv(write_file(tmp_path / "t.csv", rows=240))
    train, held = data.subset(np.arange(160)), data.subset(np.arange(160, 240))
    evaluator = fit_file_verifier(train)
    scores, labels = [], []
    for i, prompt in enumerate(held.prompts):
        for j, model in enumerate(held.models):
            text = held.responses[i][j]  # type: ignore[index]
            scores.append(evaluator.evaluate(EvaluationInput(prompt, text, model)).score)
            labels.append(held.quality[i, j])
    good = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    bad = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    pairs = [(g > b) + 0.5 * (g == b) for g in good for b in bad]
    assert sum(pairs) / len(pairs) > 0.9  # held-out AUC: it reads the answers, not the prompt


def test_the_default_evaluator_follows_what_the_file_records(tmp_path: Path) -> None:
    with_conf = load_routerbench_csv(write_file(tmp_path / "a.csv", rows=40, confidence=True))
    with_text = load_routerbench_csv(write_file(tmp_path / "b.csv", rows=40))
    bare = load_routerbench_csv(write_file(tmp_path / "c.csv", rows=40, texts=False))
    assert graph_evaluator(None, with_conf, with_conf, True).name == "recorded"
    assert graph_evaluator(None, with_text, with_text, True).name == "verifier_fitted"
    with pytest.raises(InvalidInputError, match="neither answer texts nor confidences"):
        graph_evaluator(None, bare, bare, True)
    with pytest.raises(InvalidInputError, match="no M|confidence"):
        graph_evaluator("recorded", with_text, with_text, True)


@pytest.mark.parametrize(("split", "confidence"), [("by-task", True), ("random", False)])
def test_bench_runs_cascades_on_the_file(
    tmp_path: Path, capsys: Any, split: str, confidence: bool
) -> None:
    path = write_file(tmp_path / "file.csv", rows=200, confidence=confidence)
    graphs_args = ["--graph", "cascade", "--graph", "cascade_routing", "--graph-sample", "40"]
    argv = ["bench", "--data", str(path), "--router", "knn", *graphs_args, "--split", split]
    argv.append("--json")
    assert main(argv) == 0
    graphs = json.loads(capsys.readouterr().out)["graphs"]
    for graph_id in ("cascade", "cascade_routing"):
        record = graphs[graph_id]
        assert record["split"] == split and record["n_prompts"] == 40
        assert record["evaluator"] == ("recorded" if confidence else "verifier_fitted")
        assert 0.0 <= record["apgr"] <= 1.5
    # Judging answers works here (the evaluator separates right from wrong), so the cascade
    # recovers most of the gap between the two models.
    assert graphs["cascade"]["apgr"] > 0.6

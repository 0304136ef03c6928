"""The shared benchmarks and RouterBench CSVs load as the README describes them."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest

from routegraph.core.data import (
    DATASETS,
    RoutingDataset,
    load_any,
    load_dataset,
    load_routerbench_csv,
)
from routegraph.core.data.routellm import STRONG_MODEL, WEAK_MODEL, mt_bench_answers
from routegraph.core.errors import DataFormatError, DataNotFoundError, InvalidInputError
from routegraph.core.paths import data_dir

SAMPLE = data_dir() / "routerbench_format_sample.csv"


def accuracy(ds: RoutingDataset, model: str) -> float:
    return float(np.nanmean(ds.quality[:, ds.models.index(model)]))


def assert_consistent(ds: RoutingDataset) -> None:
    """Every per-row field is row-aligned and costs exist exactly where quality does."""
    n, m = len(ds), len(ds.models)
    assert ds.quality.shape == ds.cost_usd.shape == (n, m)
    assert len(ds.prompt_ids) == len(set(ds.prompt_ids)) == n
    for field in ("responses", "categories", "references"):
        value = getattr(ds, field)
        assert value is None or len(value) == n, field
    assert ds.contaminated is not None and ds.contaminated.shape == (n,)
    answered = ~np.isnan(ds.quality)
    assert int((~answered).sum()) == ds.missing_cells
    assert np.all(np.isfinite(ds.cost_usd[answered])) and np.all(ds.cost_usd[answered] >= 0)
    assert np.nanmin(ds.quality) >= 0 and np.nanmax(ds.quality) <= 1


def test_mmlu_matches_readme() -> None:
    ds = load_dataset("mmlu")
    assert len(ds) == 14042
    assert ds.models == [WEAK_MODEL, STRONG_MODEL]
    assert (ds.weak_model, ds.strong_model) == (WEAK_MODEL, STRONG_MODEL)
    assert accuracy(ds, STRONG_MODEL) == pytest.approx(0.806, abs=0.005)
    assert accuracy(ds, WEAK_MODEL) == pytest.approx(0.681, abs=0.005)
    assert ds.categories is not None and ds.contaminated is not None
    assert len(set(ds.categories)) == 57 and "abstract_algebra" in ds.categories
    assert ds.responses is None and ds.missing_cells == 0
    assert ds.contaminated.sum() == 5
    assert "estimated" in ds.cost_source
    # GPT-4 costs more per call than Mixtral on every prompt.
    assert np.all(ds.cost_usd[:, 1] > ds.cost_usd[:, 0])
    assert_consistent(ds)


def test_gsm8k_matches_readme_and_has_gold_answers() -> None:
    ds = load_dataset("gsm8k")
    assert len(ds) == 1319
    assert accuracy(ds, STRONG_MODEL) == pytest.approx(0.857, abs=0.005)
    assert accuracy(ds, WEAK_MODEL) == pytest.approx(0.638, abs=0.005)
    assert ds.references is not None and all(r is not None for r in ds.references)
    assert ds.references[0] == "18"  # Janet's ducks
    assert ds.responses is not None and "18" in cast(str, ds.responses[0][1])
    assert ds.contaminated is not None
    assert ds.contaminated.sum() == 12
    assert ds.output_tokens is not None and ds.input_tokens is not None
    assert np.all(ds.output_tokens > 0) and np.all(ds.input_tokens > 0)
    assert_consistent(ds)


def test_mt_bench_has_two_turns_per_question_and_judge_scores() -> None:
    ds = load_dataset("mt_bench")
    assert len(ds) == 160
    assert ds.prompt_ids[:2] == ["81:1", "81:2"]
    turn1, turn2 = ds.prompts[0], ds.prompts[1]
    assert turn2.startswith(turn1) and "letter A" in turn2
    assert set(np.unique(ds.quality * 10)) <= set(np.arange(1, 10.5, 0.5))
    assert ds.categories is not None
    assert len(set(ds.categories)) == 8
    assert ds.responses is not None and all(r for row in ds.responses for r in row)
    # Turn 2 input includes the model's own turn-1 answer.
    assert ds.input_tokens is not None
    assert np.all(ds.input_tokens[1] > ds.input_tokens[0])
    assert ds.contaminated is not None
    assert ds.contaminated.sum() == 16  # 8 questions x 2 turns
    assert_consistent(ds)


def test_mt_bench_answer_extraction() -> None:
    single = (
        "[Question]\nq\n\n[The Start of Assistant's Answer]\nHello.\n"
        "[The End of Assistant's Answer]"
    )
    multi = (
        "<|The Start of Assistant A's Conversation with User|>\n\n### User:\nq1\n\n"
        "### Assistant A:\nfirst\n\n### User:\nq2\n\n### Assistant A:\nsecond\n\n"
        "<|The End of Assistant A's Conversation with User|>"
    )
    assert mt_bench_answers(single) == ["Hello."]
    assert mt_bench_answers(multi) == ["first", "second"]


@pytest.mark.slow
def test_mmlu_pro_has_nine_catalog_models_and_missing_cells() -> None:
    ds = load_dataset("mmlu_pro")
    assert len(ds.models) == 9
    assert "Meta-Llama-3.1-8B-Instruct" in ds.models
    assert len(ds) == 12032
    # DeepSeek-Coder-V2 has 10,351 dict records, the Gemini files 12,012 / 12,020.
    assert ds.missing_cells == (12032 - 10351) + (12032 - 12012) + (12032 - 12020)
    acc = np.nanmean(ds.quality, axis=0)
    assert 0.28 < acc.min() < 0.30 and 0.69 < acc.max() < 0.71
    assert ds.references is not None and ds.categories is not None
    assert set(ds.references) <= set("ABCDEFGHIJ")
    assert len(set(ds.categories)) == 14
    assert_consistent(ds)


def test_unknown_dataset_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidInputError, match="allowed: gsm8k, mmlu, mmlu_pro, mt_bench"):
        load_dataset("mmlu-pro")
    assert DATASETS == ("mmlu", "gsm8k", "mt_bench", "mmlu_pro")


@pytest.mark.parametrize("name", DATASETS)
def test_a_wrong_data_dir_is_a_clear_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataNotFoundError, match=str(tmp_path)) as raised:
        load_dataset(name, data_dir=tmp_path)
    assert "ROUTEGRAPH_DATA_DIR" in str(raised.value)


def test_an_unset_data_dir_outside_a_checkout_names_the_variable(monkeypatch) -> None:
    import routegraph.core.paths as paths

    monkeypatch.delenv("ROUTEGRAPH_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "PROJECT_ROOT", Path("/nonexistent-install-root"))
    with pytest.raises(DataNotFoundError, match="ROUTEGRAPH_DATA_DIR is not set"):
        paths.data_dir()
    monkeypatch.setenv("ROUTEGRAPH_DATA_DIR", "/elsewhere")
    assert paths.data_dir() == Path("/elsewhere")


def test_load_dataset_is_cached_in_memory() -> None:
    assert load_dataset("gsm8k") is load_dataset("gsm8k")
    assert load_any("gsm8k") is load_dataset("gsm8k")


def test_routerbench_sample_loads() -> None:
    ds = load_routerbench_csv(SAMPLE)
    assert ds.models == ["tiny-7b", "mid-34b", "big-api"]
    assert ds.prompt_ids == ["s1", "s2", "s3", "s4"]
    assert ds.categories == ["arith", "geo", "code", "bio"]
    assert ds.quality[1].tolist() == [0.0, 1.0, 1.0]
    assert ds.cost_usd[2, 2] == pytest.approx(0.0031)
    assert ds.responses is not None and cast(str, ds.responses[2][2]).endswith("return s[::-1]")
    assert ds.missing_cells == 0
    assert_consistent(ds)


def test_routerbench_tolerates_a_leading_index_column(tmp_path: Path) -> None:
    path = tmp_path / "indexed.csv"
    pd.read_csv(SAMPLE).to_csv(path)  # pandas writes an unnamed index column
    assert path.read_text().startswith(",sample_id")
    ds = load_any(path)
    assert ds.models == ["tiny-7b", "mid-34b", "big-api"]
    assert np.array_equal(ds.quality, load_routerbench_csv(SAMPLE).quality)


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_routerbench_bare_carriage_return_in_a_text_cell_keeps_rows_whole(
    tmp_path: Path, line_end: str
) -> None:
    """Recorded LaTeX answers hold "\\r..." decoded to a bare CR; pandas' writer leaves such a
    cell unquoted, and a reader splitting rows on CR shifts every later cell (seen on the full
    MMLU-Pro recordings: a response text landed in a quality column)."""
    frame = pd.read_csv(SAMPLE)
    frame.loc[1, "tiny-7b|model_response"] = "q = \\sqrt{\rho} so the answer is 4"
    path = tmp_path / "cr.csv"
    frame.to_csv(path, index=False, lineterminator=line_end)
    assert b"\\sqrt{\r" in path.read_bytes()  # unquoted bare CR: the case at hand
    ds = load_routerbench_csv(path)
    reference = load_routerbench_csv(SAMPLE)
    assert len(ds) == len(reference)
    assert np.array_equal(ds.quality, reference.quality, equal_nan=True)
    assert ds.responses is not None and "\r" in (ds.responses[1][0] or "")


def test_routerbench_empty_cells_are_missing_not_errors(tmp_path: Path) -> None:
    frame = pd.read_csv(SAMPLE)
    frame.loc[1, "mid-34b"] = np.nan
    frame.loc[3, "tiny-7b"] = np.nan
    frame.loc[0, "tiny-7b|model_response"] = np.nan
    frame.loc[2, "big-api|total_cost"] = np.nan
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    ds = load_routerbench_csv(path)
    assert ds.missing_cells == 2
    assert np.isnan(ds.quality[1, 1]) and np.isnan(ds.cost_usd[1, 1])
    assert ds.responses is not None
    assert ds.responses[0][0] is None
    # An unknown model's empty cost cell takes its median recorded cost, and says so.
    assert ds.cost_usd[2, 2] == pytest.approx(0.001)
    assert "median" in ds.cost_source
    assert_consistent(ds)


def test_routerbench_missing_costs_use_catalog_prices(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "prompt": ["What is 2+2?", "Name a prime."],
            "gpt-4-1106-preview": [1, 0],
            "gpt-4-1106-preview|model_response": ["4", "Nine"],
        }
    )
    path = tmp_path / "nocost.csv"
    frame.to_csv(path, index=False)
    ds = load_routerbench_csv(path)
    assert ds.models == ["gpt-4-1106-preview"]
    assert np.all(ds.cost_usd > 0) and "catalog prices" in ds.cost_source


def test_routerbench_unknown_model_without_costs_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "unknown.csv"
    pd.DataFrame(
        {"prompt": ["hi"], "mystery-llm": [1], "mystery-llm|model_response": ["yo"]}
    ).to_csv(path, index=False)
    with pytest.raises(DataFormatError, match="mystery-llm"):
        load_routerbench_csv(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (bytes(range(256)) * 8, "not a readable CSV|no 'prompt' column"),
        (b"question,a|model_response\nhi,yo\n", "no 'prompt' column"),
        (b"prompt,eval_name\nhi,x\n", "no model columns"),
        (b"prompt,m,m|total_cost\nhi,great,0.1\n", "not a quality value"),
    ],
)
def test_broken_routerbench_files_raise_data_format_error(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=problem) as error:
        load_routerbench_csv(path)
    assert str(path) in str(error.value)


def test_load_any_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="RouterBench"):
        load_any("not-a-dataset")
    with pytest.raises(DataFormatError, match="no such file"):
        load_any(tmp_path / "absent.csv")

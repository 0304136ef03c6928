"""Loader for TIGER-Lab's MMLU-Pro recordings: 9 models, 14 categories, chain-of-thought outputs.

Each ``eval_results/model_outputs_<model>_5shots.zip`` holds one JSON list of records
``question_id, question, options, answer, category, src, pred`` plus the raw output in
``generated_text`` (open models) or ``model_outputs`` (API models). The zips are read in memory
(the data folder is read-only). Rules, from the data README:

* correct = ``pred == answer``; ``pred`` null counts as wrong;
* a question absent from a model's file is a missing cell (NaN quality, ``None`` response);
* non-dict entries (DeepSeek-Coder-V2 has 43 stray strings) are skipped.

Model names are the catalog's ``.model`` ids (file ``Meta-Llama-3_1-8B-Instruct`` ->
``Meta-Llama-3.1-8B-Instruct``; ``Mixtral-8x7B-Instruct-v0.1`` ->
``mistralai/Mixtral-8x7B-Instruct-v0.1``), so replay and cost lookups share one name.

Prompt text: the question, then the ten options as ``A. ...`` lines (zero-shot form). Cost uses
the tokens of that prompt as input: the 5-shot exemplars of the original run are an evaluation
device, not part of what a routed user query would send, so they are not counted.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from routegraph.core.catalog import load_catalog
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.tokens import count_tokens_batch, priced_dataset, tokenizer_name
from routegraph.core.errors import DataFormatError
from routegraph.core.paths import require_data

_ZIP_NAME = re.compile(r"model_outputs_(?P<model>.+?)_5shots\.zip$")
LETTERS = "ABCDEFGHIJKLMNOP"


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def catalog_model_id(file_model: str) -> str | None:
    """The catalog ``.model`` id that a zip's model name denotes, or ``None`` if not catalogued.

    Matching ignores case and punctuation and compares with the id's last path part, so
    ``Meta-Llama-3_1-8B-Instruct`` finds ``Meta-Llama-3.1-8B-Instruct``.
    """
    key = _squash(file_model)
    for spec in load_catalog():
        if _squash(spec.model.rsplit("/", 1)[-1]) == key:
            return spec.model
    return None


def format_prompt(question: str, options: object) -> str:
    """Question plus lettered options, the text a router sees."""
    if isinstance(options, str):
        try:
            options = ast.literal_eval(options)
        except (ValueError, SyntaxError):
            options = [options]
    if not isinstance(options, list | tuple):
        options = []
    lines = [question.strip()]
    lines += [f"{LETTERS[i]}. {str(o).strip()}" for i, o in enumerate(options[: len(LETTERS)])]
    return "\n".join(lines)


def read_model_zip(path: Path) -> list[dict]:
    """The dict records of one model's zip (stray non-dict entries skipped)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.endswith(".json")]
            if not members:
                raise DataFormatError(f"{path}: no .json file inside the zip")
            raw = json.loads(archive.read(members[0]))
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: unreadable ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(raw, list):
        raise DataFormatError(f"{path}: expected a JSON list of records")
    return [r for r in raw if isinstance(r, dict) and "question_id" in r]


def _qid_sort_key(qid: str) -> tuple[int, str]:
    return (int(qid), qid) if qid.isdigit() else (1 << 62, qid)


def load_mmlu_pro(data_dir: Path) -> RoutingDataset:
    """MMLU-Pro: one row per question in any model's file, one column per catalogued model."""
    folder = require_data(data_dir / "mmlu-pro" / "eval_results")
    zips = sorted(folder.glob("model_outputs_*_5shots.zip"))
    if not zips:
        raise DataFormatError(f"{folder}: no model_outputs_<model>_5shots.zip files")

    models: list[str] = []
    per_model: list[dict[str, dict]] = []
    for path in zips:
        match = _ZIP_NAME.search(path.name)
        model = catalog_model_id(match.group("model")) if match else None
        if model is None:
            warnings.warn(f"{path.name}: model not in the catalog, skipped", stacklevel=2)
            continue
        models.append(model)
        per_model.append({str(r["question_id"]): r for r in read_model_zip(path)})

    first_seen: dict[str, dict] = {}
    record: dict | None
    for records in per_model:
        for qid, record in records.items():
            first_seen.setdefault(qid, record)
    qids = sorted(first_seen, key=_qid_sort_key)
    n, m = len(qids), len(models)

    quality = np.full((n, m), np.nan)
    responses: list[list[str | None]] = [[None] * m for _ in range(n)]
    for j, records in enumerate(per_model):
        for i, qid in enumerate(qids):
            record = records.get(qid)
            if record is None:
                continue
            pred, answer = record.get("pred"), record.get("answer")
            quality[i, j] = 1.0 if pred is not None and pred == answer else 0.0
            text = record.get("generated_text")
            if text is None:
                text = record.get("model_outputs")
            responses[i][j] = None if text is None else str(text)

    prompts = [
        format_prompt(str(first_seen[q].get("question", "")), first_seen[q].get("options"))
        for q in qids
    ]
    answer_tokens = count_tokens_batch(
        [r for row in responses for r in row], cache_name="mmlu_pro-answers"
    )
    return priced_dataset(
        "mmlu_pro",
        prompts,
        models,
        quality,
        count_tokens_batch(prompts, cache_name="mmlu_pro-prompts"),
        answer_tokens.reshape(n, m),
        cost_source=(
            f"estimated: tokens ({tokenizer_name()}) of the zero-shot question+options and of "
            "the recorded chain-of-thought output x catalog prices (5-shot exemplars not counted)"
        ),
        prompt_ids=[f"mmlu_pro/{q}" for q in qids],
        responses=responses,
        categories=[str(first_seen[q].get("category", "unknown")) for q in qids],
        references=[
            None if first_seen[q].get("answer") is None else str(first_seen[q]["answer"])
            for q in qids
        ],
    )

"""Reader of the RouterBench CSV format, the common way users bring their own routing data.

Layout (Martian's RouterBench): one row per prompt, ``sample_id, prompt, eval_name``, then per
model ``M``: ``M`` (quality in [0, 1]), ``M|model_response`` and ``M|total_cost`` (USD), and
``oracle_model_to_route_to``. What this reader tolerates, and why:

* a leading unnamed index column (``Unnamed: 0``), which ``DataFrame.to_csv`` writes by default;
* models are the columns with an ``M|model_response`` or ``M|total_cost`` partner, plus numeric
  columns that are not one of the known non-model columns (files without text or cost columns);
* empty cells: quality NaN (counted in ``missing_cells``), response ``None``; never a crash;
* prompts stored as a Python list literal (``"['text']"``, as in RouterBench's own exports) are
  unwrapped to their text, joined by blank lines;
* quality given as True/False is read as 1/0;
* an optional ``M|confidence`` column (a model's own confidence in its answer in [0, 1], e.g.
  from its log-probabilities) is read into ``confidence``: cascades can judge recorded answers by
  it (``bench --graph cascade --evaluator recorded``);
* an optional ``reference`` column holds gold answers (a multiple-choice letter or a final
  number): ``routegraph profile`` grades a model that has no column by them.

Costs: a recorded ``M|total_cost`` cell is used as is. A missing cost (no column or empty cell)
is estimated from token counts of the prompt and response x catalog prices when ``M`` is in the
catalog; otherwise a whole missing column is an error naming the model, and single empty cells
take the median of that model's recorded costs (said in ``cost_source``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from routegraph.core.catalog import load_catalog
from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.tokens import costs_from_tokens, count_tokens_batch, tokenizer_name
from routegraph.core.errors import DataFormatError, InvalidInputError

RESPONSE_SUFFIX = "|model_response"
COST_SUFFIX = "|total_cost"
CONFIDENCE_SUFFIX = "|confidence"
NON_MODEL_COLUMNS = frozenset(
    {"sample_id", "prompt", "eval_name", "oracle_model_to_route_to", "category", "reference"}
)
_TRUTH = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}


def _crlf_lines(path: Path) -> bool:
    """Whether the file's header line ends in CR LF (a Windows-written CSV)."""
    with path.open("rb") as fh:
        return fh.readline(1 << 20).endswith(b"\r\n")


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    # A bare carriage return inside an unquoted text field (LaTeX "\\r..." in a recorded answer
    # decoded to CR; pandas' own writer leaves such fields unquoted) would end the row there
    # and shift every later cell: files with "\n" line ends are split on "\n" only.
    terminator = None if _crlf_lines(path) else "\n"
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], lineterminator=terminator
        )
    except pd.errors.EmptyDataError:
        raise DataFormatError(f"{path}: empty file, expected a RouterBench CSV") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable CSV ({exc.__class__.__name__})") from None
    # pandas names a header-less leading index column "Unnamed: 0".
    unnamed = [c for c in frame.columns if str(c).startswith("Unnamed:") or not str(c).strip()]
    frame = frame.drop(columns=unnamed)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _unwrap_prompt(text: str) -> str:
    stripped = text.strip()
    if stripped[:2] in ("['", '["') and stripped.endswith("]"):
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "\n\n".join(value)
    return text


def _is_numeric(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty:
        return False
    lowered = values.str.strip().str.lower()
    as_number = pd.to_numeric(lowered.where(~lowered.isin(_TRUTH.keys())), errors="coerce")
    return bool((as_number.notna() | lowered.isin(_TRUTH.keys())).all())


def find_models(columns: list[str], frame: pd.DataFrame) -> list[str]:
    """Model names in column order: partnered columns first, then other numeric columns."""
    partnered = {
        c[: -len(s)]
        for c in columns
        for s in (RESPONSE_SUFFIX, COST_SUFFIX, CONFIDENCE_SUFFIX)
        if c.endswith(s)
    }
    models = []
    for column in columns:
        if column in NON_MODEL_COLUMNS or "|" in column:
            continue
        if column in partnered or _is_numeric(frame[column]):
            models.append(column)
    return models


def _quality_column(series: pd.Series, path: Path, model: str) -> np.ndarray:
    lowered = series.str.strip().str.lower()
    mapped = lowered.map(lambda v: _TRUTH.get(v, v) if isinstance(v, str) else v)
    values = pd.to_numeric(mapped, errors="coerce").astype(float).to_numpy()
    bad = series.notna().to_numpy() & np.isnan(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{path}: column {model!r} row {row + 1}: {series.iloc[row]!r} is not a quality "
            "value; allowed: a number in [0, 1], True/False or an empty cell"
        )
    outside = ~np.isnan(values) & ((values < 0) | (values > 1))
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataFormatError(
            f"{path}: column {model!r} row {row + 1}: quality {values[row]} is outside [0, 1]"
        )
    return values


def _cost_column(series: pd.Series, path: Path, model: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").astype(float).to_numpy()
    bad = series.notna().to_numpy() & (np.isnan(values) | (values < 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{path}: column {model + COST_SUFFIX!r} row {row + 1}: {series.iloc[row]!r} is not "
            "a cost; allowed: a number of USD >= 0 or an empty cell"
        )
    return values


def load_routerbench_csv(path: str | Path) -> RoutingDataset:
    """A RouterBench-format CSV as a :class:`RoutingDataset` named after the file."""
    path = Path(path).expanduser()
    frame = _read_frame(path)
    columns = list(frame.columns)
    if "prompt" not in columns:
        raise DataFormatError(f"{path}: no 'prompt' column; columns found: {columns[:12]}")
    models = find_models(columns, frame)
    if not models:
        raise DataFormatError(
            f"{path}: no model columns; expected for each model M a quality column 'M' with "
            f"'M{RESPONSE_SUFFIX}' and/or 'M{COST_SUFFIX}' beside it"
        )
    frame = frame[frame["prompt"].notna()].reset_index(drop=True)
    prompts = [_unwrap_prompt(str(p)) for p in frame["prompt"]]
    n, m = len(prompts), len(models)

    quality = np.column_stack([_quality_column(frame[c], path, c) for c in models])
    responses: list[list[str | None]] | None = None
    if any(c + RESPONSE_SUFFIX in columns for c in models):
        responses = [[None] * m for _ in range(n)]
        for j, model in enumerate(models):
            column = model + RESPONSE_SUFFIX
            if column in columns:
                for i, value in enumerate(frame[column].tolist()):
                    responses[i][j] = None if pd.isna(value) else str(value)

    confidence = None
    if any(c + CONFIDENCE_SUFFIX in columns for c in models):
        confidence = np.full((n, m), np.nan)
        for j, model in enumerate(models):
            column = model + CONFIDENCE_SUFFIX
            if column in columns:
                confidence[:, j] = _quality_column(frame[column], path, column)

    cost = np.full((n, m), np.nan)
    for j, model in enumerate(models):
        if model + COST_SUFFIX in columns:
            cost[:, j] = _cost_column(frame[model + COST_SUFFIX], path, model)
    answered = ~np.isnan(quality)
    need = np.isnan(cost) & answered
    notes: list[str] = []
    if need.any():
        cost, notes = _fill_costs(path, models, prompts, responses, cost, need)
    cost[~answered] = np.nan

    categories = None
    if "eval_name" in columns:
        categories = [None if pd.isna(v) else str(v) for v in frame["eval_name"]]
        categories = [c if c is not None else "unknown" for c in categories]
    prompt_ids = (
        [str(v) if not pd.isna(v) else str(i) for i, v in enumerate(frame["sample_id"])]
        if "sample_id" in columns
        else []
    )
    has_costs = any(c + COST_SUFFIX in columns for c in models)
    source = "recorded (M|total_cost columns)" if has_costs else "no M|total_cost columns"
    if notes:
        source += "; " + "; ".join(notes)
    references = None
    if "reference" in frame.columns:  # gold answers: what `routegraph profile` grades a model by
        references = [None if pd.isna(v) else str(v).strip() or None for v in frame["reference"]]
    return RoutingDataset(
        name=path.stem,
        prompts=prompts,
        models=models,
        quality=quality,
        cost_usd=cost,
        cost_source=source,
        prompt_ids=prompt_ids,
        responses=responses,
        confidence=confidence,
        categories=cast("list[str] | None", categories),  # None entries replaced above
        references=references,
        missing_cells=int((~answered).sum()),
    )


def _fill_costs(
    path: Path,
    models: list[str],
    prompts: list[str],
    responses: list[list[str | None]] | None,
    cost: np.ndarray,
    need: np.ndarray,
) -> tuple[np.ndarray, list[str]]:
    """Estimate the missing cost cells; see the module docstring for the rules."""
    catalog = load_catalog()
    cost = cost.copy()
    notes: list[str] = []
    prompt_tokens: np.ndarray | None = None
    for j, model in enumerate(models):
        rows = need[:, j]
        if not rows.any():
            continue
        try:
            catalog.get(model)
            known = True
        except InvalidInputError:
            known = False
        if known:
            if prompt_tokens is None:
                prompt_tokens = count_tokens_batch(prompts).astype(float)
            answers = [responses[i][j] if responses else None for i in np.flatnonzero(rows)]
            out_tok = count_tokens_batch(answers).astype(float)
            estimate = costs_from_tokens([model], prompt_tokens[rows, None], out_tok[:, None])
            cost[rows, j] = estimate[:, 0]
            notes.append(
                f"{model}: {int(rows.sum())} cost(s) estimated from tokens ({tokenizer_name()})"
                " x catalog prices"
            )
            continue
        recorded = cost[~np.isnan(cost[:, j]), j]
        if recorded.size == 0:
            raise DataFormatError(
                f"{path}: model {model!r} has no '{model}{COST_SUFFIX}' values and is not in the "
                "model catalog, so its cost is unknown; add the cost column or a catalog entry "
                "with its prices"
            )
        cost[rows, j] = float(np.median(recorded))
        notes.append(f"{model}: {int(rows.sum())} empty cost cell(s) set to its median cost")
    return cost, notes

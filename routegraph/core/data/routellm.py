"""Loaders for the RouteLLM evaluation data: GPT-4-1106-preview (strong) vs Mixtral-8x7B (weak).

Files (under ``<data_dir>/routellm``, see its SOURCE.txt): ``mmlu/responses/mmlu_<subject>.csv``,
``gsm8k/gsm8k_responses.csv`` + ``gsm8k/test.jsonl``, ``mt_bench/judgements.jsonl`` +
``mt_bench/question.jsonl`` and ``*/contaminated_prompts.jsonl``.

Costs: the recordings carry no token usage, so costs are token counts of the recorded text
(:mod:`routegraph.core.data.tokens`) times the catalog's list prices. Token arrays are
``(n_prompts, n_models)`` float arrays because the input of an MT-Bench turn-2 call contains that
model's own turn-1 answer.

MT-Bench rows: one per (question, turn). The turn-1 row's prompt is the first user message. The
turn-2 row's prompt is the first user message, a blank line, then the follow-up message
(``MT_BENCH_TURN_SEPARATOR``): follow-ups like "Rewrite your previous response..." mean nothing
alone, and a router should see what is being continued. Its ``prompt_id`` is ``"<qid>:2"``, and
the splitter keeps both turns of a question on the same side.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.data.tokens import count_tokens_batch, priced_dataset, tokenizer_name
from routegraph.core.errors import DataFormatError
from routegraph.core.paths import require_data

STRONG_MODEL = "gpt-4-1106-preview"
WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
MODELS = [WEAK_MODEL, STRONG_MODEL]
"""Column order of every RouteLLM dataset: [weak, strong]."""
MMLU_OUTPUT_TOKENS = 1
"""Assumed answer length on MMLU: the recordings keep only correctness of a letter answer."""
MT_BENCH_TURN_SEPARATOR = "\n\n"


def normalise_text(text: str) -> str:
    """Whitespace-insensitive key to match the same prompt across files."""
    return " ".join(str(text).split())


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file; a bad line raises :class:`DataFormatError` with its number."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def contaminated_mask(prompts: list[str], path: Path) -> np.ndarray:
    """Rows whose prompt equals an ``eval_prompt`` of RouteLLM's contaminated list.

    The file holds ``{train_prompt, eval_prompt, train_idx, eval_idx}`` per line; ``eval_idx``
    depends on RouteLLM's file order, so matching is on whitespace-normalised ``eval_prompt`` text.
    """
    mask = np.zeros(len(prompts), dtype=bool)
    if not path.exists():
        return mask
    bad = {normalise_text(r.get("eval_prompt", "")) for r in read_jsonl(path)} - {""}
    for i, prompt in enumerate(prompts):
        mask[i] = normalise_text(prompt) in bad
    return mask


def _bool_quality(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """The [weak, strong] correctness columns as floats (True/False/1/0; empty = NaN)."""
    missing = [m for m in MODELS if m not in frame.columns]
    if missing:
        raise DataFormatError(f"{path}: no column(s) {missing}; columns: {list(frame.columns)}")
    columns = []
    for model in MODELS:
        raw = frame[model]
        mapped = raw.map(
            lambda v: (
                {"true": 1.0, "false": 0.0}.get(str(v).strip().lower(), np.nan)
                if isinstance(v, str)
                else v
            )
        )
        columns.append(pd.to_numeric(mapped, errors="coerce").astype(float).to_numpy())
    return np.column_stack(columns)


def load_mmlu(data_dir: Path) -> RoutingDataset:
    """MMLU: 57 subject CSVs, 14,042 prompts, correctness of both models, no answer text."""
    folder = require_data(data_dir / "routellm" / "mmlu" / "responses")
    files = sorted(folder.glob("mmlu_*.csv"))
    if not files:
        raise DataFormatError(f"{folder}: no mmlu_<subject>.csv files")
    prompts: list[str] = []
    categories: list[str] = []
    prompt_ids: list[str] = []
    qualities = []
    for path in files:
        subject = path.stem.removeprefix("mmlu_")
        frame = pd.read_csv(path)
        if "prompt" not in frame.columns:
            raise DataFormatError(f"{path}: no 'prompt' column")
        prompts += frame["prompt"].astype(str).tolist()
        categories += [subject] * len(frame)
        prompt_ids += [f"{subject}/{i}" for i in range(len(frame))]
        qualities.append(_bool_quality(frame, path))
    quality = np.vstack(qualities)
    return priced_dataset(
        "mmlu",
        prompts,
        MODELS,
        quality,
        count_tokens_batch(prompts, cache_name="mmlu-prompts"),
        float(MMLU_OUTPUT_TOKENS),
        cost_source=(
            f"estimated: prompt tokens ({tokenizer_name()}) x catalog input price + "
            f"{MMLU_OUTPUT_TOKENS} output token (a letter answer; RouteLLM records only "
            "correctness) x catalog output price"
        ),
        prompt_ids=prompt_ids,
        categories=categories,
        contaminated=contaminated_mask(
            prompts, data_dir / "routellm" / "mmlu" / "contaminated_prompts.jsonl"
        ),
        strong_model=STRONG_MODEL,
        weak_model=WEAK_MODEL,
    )


_GSM8K_FINAL = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


def gsm8k_final_answer(solution: str) -> str | None:
    """The gold number after ``####`` in a GSM8K solution, without thousands separators."""
    match = _GSM8K_FINAL.search(solution or "")
    if not match:
        return None
    return match.group(1).strip().replace(",", "").rstrip(".")


def load_gsm8k(data_dir: Path) -> RoutingDataset:
    """GSM8K: 1,319 prompts, correctness and full answers of both models, gold final numbers."""
    folder = data_dir / "routellm" / "gsm8k"
    path = require_data(folder / "gsm8k_responses.csv")
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "prompt" not in frame.columns:
        raise DataFormatError(f"{path}: no 'prompt' column")
    prompts = frame["prompt"].astype(str).tolist()
    quality = _bool_quality(frame, path)
    responses: list[list[str | None]] = []
    response_columns = [f"{m}_response" for m in MODELS]
    for column in response_columns:
        if column not in frame.columns:
            raise DataFormatError(f"{path}: no column {column!r}")
    for _, row in frame[response_columns].iterrows():
        responses.append([None if pd.isna(v) else str(v) for v in row.tolist()])

    gold: dict[str, str | None] = {}
    test_path = folder / "test.jsonl"
    if test_path.exists():
        for record in read_jsonl(test_path):
            gold[normalise_text(record.get("question", ""))] = gsm8k_final_answer(
                str(record.get("answer", ""))
            )
    references = [gold.get(normalise_text(p)) for p in prompts]

    flat = [r for row in responses for r in row]
    answer_tokens = count_tokens_batch(flat, cache_name="gsm8k-responses")
    return priced_dataset(
        "gsm8k",
        prompts,
        MODELS,
        quality,
        count_tokens_batch(prompts, cache_name="gsm8k-prompts"),
        answer_tokens.reshape(len(prompts), len(MODELS)),
        cost_source=(
            f"estimated: tokens ({tokenizer_name()}) of the prompt and of the recorded answer "
            "x catalog input/output prices"
        ),
        prompt_ids=[f"gsm8k/{i}" for i in range(len(prompts))],
        responses=responses,
        categories=["math"] * len(prompts),
        references=references,
        contaminated=contaminated_mask(prompts, folder / "contaminated_prompts.jsonl"),
        strong_model=STRONG_MODEL,
        weak_model=WEAK_MODEL,
    )


_SINGLE_ANSWER = re.compile(
    r"\[The Start of Assistant's Answer\]\n?(.*?)\n?\[The End of Assistant's Answer\]", re.DOTALL
)
_CONVERSATION = re.compile(
    r"<\|The Start of Assistant A's Conversation with User\|>(.*?)"
    r"<\|The End of Assistant A's Conversation with User\|>",
    re.DOTALL,
)


def mt_bench_answers(user_prompt: str) -> list[str]:
    """The assistant's answers inside a judge prompt: one (turn 1) or two (multi-turn judge)."""
    single = _SINGLE_ANSWER.search(user_prompt)
    if single:
        return [single.group(1).strip()]
    conversation = _CONVERSATION.search(user_prompt)
    if not conversation:
        return []
    answers = []
    for part in conversation.group(1).split("### Assistant A:")[1:]:
        answers.append(part.split("### User:")[0].strip())
    return answers


def load_mt_bench(data_dir: Path) -> RoutingDataset:
    """MT-Bench: 80 questions x 2 turns = 160 rows; quality = GPT-4 judge score / 10."""
    folder = data_dir / "routellm" / "mt_bench"
    questions = read_jsonl(require_data(folder / "question.jsonl"))
    judgements = read_jsonl(require_data(folder / "judgements.jsonl"))
    by_key: dict[tuple[int, int, str], dict] = {}
    record: dict | None
    for record in judgements:
        try:
            key = (int(record["question_id"]), int(record["turn"]), str(record["model"]))
        except (KeyError, TypeError, ValueError):
            continue  # not a judgement line
        by_key[key] = record  # a re-judged answer replaces the earlier one

    prompts: list[str] = []
    prompt_ids: list[str] = []
    categories: list[str] = []
    references: list[str | None] = []
    turn_one_prompts: list[str] = []
    rows: list[tuple[int, int]] = []
    for question in sorted(questions, key=lambda q: int(q["question_id"])):
        qid = int(question["question_id"])
        turns = [str(t) for t in question.get("turns", [])]
        refs = question.get("reference") or []
        for turn in (1, 2):
            if len(turns) < turn:
                continue
            text = turns[0] if turn == 1 else turns[0] + MT_BENCH_TURN_SEPARATOR + turns[1]
            prompts.append(text)
            prompt_ids.append(f"{qid}:{turn}")
            categories.append(str(question.get("category", "unknown")))
            references.append(str(refs[turn - 1]) if len(refs) >= turn else None)
            turn_one_prompts.append(turns[0])
            rows.append((qid, turn))

    n, m = len(rows), len(MODELS)
    quality = np.full((n, m), np.nan)
    responses: list[list[str | None]] = [[None] * m for _ in range(n)]
    # For turn-2 rows: the model's own turn-1 answer, part of the turn-2 call's input.
    follow_up: list[list[str]] = [[""] * m for _ in range(n)]
    for i, (qid, turn) in enumerate(rows):
        for j, model in enumerate(MODELS):
            record = by_key.get((qid, turn, model))
            if record is None:
                continue
            score = record.get("score")
            if isinstance(score, int | float) and score >= 0:  # FastChat writes -1 on failure
                quality[i, j] = float(score) / 10.0
            answers = mt_bench_answers(str(record.get("user_prompt", "")))
            if len(answers) >= turn:
                responses[i][j] = answers[turn - 1]
                if turn == 2:
                    follow_up[i][j] = answers[0]

    # Input of a call: the row's user text(s), plus on turn 2 the model's own turn-1 answer.
    prompt_tokens = count_tokens_batch(prompts, cache_name="mt_bench-prompts").astype(float)
    context_tokens = count_tokens_batch(
        [t for row in follow_up for t in row], cache_name="mt_bench-context"
    ).reshape(n, m)
    answer_tokens = count_tokens_batch(
        [r for row in responses for r in row], cache_name="mt_bench-answers"
    ).reshape(n, m)
    # Both turns of a question are contaminated when its first message is.
    contaminated = contaminated_mask(turn_one_prompts, folder / "contaminated_prompts.jsonl")
    return priced_dataset(
        "mt_bench",
        prompts,
        MODELS,
        quality,
        prompt_tokens[:, None] + context_tokens,
        answer_tokens,
        cost_source=(
            f"estimated: tokens ({tokenizer_name()}) of the user turn(s), of the model's own "
            "turn-1 answer (turn 2 only) and of the recorded answer x catalog prices"
        ),
        prompt_ids=prompt_ids,
        responses=responses,
        categories=categories,
        references=references,
        contaminated=contaminated,
        strong_model=STRONG_MODEL,
        weak_model=WEAK_MODEL,
    )


def mt_bench_question_ids(ds: RoutingDataset) -> list[str]:
    """Question id of each MT-Bench row (``"81"`` for ``"81:1"`` and ``"81:2"``)."""
    return [pid.split(":", 1)[0] for pid in ds.prompt_ids]

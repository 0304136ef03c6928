"""The fixed feature vector the learned verifier reads from one (query, answer) pair.

Why hand-made features: the verifier runs on every weak answer of a cascade, so it must cost
next to nothing. Beside the answer's own arithmetic (:mod:`routegraph.evaluators.arithmetic`),
wrong answers tend to state a non-integer, hedge ("approximately", "assuming"), never state a
final number, end on a number that differs from the last one computed, or use operands found
neither in the question nor in an earlier step. :data:`FEATURE_NAMES` fixes the order; a stored
verifier records it, so a verifier trained on other features refuses to load.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from routegraph.core.errors import InvalidInputError
from routegraph.evaluators.arithmetic import NUMBER, THOUSANDS, check_arithmetic

_FINAL_PATTERNS = (
    re.compile(r"####\s*\$?\s*(-?[\d,]*\.?\d+)"),
    re.compile(r"\\boxed\{\s*\$?(-?[\d,]*\.?\d+)"),
    re.compile(
        r"(?:final answer|the answer|answer)\s*(?:is|:)?\s*:?\s*\**\s*\$?\s*(-?[\d,]*\.?\d+)", re.I
    ),
)
_CHOICE = re.compile(r"answer is\s*\(?([A-J])\)?", re.I)
_HEDGES = re.compile(
    r"\b(approximately|approx|about|roughly|assum\w*|estimate\w*|not possible|cannot|can't|"
    r"unclear|impossible|however|but since|round\w*|whole number|not enough information|"
    r"doesn't make sense|does not make sense|mistake|apolog\w*|actually|wait|i'm sorry)\b",
    re.I,
)
_CORRECTIONS = re.compile(
    r"\b(let me re|re-?calculat\w*|correct(ion|ed)|on second thought)\b", re.I
)

_DIFFERENCE = re.compile(
    r"\b(how (much|many) (more|less|fewer|longer|shorter|older|younger|faster|slower)|"
    r"difference|left|remain\w*|change|profit|save[sd]?)\b",
    re.I,
)
_SHARE = re.compile(r"\b(each|per|average|split|share\w*|equally|divided)\b", re.I)
_TIME_WORDS = re.compile(r"\b(hours?|minutes?|seconds?|days?|weeks?|months?|years?)\b", re.I)
_COMMON_CONSTANTS = {
    0.0,
    1.0,
    2.0,
    3.0,
    4.0,
    5.0,
    6.0,
    7.0,
    8.0,
    10.0,
    12.0,
    24.0,
    30.0,
    52.0,
    60.0,
    100.0,
    365.0,
    1000.0,
}
FEATURE_NAMES: tuple[str, ...] = (
    "eq_checked",
    "eq_wrong",
    "eq_wrong_any",
    "eq_wrong_share",
    "eq_max_rel_error_log",
    "annotation_mismatches",
    "final_stated",
    "final_found",
    "final_is_integer",
    "final_negative",
    "final_log_magnitude",
    "final_equals_last_result",
    "final_in_query",
    "final_equals_any_result",
    "answer_chars_log",
    "answer_lines",
    "answer_numbers",
    "hedges",
    "corrections",
    "query_chars_log",
    "query_numbers",
    "query_numbers_used_share",
    "answer_to_query_length",
    "query_numbers_unused",
    "unsupported_operands",
    "unsupported_operands_share",
    "eq_wrong_in_second_half",
    "final_line_has_words",
    "last_op_add",
    "last_op_sub",
    "last_op_mul",
    "last_op_div",
    "any_op_sub",
    "any_op_div",
    "asks_difference",
    "asks_difference_without_subtraction",
    "asks_share_without_division",
    "asks_percent",
    "asks_time",
    "steps_per_query_number",
    "multiple_choice",
    "choice_stated",
    "question_marks_in_answer",
)


def _to_float(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def final_answer(answer: str) -> tuple[float | None, bool]:
    """The answer's final number and whether it was stated explicitly (``####``, "answer is").

    Falls back to the last number in the text (not stated) so every answer gets a value.
    """
    for pattern in _FINAL_PATTERNS:
        found = pattern.findall(answer)
        if found:
            value = _to_float(found[-1])
            if value is not None:
                return value, True
    numbers = NUMBER.findall(THOUSANDS.sub("", answer))
    return (_to_float(numbers[-1]), False) if numbers else (None, False)


def answer_features(query: str, answer: str) -> np.ndarray:
    """The fixed-length feature vector (order: :data:`FEATURE_NAMES`) of one (query, answer)."""
    query = query or ""
    answer = answer or ""
    report = check_arithmetic(answer)
    final, stated = final_answer(answer)
    query_numbers = {float(n) for n in NUMBER.findall(THOUSANDS.sub("", query))}
    answer_numbers = [float(n) for n in NUMBER.findall(THOUSANDS.sub("", answer))]
    answer_set = set(answer_numbers)
    results = {round(e.claimed, 6) for e in report.equalities}
    last = report.last_result

    def close(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and abs(a - b) <= max(0.01, 1e-3 * abs(a))

    # Operands that come from neither the question, an earlier result nor a common constant
    # are often misread or invented quantities.
    known = set(query_numbers) | _COMMON_CONSTANTS
    unsupported = operands = 0
    for equality in report.equalities:
        for number in NUMBER.findall(equality.expression):
            value = abs(float(number))
            operands += 1
            unsupported += value not in known
        known.add(round(equality.claimed, 6))
        known.add(round(equality.actual, 6))
    last_ops = report.equalities[-1].expression if report.equalities else ""
    asks_difference = bool(_DIFFERENCE.search(query))
    asks_share = bool(_SHARE.search(query))
    multiple_choice = bool(re.search(r"(?m)^\s*\(?[A-D][).:]\s", query)) or "Options" in query
    values = [
        report.checked,
        report.wrong,
        float(report.wrong > 0),
        report.wrong / report.checked if report.checked else 0.0,
        math.log10(1e-6 + report.max_relative_error),
        report.annotation_mismatches,
        float(stated),
        float(final is not None),
        float(final is not None and abs(final - round(final)) < 1e-9),
        float(final is not None and final < 0),
        math.log10(1.0 + abs(final)) if final is not None else -1.0,
        float(close(final, last)) if last is not None else 0.5,
        float(final is not None and final in query_numbers),
        float(final is not None and round(final, 6) in results),
        math.log10(1.0 + len(answer)),
        answer.count("\n") + 1,
        len(answer_numbers),
        len(_HEDGES.findall(answer)),
        len(_CORRECTIONS.findall(answer)),
        math.log10(1.0 + len(query)),
        len(query_numbers),
        len(query_numbers & answer_set) / len(query_numbers) if query_numbers else 1.0,
        len(answer) / (1.0 + len(query)),
        len(query_numbers - answer_set),
        unsupported,
        unsupported / max(1, operands),
        float(any(not e.correct for e in report.equalities[len(report.equalities) // 2 :])),
        float(bool(re.search(r"####[^\n]*[A-Za-z]", answer))),
        *(float(op in last_ops) for op in "+-*/"),
        float(any("-" in e.expression for e in report.equalities)),
        float(any("/" in e.expression for e in report.equalities)),
        float(asks_difference),
        float(asks_difference and not any("-" in e.expression for e in report.equalities)),
        float(asks_share and not any("/" in e.expression for e in report.equalities)),
        float(bool(re.search(r"%|percent", query, re.I))),
        float(bool(_TIME_WORDS.search(query))),
        report.checked / max(1, len(query_numbers)),
        float(multiple_choice),
        float(bool(_CHOICE.search(answer))),
        answer.count("?"),
    ]
    return np.asarray(values, dtype=np.float64)


def feature_matrix(queries: Sequence[str], answers: Sequence[str]) -> np.ndarray:
    """Stack :func:`answer_features` for aligned ``queries`` and ``answers``."""
    if len(queries) != len(answers):
        raise InvalidInputError(
            "answers", f"has {len(answers)} items but queries has {len(queries)}", None
        )
    if not len(queries):
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.vstack([answer_features(q, a) for q, a in zip(queries, answers, strict=True)])

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
from routegraph.evaluators.arithmetic import (
    NUMBER,
    THOUSANDS,
    ArithmeticReport,
    check_arithmetic,
)

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
# Quantities written as words are the ones a model most often drops or misreads.
_WORD_NUMBERS = re.compile(
    r"\b(half|twice|double|triple|thrice|quarter|third|dozens?|one|two|three|four|five|six|"
    r"seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred)\b",
    re.I,
)
_FRACTION_WORDS = re.compile(
    r"\b(half|quarter|third|fourth|fifth|fraction|ratio|percent\w*)|%", re.I
)
_COUNT_QUESTION = re.compile(r"\bhow many\b", re.I)
_MONEY = re.compile(r"\$|\bdollars?\b|\bcents?\b", re.I)
_APPROX_MARKS = re.compile(r"≈|~|\bapprox", re.I)
_SENTENCE_END = re.compile(r"[.?!](\s|$)")
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
    # v3: truncation, chained results, magnitude against the question, question difficulty
    "truncated",
    "annotations_unbalanced",
    "ends_mid_expression",
    "hash_final",
    "results_unused_later",
    "results_unused_share",
    "repeated_equalities",
    "query_numbers_used_as_operands_share",
    "final_over_query_max_log",
    "final_over_query_sum_log",
    "final_below_query_min",
    "count_question_noninteger_final",
    "money_question",
    "approx_marks",
    "query_word_numbers",
    "query_fraction_words",
    "query_sentences",
    "query_words_log",
    "answer_sentences",
    "final_digits",
    "final_more_than_2_decimals",
    "final_repeats_in_answer",
    "eq_wrong_last",
    "final_matches_last_line_number",
    "numbers_on_final_line",
)


def _to_float(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _numbers(text: str) -> list[float]:
    """Every number written in ``text`` (thousands separators dropped), in order."""
    return [float(n) for n in NUMBER.findall(THOUSANDS.sub("", text))]


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
    query_list = _numbers(query)
    query_numbers = set(query_list)
    answer_numbers = _numbers(answer)
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
    shape = _shape_features(query, answer, report, final, stated, query_list, answer_numbers)
    return np.asarray([*values, *shape], float)


def _shape_features(
    query: str,
    answer: str,
    report: ArithmeticReport,
    final: float | None,
    stated: bool,
    query_numbers: list[float],
    answer_numbers: list[float],
) -> list[float]:
    """Truncation, how the computed results chain, the final number's magnitude against the
    question's numbers, and how hard the question reads.

    Why each: a cut-off answer ("= <<15+2") is wrong however fluent; a result never used again
    (and not the final answer) marks a dropped branch of the computation; a final number far
    above the sum of the question's quantities, or below its smallest, is often a unit slip; and
    questions with many sentences, fractions or quantities in words are where the weak model errs.
    """
    stripped = answer.rstrip()
    equalities = report.equalities
    unused = 0
    for k, equality in enumerate(equalities[:-1]):
        later = " ".join(e.expression for e in equalities[k + 1 :])
        later_numbers = {round(float(n), 6) for n in NUMBER.findall(later)}
        is_final = final is not None and abs(final - equality.claimed) < 1e-6
        unused += round(equality.claimed, 6) not in later_numbers and not is_final
    expressions = [e.expression.replace(" ", "") for e in equalities]
    operands = {abs(float(n)) for e in equalities for n in NUMBER.findall(e.expression)}
    query_abs = {abs(v) for v in query_numbers}
    q_max = max(query_abs, default=0.0)
    q_min = min((v for v in query_abs if v), default=0.0)
    q_sum = sum(abs(v) for v in query_numbers)
    if final is not None:
        text = f"{abs(final):.6f}".rstrip("0").rstrip(".")
        magnitude = [
            math.log10((1 + abs(final)) / (1 + q_max)),
            math.log10((1 + abs(final)) / (1 + q_sum)),
            float(abs(final) < q_min),
            float(bool(_COUNT_QUESTION.search(query)) and abs(final - round(final)) > 1e-9),
        ]
        digits = [
            float(len(text.replace(".", ""))),
            float("." in text and len(text.split(".")[1]) > 2),
            float(sum(abs(n - final) < 1e-9 for n in answer_numbers)),
        ]
    else:
        magnitude, digits = [-3.0, -3.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    last_line = stripped.splitlines()[-1] if stripped else ""
    last_line_numbers = _numbers(last_line)
    hash_at = answer.rfind("####")
    final_line = answer[hash_at:].split("\n", 1)[0] if hash_at >= 0 else ""
    return [
        float(not stated and not re.search(r"[.!)]\s*$", stripped)),
        float(answer.count("<<") != answer.count(">>")),
        float(not stated and bool(re.search(r"[\d+\-*/=<(]\s*$", stripped))),
        float(hash_at >= 0),
        float(unused),
        unused / max(1, len(equalities) - 1),
        float(len(expressions) - len(set(expressions))),
        len(query_abs & operands) / len(query_abs) if query_abs else 1.0,
        *magnitude,
        float(bool(_MONEY.search(query))),
        float(len(_APPROX_MARKS.findall(answer))),
        float(len(_WORD_NUMBERS.findall(query))),
        float(len(_FRACTION_WORDS.findall(query))),
        float(len(_SENTENCE_END.findall(query))),
        math.log10(1 + len(query.split())),
        float(len(_SENTENCE_END.findall(answer))),
        *digits,
        float(bool(equalities) and not equalities[-1].correct),
        float(
            final is not None
            and bool(last_line_numbers)
            and abs(last_line_numbers[-1] - final) < 1e-6
        ),
        float(len(_numbers(final_line))),
    ]


def feature_matrix(queries: Sequence[str], answers: Sequence[str]) -> np.ndarray:
    """Stack :func:`answer_features` for aligned ``queries`` and ``answers``."""
    if len(queries) != len(answers):
        raise InvalidInputError(
            "answers", f"has {len(answers)} items but queries has {len(queries)}", None
        )
    if not len(queries):
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.vstack([answer_features(q, a) for q, a in zip(queries, answers, strict=True)])

"""Re-check the arithmetic a model writes on its way to an answer.

Why: the cheapest strong signal that a chain-of-thought answer went wrong is its own arithmetic.
A model that writes ``12 + 30 = 32`` on the way has usually gone wrong, and log-probabilities
do not see it (the token "32" can be fluent). :func:`check_arithmetic` re-evaluates every
equality it can parse (``3 * 4 = 12``, GSM8K's ``<<9*2=18>>18``, chains ``2 + 1/2 = 5/2 = 2.5``)
with :func:`safe_eval`, which walks the syntax tree and so never runs model output as code. The
log-probability evaluator penalises wrong equalities; the learned verifier turns the report into
features (:mod:`routegraph.evaluators.answer_features`).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TIMES_WORD = re.compile(r"(?<=[\d)])\s*[x×·]\s*(?=[\d($])", re.IGNORECASE)
# Characters that can belong to an arithmetic expression once units and currency are stripped.
_MATH_TAIL = re.compile(r"[\d\s.+\-*/()%$€£^]*$")
_MATH_ONLY = re.compile(r"^[\d\s.+\-*/()%$€£^]*\d[\d\s.+\-*/()%$€£^]*$")
_RIGHT_NUMBER = re.compile(r"^\s*[$€£]?\s*(-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?)\s*(%?)")
_OPERATOR = re.compile(r"\d\s*[+\-*/^]\s*[\d(]|\)\s*[+\-*/^]|%")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def safe_eval(expression: str) -> float | None:
    """Value of a plain arithmetic expression (numbers, + - * / ^ %, parentheses), else None.

    Walks the AST instead of calling ``eval`` so untrusted model output can never run code.
    """
    text = expression.strip().replace("$", "").replace("€", "").replace("£", "")
    text = THOUSANDS.sub("", text).replace("^", "**")
    text = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", text)
    if not text or len(text) > 200:
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return None

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and (abs(right) > 12 or abs(left) > 1e6):
                raise ValueError("power too large")
            return _BINARY[type(node.op)](left, right)
        raise ValueError("not arithmetic")

    try:
        value = walk(tree)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    if isinstance(value, complex):  # a negative base to a fractional power: not a real number
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Equality:
    """One parsed ``expression = result`` claim and whether it holds."""

    expression: str
    claimed: float
    actual: float

    @property
    def relative_error(self) -> float:
        return abs(self.actual - self.claimed) / max(abs(self.actual), 1e-9)

    @property
    def correct(self) -> bool:
        """Equal up to the rounding people write (3.33 for 10/3): 1% relative or 0.01 absolute."""
        return abs(self.actual - self.claimed) <= max(0.01, 0.01 * abs(self.actual))


@dataclass(frozen=True)
class ArithmeticReport:
    """What :func:`check_arithmetic` found in one answer."""

    equalities: tuple[Equality, ...]
    annotation_mismatches: int
    """``<<a*b=c>>d`` annotations whose trailing number ``d`` differs from ``c``."""

    @property
    def checked(self) -> int:
        return len(self.equalities)

    @property
    def wrong(self) -> int:
        return sum(not e.correct for e in self.equalities)

    @property
    def last_result(self) -> float | None:
        return self.equalities[-1].claimed if self.equalities else None

    @property
    def max_relative_error(self) -> float:
        return max((e.relative_error for e in self.equalities), default=0.0)


def _normalise_math(text: str) -> str:
    text = THOUSANDS.sub("", text)
    text = _TIMES_WORD.sub(" * ", text)
    return text.replace("÷", "/").replace("−", "-").replace("–", "-").replace("\\times", "*")


def check_arithmetic(answer: str) -> ArithmeticReport:
    """Re-evaluate every equality in ``answer`` whose left side is a computation.

    Handles GSM8K calculator annotations (``<<9*2=18>>18``), inline ``12 + 30 = 42`` with
    currency, ``x`` / ``×`` for multiplication, thousands separators, percentages and chains
    (``2 + 1/2 = 5/2 = 2.5``). A side that is not pure arithmetic (``180 meters * 3``) is
    skipped, not counted wrong: the checker only flags what it is sure about.
    """
    equalities: list[Equality] = []
    mismatches = 0
    for match in _ANNOTATION.finditer(answer):
        actual = safe_eval(_normalise_math(match.group(1)))
        claimed = safe_eval(_normalise_math(match.group(2)))
        if actual is not None and claimed is not None and _OPERATOR.search(match.group(1)):
            equalities.append(Equality(match.group(1).strip(), claimed, actual))
        after = _RIGHT_NUMBER.match(THOUSANDS.sub("", answer[match.end() : match.end() + 24]))
        if claimed is not None and after is not None:
            shown = safe_eval(after.group(1))
            if shown is not None and abs(shown - claimed) > max(0.01, 0.01 * abs(claimed)):
                mismatches += 1
    text = _normalise_math(_ANNOTATION.sub(" ", answer))
    for line in text.splitlines():
        parts = line.split("=")
        for left_part, right_part in zip(parts, parts[1:], strict=False):
            tail = _MATH_TAIL.search(left_part)
            left = tail.group(0).strip() if tail else ""
            # Drop an unbalanced leading ")" or operator left over from the cut.
            left = re.sub(r"[$€£]", "", left).lstrip("+*/^) ").strip()
            if not left or not _OPERATOR.search(left) or left.count("(") != left.count(")"):
                continue
            actual = safe_eval(left)
            if _MATH_ONLY.match(right_part) and (
                right_part is not parts[-1] or _OPERATOR.search(right_part)
            ):
                # A middle link of a chain (``2 * (4 + 8) = 2 * 12 = 24``), or a last side that
                # is itself arithmetic (``10 / 4 = 5 / 2``): its whole value.
                claimed = safe_eval(right_part.strip())
            else:
                right = _RIGHT_NUMBER.match(right_part)
                claimed = None if right is None else safe_eval(right.group(1) + right.group(2))
            if actual is None or claimed is None:
                continue
            equalities.append(Equality(left, claimed, actual))
    return ArithmeticReport(tuple(equalities), mismatches)

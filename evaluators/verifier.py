"""A learned verifier: P(answer is good | query, answer), FrugalGPT-style, in a few milliseconds.

Why hand-made features and small trees rather than a second language model: the verifier runs
on every weak answer of a cascade, so it must cost next to nothing, and the cheapest strong
signal in chain-of-thought answers is the answer's **own arithmetic**. A model that writes
``12 + 30 = 32`` on the way has usually gone wrong; one that states a non-integer, hedges
("approximately", "assuming"), never states a final number, or whose stated result differs from
the last number it computed is likely wrong too. :func:`check_arithmetic` re-evaluates every
equality it can parse (``3 * 4 = 12``, ``$<<9*2=18>>18``, chains ``2 + 1/2 = 5/2 = 2.5``) and
:func:`answer_features` turns that and a few other cues into a fixed feature vector.

The scorer is a gradient-boosted tree ensemble fitted with scikit-learn and exported to plain
arrays (``model.npz`` + ``verifier.json``), so loading never unpickles anything and prediction
is a few numpy lookups. ``LearnedVerifier.default()`` loads the artifact shipped in
``routegraph/artifacts/verifier/default`` (reproduce with ``scripts/train_default_verifier.py``).
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from routegraph.core.errors import ArtifactError, InvalidInputError

ARTIFACT_META = "verifier.json"
ARTIFACT_ARRAYS = "model.npz"
FORMAT_VERSION = 1

# --------------------------------------------------------------------------------------------
# Arithmetic checking
# --------------------------------------------------------------------------------------------

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TIMES_WORD = re.compile(r"(?<=[\d)])\s*[x×·]\s*(?=[\d($])", re.IGNORECASE)
# Characters that can belong to an arithmetic expression once units and currency are stripped.
_MATH_TAIL = re.compile(r"[\d\s.+\-*/()%$€£^]*$")
_MATH_ONLY = re.compile(r"^[\d\s.+\-*/()%$€£^]*\d[\d\s.+\-*/()%$€£^]*$")
_RIGHT_NUMBER = re.compile(r"^\s*[$€£]?\s*(-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?)\s*(%?)")
_OPERATOR = re.compile(r"\d\s*[+\-*/^]\s*[\d(]|\)\s*[+\-*/^]|%")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

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
    text = _THOUSANDS.sub("", text).replace("^", "**")
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
    text = _THOUSANDS.sub("", text)
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
        after = _RIGHT_NUMBER.match(_THOUSANDS.sub("", answer[match.end() : match.end() + 24]))
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
            if _MATH_ONLY.match(right_part) and right_part is not parts[-1]:
                # A middle link of a chain (``2 * (4 + 8) = 2 * 12 = 24``): its whole value.
                claimed = safe_eval(right_part.strip())
            else:
                right = _RIGHT_NUMBER.match(right_part)
                claimed = None if right is None else safe_eval(right.group(1) + right.group(2))
            if actual is None or claimed is None:
                continue
            equalities.append(Equality(left, claimed, actual))
    return ArithmeticReport(tuple(equalities), mismatches)


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------

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
    numbers = _NUMBER.findall(_THOUSANDS.sub("", answer))
    return (_to_float(numbers[-1]), False) if numbers else (None, False)


def answer_features(query: str, answer: str) -> np.ndarray:
    """The fixed-length feature vector (order: :data:`FEATURE_NAMES`) of one (query, answer)."""
    query = query or ""
    answer = answer or ""
    report = check_arithmetic(answer)
    final, stated = final_answer(answer)
    query_numbers = {float(n) for n in _NUMBER.findall(_THOUSANDS.sub("", query))}
    answer_numbers = [float(n) for n in _NUMBER.findall(_THOUSANDS.sub("", answer))]
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
        for number in _NUMBER.findall(equality.expression):
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


# --------------------------------------------------------------------------------------------
# The model: boosted trees exported to arrays
# --------------------------------------------------------------------------------------------


@dataclass
class _TreeEnsemble:
    """Additive regression trees as flat arrays (sklearn's layout), evaluated with numpy.

    ``feature``/``threshold``/``left``/``right``/``value`` are concatenated over trees with node
    ids offset per tree; ``roots`` holds each tree's first node. Leaves have ``left == -1``.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    learning_rate: float
    init_logit: float

    def decision(self, x: np.ndarray) -> np.ndarray:
        out = np.full(len(x), self.init_logit)
        rows = np.arange(len(x))
        for root in self.roots:
            node = np.full(len(x), root)
            while True:
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                f = self.feature[node[inner]]
                go_left = x[rows[inner], f] <= self.threshold[node[inner]]
                node[inner] = np.where(go_left, self.left[node[inner]], self.right[node[inner]])
            out += self.learning_rate * self.value[node]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "feature": self.feature.astype(np.int32),
            "threshold": self.threshold.astype(np.float64),
            "left": self.left.astype(np.int32),
            "right": self.right.astype(np.int32),
            "value": self.value.astype(np.float64),
            "roots": self.roots.astype(np.int32),
        }


def _export_gradient_boosting(model: Any) -> _TreeEnsemble:
    """Flatten a fitted binary ``GradientBoostingClassifier`` into :class:`_TreeEnsemble`."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right")}
    values, roots, offset = [], [], 0
    for estimator in model.estimators_[:, 0]:
        tree = estimator.tree_
        left = np.where(tree.children_left >= 0, tree.children_left + offset, -1)
        right = np.where(tree.children_right >= 0, tree.children_right + offset, -1)
        parts["feature"].append(np.maximum(tree.feature, 0))
        parts["threshold"].append(tree.threshold)
        parts["left"].append(left)
        parts["right"].append(right)
        values.append(tree.value[:, 0, 0])
        roots.append(offset)
        offset += tree.node_count
    prior = float(model.init_.class_prior_[1])
    return _TreeEnsemble(
        feature=np.concatenate(parts["feature"]),
        threshold=np.concatenate(parts["threshold"]),
        left=np.concatenate(parts["left"]),
        right=np.concatenate(parts["right"]),
        value=np.concatenate(values),
        roots=np.asarray(roots),
        learning_rate=float(model.learning_rate),
        init_logit=math.log(prior / (1.0 - prior)),
    )


class LearnedVerifier:
    """P(answer is good | query, answer) from arithmetic checks and answer-shape features.

    Hyper-parameters go to the constructor (scikit-learn style); :meth:`fit` learns from
    recorded answers and their 0/1 correctness and sets ``ensemble_`` and ``meta_``.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        subsample: float = 0.8,
        seed: int = 0,
    ):
        for name, value in (("n_estimators", n_estimators), ("max_depth", max_depth)):
            if int(value) < 1:
                raise InvalidInputError(name, f"must be >= 1, got {value}", "a positive integer")
        if not 0.0 < learning_rate <= 1.0:
            raise InvalidInputError("learning_rate", f"got {learning_rate}", "a float in (0, 1]")
        if not 0.0 < subsample <= 1.0:
            raise InvalidInputError("subsample", f"got {subsample}", "a float in (0, 1]")
        self.n_estimators = int(n_estimators)
        self.learning_rate = float(learning_rate)
        self.max_depth = int(max_depth)
        self.subsample = float(subsample)
        self.seed = int(seed)
        self.ensemble_: _TreeEnsemble | None = None
        self.meta_: dict[str, Any] = {}

    def fit(
        self,
        queries: Sequence[str],
        answers: Sequence[str],
        labels: Sequence[float] | np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> LearnedVerifier:
        """Learn from answers and whether each was good (``labels`` 0/1 or booleans)."""
        from sklearn.ensemble import GradientBoostingClassifier

        y = np.asarray(labels, dtype=float)
        if y.shape != (len(queries),):
            raise InvalidInputError("labels", f"shape {y.shape}, need ({len(queries)},)", None)
        if not np.isin(y, (0.0, 1.0)).all():
            raise InvalidInputError("labels", "contains values other than 0/1", "0, 1, bools")
        if len(set(y.tolist())) < 2:
            raise InvalidInputError("labels", "has a single class", "both good and bad answers")
        x = feature_matrix(queries, answers)
        model = GradientBoostingClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            random_state=self.seed,
        )
        model.fit(x, y.astype(int), sample_weight=sample_weight)
        self.ensemble_ = _export_gradient_boosting(model)
        self.meta_ = {
            "n_train": len(y),
            "positive_rate": float(y.mean()),
            "features": list(FEATURE_NAMES),
        }
        return self

    def predict_proba(self, queries: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """P(good) per (query, answer), shape ``(len(queries),)``."""
        if self.ensemble_ is None:
            raise ArtifactError("LearnedVerifier is not fitted: call fit() or load() first")
        x = feature_matrix(queries, answers)
        if not len(x):
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-self.ensemble_.decision(x)))

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``verifier.json`` (params, meta, feature names) and ``model.npz`` (trees)."""
        if self.ensemble_ is None:
            raise ArtifactError("LearnedVerifier is not fitted: nothing to save")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / ARTIFACT_ARRAYS, **self.ensemble_.arrays())  # type: ignore[arg-type]
        record = {
            "kind": "learned_verifier",
            "format_version": FORMAT_VERSION,
            "params": {
                "n_estimators": self.n_estimators,
                "learning_rate": self.learning_rate,
                "max_depth": self.max_depth,
                "subsample": self.subsample,
                "seed": self.seed,
            },
            "features": list(FEATURE_NAMES),
            "init_logit": self.ensemble_.init_logit,
            "meta": self.meta_,
        }
        (out / ARTIFACT_META).write_text(json.dumps(record, indent=2))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> LearnedVerifier:
        """Read an artifact written by :meth:`save`; clear errors when it is broken or stale."""
        path = Path(directory)
        meta_path = path / ARTIFACT_META
        if not meta_path.is_file():
            raise ArtifactError(f"{path}: not a verifier artifact (no {ARTIFACT_META})")
        try:
            record = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{meta_path}: corrupted verifier metadata ({exc})") from None
        if record.get("kind") != "learned_verifier":
            raise ArtifactError(f"{meta_path}: kind {record.get('kind')!r}, not learned_verifier")
        if record.get("features") != list(FEATURE_NAMES):
            raise ArtifactError(
                f"{meta_path}: trained on other features than this code computes; retrain it "
                "with scripts/train_default_verifier.py"
            )
        try:
            with np.load(path / ARTIFACT_ARRAYS, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zipfile / ValueError / OSError all mean "broken file"
            raise ArtifactError(
                f"{path / ARTIFACT_ARRAYS}: corrupted verifier arrays ({exc})"
            ) from None
        needed = {"feature", "threshold", "left", "right", "value", "roots"}
        if not needed <= set(arrays):
            raise ArtifactError(f"{path / ARTIFACT_ARRAYS}: missing {sorted(needed - set(arrays))}")
        verifier = cls(**record["params"])
        verifier.ensemble_ = _TreeEnsemble(
            **{k: arrays[k] for k in needed},
            learning_rate=float(record["params"]["learning_rate"]),
            init_logit=float(record["init_logit"]),
        )
        verifier.meta_ = dict(record.get("meta", {}))
        return verifier

    @classmethod
    def default(cls) -> LearnedVerifier:
        """The verifier shipped with routegraph (trained on recorded GSM8K/MMLU-Pro/MT-Bench)."""
        return cls.load(default_artifact_dir())


def default_artifact_dir() -> Path:
    """Where the shipped default verifier lies."""
    from routegraph.core.paths import artifacts_dir

    return artifacts_dir() / "verifier" / "default"


# --------------------------------------------------------------------------------------------
# Measuring a verifier as a cascade gate
# --------------------------------------------------------------------------------------------


def cascade_tradeoff(
    confidence: np.ndarray, weak_quality: np.ndarray, strong_quality: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Strong-call share and PGR of the cascade "escalate the least confident first".

    For k = 0..n, the k answers with the lowest verifier ``confidence`` go to the strong model;
    PGR (performance gap recovered) = (quality - weak-only) / (strong-only - weak-only). Returns
    ``(share, pgr)`` arrays of length n + 1, share ascending. Ties in ``confidence`` are broken
    by row order, so sweep thresholds and this curve agree up to ties.
    """
    conf = np.asarray(confidence, dtype=float)
    weak = np.asarray(weak_quality, dtype=float)
    strong = np.asarray(strong_quality, dtype=float)
    if not (conf.shape == weak.shape == strong.shape) or conf.ndim != 1:
        raise InvalidInputError(
            "confidence", "confidence, weak and strong quality must be 1-d of one length", None
        )
    n = len(conf)
    order = np.argsort(conf, kind="stable")
    gains = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    gap = strong.sum() - weak.sum()
    pgr = gains / gap if gap > 0 else np.full(n + 1, np.nan)
    return np.arange(n + 1) / max(n, 1), pgr


def share_for_pgr(
    confidence: np.ndarray,
    weak_quality: np.ndarray,
    strong_quality: np.ndarray,
    target: float = 0.8,
) -> float:
    """Smallest share of strong calls at which the cascade recovers ``target`` of the gap."""
    share, pgr = cascade_tradeoff(confidence, weak_quality, strong_quality)
    reached = np.flatnonzero(pgr >= target - 1e-12)
    return float(share[reached[0]]) if len(reached) else float("nan")

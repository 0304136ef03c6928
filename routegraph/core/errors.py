"""Errors that users see. Each names the offending field and what is allowed, so the CLI can
print one clear line instead of a stack trace."""

from __future__ import annotations

import numbers
from collections.abc import Iterable


class RouteGraphError(Exception):
    """Base class of every error routegraph raises on purpose."""


class InvalidInputError(RouteGraphError, ValueError):
    """A user-supplied value is out of range or unknown.

    The message always has the form ``<field>: <problem>; allowed: <values>`` so a person can fix
    the input without reading code.
    """

    def __init__(self, field: str, problem: str, allowed: str | Iterable[str] | None = None):
        self.field = field
        self.problem = problem
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(sorted(str(a) for a in allowed))
        self.allowed = allowed
        message = f"{field}: {problem}"
        if allowed:
            message += f"; allowed: {allowed}"
        super().__init__(message)


class ModelUnavailableError(RouteGraphError):
    """A model in the catalog cannot be reached now (no key, no server, no recording)."""

    def __init__(self, model: str, reason: str):
        self.model = model
        self.reason = reason
        super().__init__(f"model {model!r} is unavailable: {reason}")


class NoAnswerError(RouteGraphError):
    """No model could answer a routed call (every candidate failed, was skipped or over budget).

    ``reasons`` lists why, per model; ``trace`` is the run's routing record (the final message's
    ``response_metadata["routegraph"]``: path, notes, cost)."""

    def __init__(self, reasons: list[str], trace: dict[str, object]):
        self.reasons = list(reasons)
        self.trace = dict(trace)
        super().__init__("no model could answer: " + ("; ".join(self.reasons) or "none tried"))


class ArtifactError(RouteGraphError):
    """A router or verifier artifact is missing, corrupted or does not match its use."""


class DataFormatError(RouteGraphError, ValueError):
    """A data file cannot be read as the format it claims to be."""


class DataNotFoundError(DataFormatError):
    """Recorded benchmark data is needed and not where ``ROUTEGRAPH_DATA_DIR`` points."""


def _number(field: str, value: object, allowed: str) -> float:
    """``value`` as a float if it is a real number (not a bool, not a numeric string: a
    setting sent as ``"0.5"`` is refused by name, not compared as text later); NaN refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(field, f"{value!r} is not a number", allowed)
    number = float(value)
    if number != number:  # NaN passes every comparison, so it must be refused by name
        raise InvalidInputError(field, f"{value!r} is not a number", allowed)
    return number


def check_unit_interval(field: str, value: float) -> float:
    """Return ``value`` if it is a probability-like number in [0, 1], else raise."""
    number = _number(field, value, "a number in [0, 1]")
    if not 0.0 <= number <= 1.0:
        raise InvalidInputError(field, f"{number} is outside [0, 1]", "a number in [0, 1]")
    return number


def check_non_negative(field: str, value: float) -> float:
    """Return ``value`` if it is a number >= 0, else raise."""
    number = _number(field, value, "a number >= 0")
    if number < 0:
        raise InvalidInputError(field, f"{number} is negative", "a number >= 0")
    return number


MAX_QUERY_CHARS = 200_000
"""Longest user message a graph takes (about 50,000 tokens): beyond every context window of
the catalog's models, and a 1 MB prompt is a mistake to report, not a request to route."""


def check_text(field: str, value: object, max_chars: int = MAX_QUERY_CHARS) -> str:
    """``value`` if it is non-blank UTF-8 text of at most ``max_chars`` characters, else raise.

    Text decoded from invalid UTF-8 (command-line arguments, ``surrogateescape``) carries lone
    surrogates that no model or JSON encoder accepts; it is refused here, by name.
    """
    if not isinstance(value, str):
        raise InvalidInputError(field, f"is {type(value).__name__}, not text", "a string")
    if not value.strip():
        raise InvalidInputError(field, "is empty or blank", "a non-empty question")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(field, "is not valid UTF-8 text", "UTF-8 text") from None
    if len(value) > max_chars:
        raise InvalidInputError(
            field, f"is {len(value):,} characters long", f"at most {max_chars:,} characters"
        )
    return value


def check_min_int(field: str, value: int, low: int) -> int:
    """Return ``value`` as an int if it is a whole number >= ``low``, else raise."""
    allowed = f"an integer >= {low}"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(field, f"{value!r} is not an integer", allowed) from None
    if number != value:
        raise InvalidInputError(field, f"{value!r} is not a whole number", allowed)
    if number < low:
        raise InvalidInputError(field, f"{value} is below {low}", allowed)
    return number

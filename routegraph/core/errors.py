"""Errors that users see. Each names the offending field and what is allowed, so the CLI can
print one clear line instead of a stack trace."""

from __future__ import annotations

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


class ArtifactError(RouteGraphError):
    """A router or verifier artifact is missing, corrupted or does not match its use."""


class DataFormatError(RouteGraphError, ValueError):
    """A data file cannot be read as the format it claims to be."""


class DataNotFoundError(DataFormatError):
    """Recorded benchmark data is needed and not where ``ROUTEGRAPH_DATA_DIR`` points."""


def check_unit_interval(field: str, value: float) -> float:
    """Return ``value`` if it is a probability-like number in [0, 1], else raise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(field, f"{value!r} is not a number", "a number in [0, 1]") from None
    if not 0.0 <= number <= 1.0:
        raise InvalidInputError(field, f"{number} is outside [0, 1]", "a number in [0, 1]")
    return number


def check_non_negative(field: str, value: float) -> float:
    """Return ``value`` if it is a number >= 0, else raise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(field, f"{value!r} is not a number", "a number >= 0") from None
    if number < 0:
        raise InvalidInputError(field, f"{number} is negative", "a number >= 0")
    return number


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

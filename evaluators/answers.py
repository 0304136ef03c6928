"""Extract comparable final answers from free text (numbers, option letters)."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_HASH_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)")
_BOXED = re.compile(r"\\boxed\{([^}]*)\}")
_LETTER_PATTERNS = (
    re.compile(r"answer is\s*\(?([A-J])\)?", re.IGNORECASE),
    re.compile(r"answer:\s*\(?([A-J])\)?", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-J])\)?[.):]?\s*$"),
    re.compile(r"^\s*\(?([A-J])\)[\s.]"),
)


def normalise_number(text: str) -> str | None:
    """'1,000.50' -> '1000.5'; None when ``text`` is not a number."""
    cleaned = text.replace(",", "").strip().rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return str(int(value)) if value == int(value) else repr(value)


def final_number(text: str) -> str | None:
    """The final numeric answer of a worked solution (GSM8K style), normalised."""
    for pattern in (_HASH_ANSWER, _BOXED):
        match = pattern.findall(text)
        if match:
            number = normalise_number(match[-1])
            if number is not None:
                return number
    tail = text.lower().rsplit("answer", 1)[-1] if "answer" in text.lower() else text
    numbers = _NUMBER.findall(tail) or _NUMBER.findall(text)
    return normalise_number(numbers[-1]) if numbers else None


def choice_letter(text: str) -> str | None:
    """The chosen option letter (A-J) of a multiple-choice answer."""
    for pattern in _LETTER_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    return None


def canonical_answer(text: str) -> str:
    """A key under which equivalent answers compare equal (letter, number, or short text)."""
    letter = choice_letter(text)
    if letter:
        return f"letter:{letter}"
    number = final_number(text)
    if number is not None:
        return f"number:{number}"
    return "text:" + " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())[:200]

"""Parsing shared by sub-commands."""

from __future__ import annotations

import json
from typing import Any

from routegraph.core.errors import InvalidInputError


def parse_key_values(items: list[str], field: str) -> dict[str, Any]:
    """``["k=25", "weighted=false"]`` -> ``{"k": 25, "weighted": False}``.

    Values are JSON when they parse as JSON, else kept as text; ``field`` names the option in
    the error for an item without ``=``.
    """
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(field, f"{item!r} is not KEY=VALUE", "KEY=VALUE")
        try:
            parsed[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key.strip()] = raw
    return parsed

"""Errors in OpenAI's JSON shape, so OpenAI clients raise their usual exception types.

``{"error": {"message", "type", "param", "code"}}`` with the status OpenAI uses: 400 for a bad
request (``param`` names the body field), 401 without a valid key, 403 for what a key may not
use, 404 for an unknown model, 409 for a thread busy with another turn, 429 over a key's budget
or rate, 500 when a run fails, 502 when no model could answer (with each model's reason).
"""

from __future__ import annotations

from typing import Any

ERROR_TYPES = {
    403: "permission_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}
"""OpenAI's ``error.type`` by status; every other 4xx is an ``invalid_request_error``."""


class ApiError(Exception):
    """An error answered as OpenAI's error JSON with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.extra = dict(extra or {})
        """Fields beside ``error`` in the body (the routing trace of a run no model answered)."""
        self.headers = dict(headers or {})
        """Response headers (``Retry-After`` on a 429)."""

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": ERROR_TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            },
            **self.extra,
        }

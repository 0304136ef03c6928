"""Errors in OpenAI's JSON shape, so OpenAI clients raise their usual exception types.

``{"error": {"message", "type", "param", "code"}}`` with the status OpenAI uses: 400 for a bad
request (``param`` names the body field), 404 for an unknown model, 500 when a run fails.
"""

from __future__ import annotations

from typing import Any

ERROR_TYPES = {404: "invalid_request_error", 500: "server_error", 503: "server_error"}
"""OpenAI's ``error.type`` by status; every other 4xx is an ``invalid_request_error``."""


class ApiError(Exception):
    """An error answered as OpenAI's error JSON with ``status``."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": ERROR_TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            }
        }

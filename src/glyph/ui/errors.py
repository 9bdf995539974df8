"""The playground's one error shape: ``{"error": {"message", "type", "field"}}`` with a 4xx/5xx status.

The page shows ``message`` where the problem is (``field`` names the control or config key when
there is one) and keeps working; no traceback or internal path is ever sent.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class UIError(Exception):
    """A request the playground refuses or could not serve, with a message a person can act on."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request", field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.field = field


def error_payload(message: str, type: str = "invalid_request", field: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "field": field}}


def error_response(status: int, message: str, type: str = "invalid_request", field: str | None = None) -> JSONResponse:
    return JSONResponse(error_payload(message, type, field), status_code=status)

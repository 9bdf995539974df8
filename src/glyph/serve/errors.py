"""OpenAI-style errors: every failure leaves the gateway as ``{"error": {...}}`` with a fitting status."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class GatewayError(Exception):
    """A request the gateway refuses or cannot serve; becomes an error response as is."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.headers = headers or {}

    def __reduce__(self) -> Any:  # render worker processes send these back pickled
        return _rebuild, (self.status, self.message, self.type, self.code, self.headers)


def _rebuild(status: int, message: str, type: str, code: str | None, headers: dict[str, str]) -> GatewayError:
    return GatewayError(status, message, type=type, code=code, headers=headers)


def error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


def error_response(
    status: int, message: str, type: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(message, type, code), status_code=status, headers=headers)

"""What can go wrong talking to an OpenAI-compatible server, in types a gateway can answer with.

Every error carries the server's own message (OpenAI's ``{"error": {...}}``, FastAPI's
``{"detail": ...}`` or the body text) and ``status``: the HTTP status a gateway in front of
that server should return (a client's 4xx passes through; the server's failures are 502/504).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only annotations: importing the errors must not load the HTTP stack
    import httpx


class UpstreamError(RuntimeError):
    """An OpenAI-compatible server failed; ``status`` is what a gateway should answer with."""

    status: int = 502
    type: str = "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.upstream_status = upstream_status
        self.code = code


class UpstreamTimeoutError(UpstreamError):
    """No (complete) answer within the configured timeout."""

    status = 504
    type = "timeout_error"


class UpstreamConnectionError(UpstreamError):
    """The server cannot be reached (refused, DNS, TLS, dropped); retried before this is raised."""

    status = 502


class UpstreamHTTPError(UpstreamError):
    """The server answered with an error status; 4xx are the caller's fault and never retried."""

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int,
        code: str | None = None,
        type_: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, upstream_status=upstream_status, code=code)
        self.detail = detail if detail is not None else message  # the server's own words, without our URL
        # A client error the caller can fix passes through with its status; the server's own
        # failures (5xx, and 401/403: the gateway's key is wrong, not the client's) become 502.
        self.status = (
            upstream_status if 400 <= upstream_status < 500 and upstream_status not in (401, 403) else 502
        )
        self.type = "upstream_error" if self.status >= 500 else type_ or "invalid_request_error"
        self.retry_after: float | None = None  # the server's Retry-After, seconds

    @property
    def retryable(self) -> bool:
        return self.upstream_status == 429 or self.upstream_status >= 500


def error_message(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, code, type) from an error response: OpenAI's ``{"error": {...}}``, FastAPI's
    ``{"detail": ...}``, or the body text itself."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()[:500]
        return text or response.reason_phrase or f"HTTP {response.status_code}", None, None
    return body_message(body)


def body_message(body: object) -> tuple[str, str | None, str | None]:
    """(message, code, type) of a decoded error body (also an error event inside a stream)."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            return str(err.get("message") or err), None if code is None else str(code), err.get("type")
        if isinstance(err, str):
            return err, None, None
        if "detail" in body:
            return str(body["detail"]), None, None
        if "message" in body:
            code = body.get("code")
            return str(body["message"]), None if code is None else str(code), body.get("type")
    return json.dumps(body)[:500], None, None


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds; None when absent or an HTTP date (then we back off)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def raise_for_status(response: httpx.Response) -> None:
    """Raise :class:`UpstreamHTTPError` with the server's own message for a status >= 400."""
    if response.status_code >= 400:
        message, code, type_ = error_message(response)
        exc = UpstreamHTTPError(
            f"{response.request.method} {response.request.url} -> HTTP {response.status_code}: {message}",
            upstream_status=response.status_code,
            code=code,
            type_=type_,
            detail=message,
        )
        exc.retry_after = retry_after(response)
        raise exc

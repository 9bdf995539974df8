"""Client authentication for every route of the gateway, docs included, but one liveness probe.

A pure ASGI middleware, so it runs before routing: a wrong key never reaches a handler, the
OpenAPI schema, the docs or the 404 page (which would tell a scanner what exists). The scheme
is matched case-insensitively (RFC 7235: ``bearer`` is ``Bearer``) and the key in constant time
(``hmac.compare_digest``), so response timing does not reveal how much of a guess was right.
``GET /health`` answers ``{"status": "ok"}`` to anyone and says nothing else.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from glyph.serve.errors import error_body

__all__ = ["LIVENESS_PATH", "BearerAuth", "key_matches"]

LIVENESS_PATH = "/health"


def key_matches(header: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header value carries ``key`` as a bearer token."""
    scheme, _, token = (header or "").strip().partition(" ")
    # compare bytes: compare_digest refuses non-ASCII str, and a client may send any header bytes
    ok = hmac.compare_digest(token.strip().encode("utf-8", "surrogateescape"), key.encode("utf-8"))
    return ok and scheme.lower() == "bearer"


class BearerAuth:
    """Refuse every HTTP request without ``Authorization: Bearer <key>`` (401, OpenAI's error body)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (scope.get("path") == LIVENESS_PATH and scope.get("method") in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if key_matches(header, self.key):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            error_body(
                "missing or wrong API key (Authorization: Bearer ...)", "authentication_error", "invalid_api_key"
            )
        ).encode()
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b"Bearer")],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})

"""Who may use the playground: the browser that opened the URL ``glyph ui`` printed.

Like Jupyter: a random token is made at start (or given with ``--token``); opening
``/?token=...`` sets it as an ``HttpOnly``, ``SameSite=Strict`` cookie and every later request
(pages, images, the event stream) carries it. Other local users and other web sites open in the
same browser therefore cannot use the playground (a cross-site request carries no strict cookie).
On loopback the ``Host`` header must name this machine, which defeats DNS rebinding; a request
that changes state must not come from another origin.
"""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from glyph.ui.errors import error_response

COOKIE = "glyph_ui_token"
_SAFE = ("GET", "HEAD", "OPTIONS")


class TokenAuth:
    """ASGI middleware: the token (cookie, bearer header, or ``?token=`` on ``/``) on every route."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _valid(self, given: str | None) -> bool:
        return self.token is None or (given is not None and secrets.compare_digest(given, self.token))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        origin = headers.get("origin")
        if method not in _SAFE and origin and urlsplit(origin).netloc != headers.get("host"):
            await error_response(403, f"requests from {origin} are not accepted", "forbidden")(scope, receive, send)
            return
        if self.token is None:
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["path"] == "/" and "token" in query:
            if self._valid(query["token"][0]):
                response: Response = RedirectResponse("/", status_code=303)
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            else:
                response = _login_page("that token is not this playground's")
            await response(scope, receive, send)
            return
        cookie = SimpleCookie(headers.get("cookie", ""))
        given = cookie[COOKIE].value if COOKIE in cookie else None
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            given = bearer[7:]
        if self._valid(given):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            response = error_response(401, "missing or wrong playground token: open the URL glyph ui printed", "unauthorized")
        else:
            response = _login_page("open the URL that glyph ui printed (it ends in ?token=...)")
        await response(scope, receive, send)


def _login_page(why: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>glyph playground</title>"
        f"<body style='font-family:sans-serif;margin:3em'><h1>glyph playground</h1><p>{why}.</p></body>",
        status_code=401,
    )

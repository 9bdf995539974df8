"""Loopback HTTP servers for tests (no torch needed): any ASGI app under uvicorn on a free port,
and a scripted OpenAI-compatible upstream that records what it receives.

Imported as a top-level module (tests/serve is on sys.path); ``serve_helpers`` re-exports it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def completion(
    content: str, prompt_tokens: int = 11, completion_tokens: int = 3, model: str = "fake"
) -> dict[str, Any]:
    """A minimal ``chat.completion`` body, as an upstream would send it."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeUpstream:
    """A scripted OpenAI-compatible server on loopback that records what it receives.

    ``respond(body, n)`` (sync or async; ``n`` counts chat calls from 1) returns a Starlette
    response. ``/v1/models`` lists ``model``. ``max_in_flight`` is the peak of concurrent chat calls.
    """

    def __init__(self, respond: Any, model: str = "fake-vlm") -> None:
        import asyncio
        import inspect

        from fastapi import FastAPI

        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = FastAPI()

        @self.app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": model, "object": "model"}]}

        @self.app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                result = respond(body, len(self.requests))
                if inspect.isawaitable(result):
                    result = await result
                await asyncio.sleep(0)
                return result
            finally:
                self.in_flight -= 1

    @property
    def calls(self) -> int:
        return len(self.requests)

    @contextmanager
    def running(self) -> Iterator[str]:
        with serve_app(self.app) as url:
            yield url


@contextmanager
def upstream_gateway(upstream_url: str, **settings: Any) -> Iterator[str]:
    """``glyph serve --upstream upstream_url`` on loopback, with fast retries unless told otherwise."""
    from glyph.serve import ServeSettings, create_app

    settings.setdefault("backoff_initial", 0.01)
    with serve_app(create_app(ServeSettings(upstream=upstream_url, **settings))) as url:
        yield url


class KeepAlive:
    """One HTTP/1.1 connection (h11 over a plain socket): says whether the server kept it open.

    ``request()`` sends one request and reads its response; ``alive()`` is False once the
    server has closed the connection or said ``Connection: close``.
    """

    def __init__(self, base_url: str) -> None:
        import h11

        host, port = base_url.removeprefix("http://").split(":")
        self.host = host
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.conn = h11.Connection(our_role=h11.CLIENT)
        self.h11 = h11

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        h11 = self.h11
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        head = [("Host", self.host), ("Content-Length", str(len(body))), ("Content-Type", "application/json")]
        head += list((headers or {}).items())
        self.sock.sendall(self.conn.send(h11.Request(method=method, target=path, headers=head)))
        self.sock.sendall(self.conn.send(h11.Data(data=body)) + self.conn.send(h11.EndOfMessage()))
        status, got, chunks = 0, {}, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.sock.recv(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                got = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, got, b"".join(chunks)

    def alive(self) -> bool:
        """The server neither closed the connection nor announced it would."""
        if self.conn.their_state is not self.h11.DONE or self.conn.our_state is not self.h11.DONE:
            return False
        self.sock.setblocking(False)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) != b""  # b"": the server closed it
        except BlockingIOError:
            return True  # nothing to read and not closed
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


def decode_data_url(url: str) -> Any:
    """The image inside a ``data:image/png;base64,`` URL (test-side decoding)."""
    import base64
    import io

    from PIL import Image

    assert url.startswith("data:image/png;base64,"), url[:40]
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def sse_response(chunks: list[dict[str, Any] | str], delay: float = 0.0, done: bool = True) -> Any:
    """A ``text/event-stream`` response sending each chunk as a ``data:`` event, ``delay`` s apart
    (a ``str`` chunk is sent as the raw data), then ``[DONE]``."""
    import asyncio
    import json

    from fastapi.responses import StreamingResponse

    async def events() -> Any:
        for chunk in chunks:
            await asyncio.sleep(delay)
            yield "data: " + (chunk if isinstance(chunk, str) else json.dumps(chunk)) + "\n\n"
        if done:
            yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")

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

"""The runner with the project's real HTTP readers against a scripted OpenAI-compatible server.

The text baseline gets the plain text and the page reader gets images, from the same samples;
the server answers with every 7-digit number it was sent, so only the text path can find the
needle. The runner's semaphore bounds the requests in flight.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from glyph.eval.ruler import generate_ruler
from glyph.eval.runner import reader_mode, run_eval
from glyph.eval.summary import write_report
from glyph.readers.base import get_reader

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


class Upstream:
    """/v1/models and /v1/chat/completions; records the peak number of concurrent chats."""

    def __init__(self) -> None:
        self.app = fastapi.FastAPI()
        self.in_flight = self.peak = self.calls = 0
        self.images = 0

        @self.app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "fake", "object": "model"}]}

        @self.app.post("/v1/chat/completions")
        async def chat(request: fastapi.Request) -> dict[str, Any]:
            body = await request.json()
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await asyncio.sleep(0.05)
                texts: list[str] = []
                for message in body["messages"]:
                    content = message["content"]
                    parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
                    texts += [p["text"] for p in parts if p.get("type") == "text"]
                    self.images += sum(1 for p in parts if p.get("type") == "image_url")
                answer = ", ".join(re.findall(r"\b\d{7}\b", "\n".join(texts))) or "I cannot tell."
                usage = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
                return {
                    "id": "x",
                    "object": "chat.completion",
                    "model": "fake",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            finally:
                self.in_flight -= 1


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    up = Upstream()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(up.app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield up, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_text_baseline_and_page_reader_side_by_side(upstream, cfg, tok, tmp_path) -> None:
    up, url = upstream
    samples = list(
        generate_ruler(["niah_single_1", "niah_multikey_2"], [4096], samples=3, seed=2, tokenizer=tok)
    )

    text_reader = get_reader("text", base_url=url)
    assert reader_mode(text_reader) == "text"
    up.peak = up.calls = 0
    run_eval(samples, text_reader, cfg, tmp_path / "text", concurrency=2)
    assert up.calls == 6 and up.peak == 2  # bounded by the runner's semaphore, and used

    page_reader = get_reader("openai", base_url=url)
    assert reader_mode(page_reader) == "pages"
    up.images = 0
    run_eval(samples, page_reader, cfg, tmp_path / "pages", concurrency=3)
    assert up.images >= 6  # pages travelled as images

    summaries, report = write_report([tmp_path / "text", tmp_path / "pages"], tmp_path / "both")
    by_run = {s.mode: s for s in summaries}
    # niah_single_1's prompt holds one 7-digit number (the needle): the echo finds it in text
    assert by_run["text"].by_task["niah_single_1"] == 1.0
    assert by_run["pages"].accuracy == 0.0  # the fake server cannot read images
    assert by_run["pages"].ratio_mean > 1.0 and by_run["text"].ratio_mean is None
    assert "text baseline" in report.read_text()

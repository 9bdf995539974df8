"""Asking both models over loopback: a scripted streaming server, a dead one, the event stream the page reads."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
from serve_helpers import FakeUpstream
from ui_helpers import TEXT, TOKEN, ask_events, render_text, running_ui

from glyph.render.config import reference_default


def _streaming(body: dict[str, Any], n: int) -> Any:
    """Answer in two chunks; usage in its own chunk as vLLM sends it with include_usage."""
    from fastapi.responses import StreamingResponse

    is_pages = isinstance(body["messages"][-1]["content"], list)
    words = ["pages", "say 4417"] if is_pages else ["text", "says 4417"]
    usage = {"prompt_tokens": 777 if is_pages else 333, "completion_tokens": 2, "total_tokens": 0}

    def lines():
        yield 'data: {"choices": [{"delta": {"role": "assistant", "content": ""}}]}\n\n'
        for w in words:
            yield "data: " + json.dumps({"choices": [{"delta": {"content": w + " "}}]}) + "\n\n"
        yield "data: " + json.dumps({"choices": [], "usage": usage}) + "\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_both_answers_stream_with_server_prompt_tokens_and_latency() -> None:
    upstream = FakeUpstream(_streaming, model="fake-model")
    with upstream.running() as up:
        side = {"url": up + "/v1"}
        with running_ui(page=side, text=side, max_tokens=16) as base:
            events = ask_events(base, render_text(base), "What is the vault code?")
    by = {(name, d.get("side")): d for name, d in events}
    text = {k: "".join(d["text"] for n, d in events if n == "delta" and d["side"] == k) for k in ("pages", "text")}
    assert text == {"pages": "pages say 4417 ", "text": "text says 4417 "}
    assert by[("done", "pages")]["prompt_tokens"] == 777 and by[("done", "text")]["prompt_tokens"] == 333
    assert by[("done", "pages")]["seconds"] >= by[("done", "pages")]["first_token_seconds"] > 0
    assert by[("start", "pages")]["model"] == "fake-model"  # resolved from /v1/models
    assert events[-1][0] == "end"
    pages_req = next(b for b in upstream.requests if isinstance(b["messages"][-1]["content"], list))
    text_req = next(b for b in upstream.requests if isinstance(b["messages"][-1]["content"], str))
    parts = pages_req["messages"][-1]["content"]
    assert parts[-1] == {"type": "text", "text": "What is the vault code?"}
    assert all(p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/png;base64,") for p in parts[:-1])
    assert text_req["messages"][-1]["content"] == TEXT + "\n\nWhat is the vault code?"
    assert pages_req["stream"] and pages_req["stream_options"] == {"include_usage": True}
    assert pages_req["max_tokens"] == 16


def test_a_dead_endpoint_is_an_error_on_its_side_only() -> None:
    upstream = FakeUpstream(_streaming)
    with upstream.running() as up:
        dead = f"http://127.0.0.1:{_dead_port()}/v1"
        with running_ui(page={"url": dead}, text={"url": up + "/v1"}, max_retries=0) as base:
            events = ask_events(base, render_text(base), "Code?")
    errors = [d for n, d in events if n == "error"]
    assert len(errors) == 1 and errors[0]["side"] == "pages"
    assert "cannot reach" in errors[0]["message"] and dead in errors[0]["message"]
    assert any(n == "done" and d["side"] == "text" for n, d in events)


def test_too_many_pages_are_refused_before_sending() -> None:
    upstream = FakeUpstream(_streaming)
    with upstream.running() as up, running_ui(page={"url": up + "/v1"}, max_pages_asked=1) as base:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            doc = c.post("/api/documents", json={"text": TEXT * 20}).json()
            r = c.post("/api/render", json={"document": doc["id"], "config": reference_default().to_reference_dict()}).json()
        assert len(r["pages"]) > 1
        events = ask_events(base, r["id"], "Code?")
    (error,) = [d for n, d in events if n == "error"]
    assert "at most 1 per request" in error["message"] and upstream.calls == 0

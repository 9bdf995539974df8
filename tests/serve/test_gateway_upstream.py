"""`glyph serve` in front of an upstream OpenAI-compatible server (small FastAPI apps on loopback).

Each failure mode of the upstream must come back to the client as an OpenAI error body with a
fitting status, in bounded time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from serve_helpers import FakeUpstream, completion, decode_data_url, json_response, serve_app

from glyph.render import render_pages
from glyph.render.config import reference_default
from glyph.serve import ServeSettings, create_app

QUESTION = "What is written on the page ?"
DOC = " ".join(f"Paul Graham essay number {i} says how to do great work." for i in range(450))


@contextmanager
def gateway(upstream_url: str, **settings: Any) -> Iterator[str]:
    app = create_app(ServeSettings(upstream=upstream_url, backoff_initial=0.01, **settings))
    with serve_app(app) as url:
        yield url


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30)


def doc_body(**extra: Any) -> dict[str, Any]:
    parts = [{"type": "text", "text": DOC, "glyph": {"render": True}}, {"type": "text", "text": QUESTION}]
    return {"model": "client-model", "messages": [{"role": "user", "content": parts}], **extra}


def test_pages_are_forwarded_as_data_urls_and_usage_extended() -> None:
    fake = FakeUpstream(
        lambda body, n: json_response(completion("fine", prompt_tokens=1999, completion_tokens=5))
    )
    with fake.running() as up, gateway(up, upstream_model="served-vlm") as gw:
        r = post(gw, doc_body(temperature=0.3, glyph={"render": "auto"}, seed=7))
    assert r.status_code == 200, r.text
    sent = fake.requests[0]
    expected = [p.image for p in render_pages(DOC, reference_default())]
    parts = sent["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url"] * len(expected) + ["text"]
    assert [decode_data_url(p["image_url"]["url"]).size for p in parts[:-1]] == [im.size for im in expected]
    assert parts[-1] == {"type": "text", "text": QUESTION}
    assert "glyph" not in sent and all("glyph" not in p for p in parts)  # our extension stays here
    assert (sent["model"], sent["temperature"], sent["seed"], sent["stream"]) == ("served-vlm", 0.3, 7, False)
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "fine"
    assert body["usage"]["prompt_tokens"] == 1999  # the upstream's own count, untouched
    assert body["glyph"]["pages"] == len(expected)
    assert body["usage"]["text_tokens_saved"] == body["glyph"]["text_tokens"] - body["glyph"]["visual_tokens"]


def test_upstream_timeout_is_504_within_the_configured_timeout() -> None:
    async def hang(body: dict[str, Any], n: int) -> Any:
        await asyncio.sleep(10)
        return json_response(completion("late"))

    fake = FakeUpstream(hang)
    with fake.running() as up, gateway(up, timeout=1.0, max_retries=2) as gw:
        start = time.perf_counter()
        r = post(gw, {"messages": [{"role": "user", "content": "hi"}]})
        elapsed = time.perf_counter() - start
    assert r.status_code == 504
    assert r.json()["error"]["type"] == "timeout_error" and "1 s" in r.json()["error"]["message"]
    assert 0.9 <= elapsed < 2.5
    assert fake.calls == 1  # a timed-out generation is not retried


def test_upstream_500_is_retried_then_502_with_its_message() -> None:
    fake = FakeUpstream(lambda body, n: json_response({"error": {"message": "CUDA out of memory"}}, 500))
    with fake.running() as up, gateway(up, max_retries=2) as gw:
        r = post(gw, {"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502
    assert (
        "CUDA out of memory" in r.json()["error"]["message"] and r.json()["error"]["type"] == "upstream_error"
    )
    assert fake.calls == 3


def test_upstream_429_twice_then_ok() -> None:
    def respond(body: dict[str, Any], n: int) -> Any:
        return (
            json_response({"error": {"message": "busy"}}, 429) if n <= 2 else json_response(completion("ok"))
        )

    fake = FakeUpstream(respond)
    with fake.running() as up, gateway(up, max_retries=3) as gw:
        r = post(gw, {"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "ok"
    assert fake.calls == 3


def test_upstream_400_passes_through_unretried() -> None:
    fake = FakeUpstream(
        lambda body, n: json_response({"error": {"message": "max_tokens too large", "code": "bad"}}, 400)
    )
    with fake.running() as up, gateway(up) as gw:
        r = post(gw, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10})
    assert r.status_code == 400
    assert "max_tokens too large" in r.json()["error"]["message"] and r.json()["error"]["code"] == "bad"
    assert fake.calls == 1


def test_unreachable_upstream_is_502() -> None:
    fake = FakeUpstream(lambda body, n: json_response(completion("never")))
    with fake.running() as up:
        dead = up  # the fake is stopped when this block ends
    with gateway(dead, max_retries=1) as gw:
        r = post(gw, {"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502 and "cannot reach" in r.json()["error"]["message"]


def _sse(chunks: list[dict[str, Any]]) -> list[str]:
    return [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]


def test_stream_is_relayed_chunk_by_chunk_with_stats_in_the_usage_chunk() -> None:
    from fastapi.responses import StreamingResponse

    def chunk(content: str | None, usage: dict[str, int] | None = None) -> dict[str, Any]:
        choices = [] if usage else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": choices,
            **({"usage": usage} if usage else {}),
        }

    sent = [
        chunk("Hel"),
        chunk("lo"),
        chunk("!"),
        chunk(None, {"prompt_tokens": 900, "completion_tokens": 3, "total_tokens": 903}),
    ]

    async def respond(body: dict[str, Any], n: int) -> Any:
        async def events() -> Any:
            for event in _sse(sent):
                yield event
                await asyncio.sleep(0.3)

        return StreamingResponse(events(), media_type="text/event-stream")

    fake = FakeUpstream(respond)
    arrivals: list[tuple[float, str]] = []
    with fake.running() as up, gateway(up) as gw:
        start = time.perf_counter()
        with httpx.stream("POST", gw + "/v1/chat/completions", json=doc_body(stream=True), timeout=30) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line:
                    arrivals.append((time.perf_counter() - start, line))
    lines = [line for _, line in arrivals]
    assert lines[:3] == [f"data: {json.dumps(c)}" for c in sent[:3]]  # relayed as sent
    assert lines[-1] == "data: [DONE]"
    usage_chunk = json.loads(lines[3][6:])
    assert usage_chunk["usage"]["prompt_tokens"] == 900
    assert (
        usage_chunk["usage"]["text_tokens_saved"]
        == usage_chunk["glyph"]["text_tokens"] - usage_chunk["glyph"]["visual_tokens"]
    )
    assert fake.requests[0]["stream"] is True
    # the first chunk reached the client long before the upstream finished (no buffering)
    assert arrivals[-1][0] - arrivals[0][0] >= 1.0


def test_stream_refused_upstream_is_an_error_status_not_an_event_stream() -> None:
    fake = FakeUpstream(lambda body, n: json_response({"error": {"message": "model not loaded"}}, 503))
    with fake.running() as up, gateway(up, max_retries=1) as gw:
        r = post(gw, {"messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert r.status_code == 502 and r.headers["content-type"].startswith("application/json")
    assert "model not loaded" in r.json()["error"]["message"]
    assert fake.calls == 2


def test_models_are_proxied() -> None:
    fake = FakeUpstream(lambda body, n: json_response(completion("x")), model="glyph-9b")
    with fake.running() as up, gateway(up) as gw:
        models = httpx.get(gw + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["glyph-9b"]


def test_settings_need_exactly_one_backend() -> None:
    with pytest.raises(ValueError, match="exactly one backend"):
        ServeSettings()
    with pytest.raises(ValueError, match="exactly one backend"):
        ServeSettings(upstream="http://127.0.0.1:1", model="x")

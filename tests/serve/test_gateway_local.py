"""`glyph serve` running the tiny GLM-4.1V model in-process, over real HTTP on loopback.

Expected numbers: pages from the renderer run here, image tokens from the real GLM image
processor with the released settings, template tokens from jinja + the tokenizer, text
tokens from the Qwen tokenizer (checked against the real one in tests/tokens).
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import expected_prompt_tokens, local_gateway, processor_image_tokens, user_turn

from glyph.render import render_pages
from glyph.render.config import reference_default
from glyph.tokens import get_tokenizer

QUESTION = "What is written on the page ?"
DOC = " ".join(f"Paul Graham essay number {i} says how to do great work." for i in range(450))


@pytest.fixture(scope="module")
def doc_pages() -> list[Any]:
    return [p.image for p in render_pages(DOC, reference_default())]


def chat(url: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=60, **kw)


def doc_request(**extra: Any) -> dict[str, Any]:
    parts = [{"type": "text", "text": DOC}, {"type": "text", "text": QUESTION}]
    return {"model": "tiny-glm", "messages": [{"role": "user", "content": parts}], "max_tokens": 4, **extra}


def test_long_part_is_rendered_and_the_savings_reported(
    glm_gateway: str, glm_reader: Any, doc_pages: list[Any]
) -> None:
    r = chat(glm_gateway, doc_request())
    assert r.status_code == 200, r.text
    body = r.json()
    visual = sum(t + 2 for t in processor_image_tokens("glm4v", doc_pages))  # + begin/end of image
    text_tokens = get_tokenizer("qwen").count(DOC)
    assert len(doc_pages) == 3
    assert body["glyph"]["pages"] == 3 and body["glyph"]["rendered_parts"] == 1
    assert body["glyph"]["visual_tokens"] == visual
    assert body["glyph"]["text_tokens"] == text_tokens
    assert body["usage"]["text_tokens_saved"] == text_tokens - visual > 0
    assert body["glyph"]["ratio"] == round(text_tokens / visual, 3)
    # what the model saw: the pages, then the question (the real prompt, counted independently)
    expected = expected_prompt_tokens("glm4v", glm_reader.processor.tokenizer, user_turn(doc_pages, QUESTION))
    assert body["usage"]["prompt_tokens"] == expected
    assert body["object"] == "chat.completion" and body["model"] == "tiny-glm"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_short_text_stays_text(glm_gateway: str, glm_reader: Any) -> None:
    r = chat(glm_gateway, {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 2})
    body = r.json()
    assert (
        r.status_code == 200
        and body["glyph"]["rendered_parts"] == 0
        and body["usage"]["text_tokens_saved"] == 0
    )
    messages = [{"role": "user", "content": QUESTION}]
    assert body["usage"]["prompt_tokens"] == expected_prompt_tokens(
        "glm4v", glm_reader.processor.tokenizer, messages
    )


def test_render_markers_force_or_forbid_rendering(glm_gateway: str) -> None:
    forced = {"type": "text", "text": "Hello world .", "glyph": {"render": True}}
    r = chat(
        glm_gateway,
        {
            "messages": [{"role": "user", "content": [forced, {"type": "text", "text": QUESTION}]}],
            "max_tokens": 2,
        },
    )
    assert r.json()["glyph"]["pages"] == 1
    kept = {"type": "text", "text": DOC, "glyph": {"render": False}}
    r = chat(glm_gateway, {"messages": [{"role": "user", "content": [kept]}], "max_tokens": 2})
    assert r.json()["glyph"]["rendered_parts"] == 0
    r = chat(glm_gateway, doc_request(glyph={"render": "never"}))
    assert r.json()["glyph"]["rendered_parts"] == 0
    r = chat(glm_gateway, doc_request(glyph={"threshold_tokens": 10**6}))
    assert r.json()["glyph"]["rendered_parts"] == 0


def test_per_request_config_changes_the_pages(glm_gateway: str) -> None:
    r = chat(glm_gateway, doc_request(glyph={"config": {"dpi": 48}}))
    expected = [p.image for p in render_pages(DOC, reference_default().with_updates(dpi=48))]
    assert r.json()["glyph"]["visual_tokens"] == sum(t + 2 for t in processor_image_tokens("glm4v", expected))
    r = chat(glm_gateway, doc_request(glyph={"config": {"font-path": "/etc/passwd"}}))
    assert r.status_code == 400 and "font-path" in r.json()["error"]["message"]
    r = chat(glm_gateway, doc_request(glyph={"config": {"dpi": 1200}}))
    assert r.status_code == 400 and r.json()["error"]["code"] == "page_too_large"


def test_stream_gives_the_same_answer_chunk_by_chunk(glm_gateway: str) -> None:
    plain = chat(glm_gateway, doc_request(max_tokens=5)).json()
    events: list[dict[str, Any]] = []
    with httpx.stream(
        "POST",
        glm_gateway + "/v1/chat/completions",
        timeout=60,
        json=doc_request(max_tokens=5, stream=True, stream_options={"include_usage": True}),
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    content = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert content == plain["choices"][0]["message"]["content"]  # greedy: same tokens either way
    assert sum(1 for e in events for c in e["choices"] if c["delta"].get("content")) >= 2
    usage = events[-1]["usage"]
    assert usage["prompt_tokens"] == plain["usage"]["prompt_tokens"]
    assert usage["text_tokens_saved"] == plain["usage"]["text_tokens_saved"]
    assert events[-1]["glyph"]["pages"] == 3


def test_rendered_pages_are_cached(glm_gateway: str) -> None:
    text = DOC.replace("essay", "text")  # a document no other test sends
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}], "max_tokens": 1}
    before = httpx.get(glm_gateway + "/v1/glyph/stats").json()["page_cache"]
    first, second = chat(glm_gateway, body).json(), chat(glm_gateway, body).json()
    after = httpx.get(glm_gateway + "/v1/glyph/stats").json()["page_cache"]
    assert first["glyph"] == second["glyph"]  # a reply never says whether it came from the cache
    assert (after["hits"] - before["hits"], after["entries"] - before["entries"]) == (1, 1)


def test_models_and_health(glm_gateway: str) -> None:
    models = httpx.get(glm_gateway + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["tiny-glm"]
    assert httpx.get(glm_gateway + "/health").json() == {"status": "ok"}
    assert httpx.get(glm_gateway + "/v1/glyph/stats").json()["backend"] == "local"


def test_client_images_are_decoded_and_remote_urls_refused(
    glm_gateway: str, glm_reader: Any, doc_pages: list[Any]
) -> None:
    buf = io.BytesIO()
    doc_pages[-1].save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": QUESTION}]
    body = chat(glm_gateway, {"messages": [{"role": "user", "content": parts}], "max_tokens": 1}).json()
    expected = expected_prompt_tokens(
        "glm4v", glm_reader.processor.tokenizer, user_turn([doc_pages[-1]], QUESTION)
    )
    assert body["usage"]["prompt_tokens"] == expected
    for bad in ("https://example.com/a.png", "file:///etc/passwd", "data:image/png;base64,!!!"):
        parts = [{"type": "image_url", "image_url": {"url": bad}}]
        r = chat(glm_gateway, {"messages": [{"role": "user", "content": parts}]})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


# ------------------------------------------------------------------------ limits
@pytest.fixture(scope="module")
def strict_gateway(glm_reader: Any, tiny_glm: Path) -> Any:
    with local_gateway(
        glm_reader, tiny_glm, max_body_bytes=64 * 1024, max_pages=2, max_context_tokens=3000, api_key="k"
    ) as url:
        yield url


AUTH = {"Authorization": "Bearer k"}


def test_oversize_body_is_413(strict_gateway: str) -> None:
    big = {"messages": [{"role": "user", "content": "x " * 40_000}]}  # ~80 KB > 64 KiB
    r = chat(strict_gateway, big, headers=AUTH)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large" and "65,536" in r.json()["error"]["message"]


def test_too_many_pages_is_413(strict_gateway: str) -> None:
    r = chat(strict_gateway, doc_request(), headers=AUTH)  # 3 pages > 2
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pages"


def test_context_overflow_is_400(strict_gateway: str) -> None:
    two_pages = " ".join(f"Paul Graham essay number {i} says how to do great work." for i in range(250))
    r = chat(
        strict_gateway,
        {"messages": [{"role": "user", "content": two_pages}], "max_tokens": 2900},
        headers=AUTH,
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded" and "3,000" in r.json()["error"]["message"]


def test_api_key_is_required_when_set(strict_gateway: str) -> None:
    r = chat(strict_gateway, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert (
        chat(
            strict_gateway, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}, headers=AUTH
        ).status_code
        == 200
    )


def test_malformed_requests_are_400_with_openai_error_bodies(strict_gateway: str) -> None:
    r = httpx.post(strict_gateway + "/v1/chat/completions", content=b"{not json", headers=AUTH)
    assert r.status_code == 400 and set(r.json()["error"]) >= {"message", "type", "code"}
    r = chat(strict_gateway, {"messages": []}, headers=AUTH)
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    r = chat(strict_gateway, {"messages": [{"role": "user", "content": "hi"}], "n": 2}, headers=AUTH)
    assert r.status_code == 400 and "n=1" in r.json()["error"]["message"]


def test_local_generation_past_the_timeout_is_504_and_stops_the_worker(
    glm_reader: Any, tiny_glm: Path
) -> None:
    # Generating 3,000 tokens takes the tiny model ~30 s on CPU; the gateway gives it 0.5 s.
    with local_gateway(glm_reader, tiny_glm, timeout=0.5) as url:
        start = time.perf_counter()
        r = chat(url, {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 3000})
        assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"
        assert time.perf_counter() - start < 2.5
        # the model lock is free again at once: the stopped generation does not run on
        r = chat(url, {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 1})
        assert r.status_code == 200, r.text
        assert time.perf_counter() - start < 5

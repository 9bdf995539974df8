"""The OpenAI-compatible readers (VLM and text baseline) against real HTTP servers on loopback.

The whole path runs through ``glyph serve`` on the tiny local GLM model; failure modes
(429, 4xx, 5xx, timeouts, refused connections, concurrency) use small FastAPI upstreams.
"""

# ruff: noqa: F811  (fixtures imported from the shared helpers are redefined as arguments)
from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # shared helpers
from serve_helpers import (
    FakeUpstream,
    completion,
    decode_data_url,
    expected_prompt_tokens,
    glm_gateway,  # noqa: F401  (fixture)
    glm_reader,  # noqa: F401  (fixture)
    json_response,
    tiny_glm,  # noqa: F401  (fixture)
    user_turn,
)

from glyph.client import UpstreamConnectionError, UpstreamHTTPError, UpstreamTimeoutError
from glyph.readers import ReaderUnavailableError, get_reader
from glyph.readers.openai_http import OpenAIReader
from glyph.readers.text_baseline import TextBaselineReader
from glyph.render import RenderedPage, render_pages
from glyph.render.config import reference_default

Image = pytest.importorskip("PIL.Image")

QUESTION = "What is written on the page ?"
DOC = " ".join(f"Hello world number {i} is in the essay." for i in range(400))
FAST = {"backoff_initial": 0.01}  # retries without slowing the suite


@pytest.fixture(scope="module")
def pages() -> list[RenderedPage]:
    return list(render_pages(DOC, reference_default()))


def blank(width: int, height: int) -> RenderedPage:
    return RenderedPage.from_image(Image.new("RGB", (width, height), "white"))


# ------------------------------------------------------------------------ the whole path
def test_answer_through_glyph_serve_on_the_tiny_model(
    glm_gateway: str, glm_reader: Any, pages: list[RenderedPage]
) -> None:
    # base URL without /v1 and no model: the reader adds /v1 and asks /v1/models for the name
    reader = get_reader("openai", base_url=glm_gateway)
    answer = reader.answer(pages, QUESTION, max_tokens=4)
    assert reader.model == "tiny-glm"
    messages = user_turn([p.image for p in pages], QUESTION)  # PNG is lossless: same pixels, same sizes
    assert answer.usage.prompt_tokens == expected_prompt_tokens(
        "glm4v", glm_reader.processor.tokenizer, messages
    )
    assert 1 <= answer.usage.completion_tokens <= 4
    assert answer.raw is not None and answer.raw["model"] == "tiny-glm"
    assert answer.raw["glyph"]["rendered_parts"] == 0  # pages arrived as images: nothing to render


def test_transcribe_through_glyph_serve_gives_one_text_per_page(
    glm_gateway: str, pages: list[RenderedPage]
) -> None:
    texts = OpenAIReader(base_url=glm_gateway + "/v1", model="tiny-glm").transcribe(pages, max_tokens=3)
    assert len(texts) == len(pages) and all(isinstance(t, str) for t in texts)


# ------------------------------------------------------------------------ what is sent
def test_pages_go_as_png_data_urls_capped_to_max_pixels() -> None:
    fake = FakeUpstream(lambda body, n: json_response(completion("ok")))
    with fake.running() as url:
        reader = OpenAIReader(base_url=url, model="m", max_pixels=100_000)
        answer = reader.answer([blank(595, 842), blank(200, 300)], QUESTION, system="Be brief.", max_tokens=7)
    assert answer.text == "ok" and answer.usage.prompt_tokens == 11 and answer.usage.completion_tokens == 3
    body = fake.requests[0]
    assert body["model"] == "m" and body["max_tokens"] == 7 and body["temperature"] == 0.0
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"] and parts[2]["text"] == QUESTION
    # 595x842 = 500,990 px > 100,000: scale sqrt(100000/500990) = 0.44678 -> floor 265.8, 376.2
    assert decode_data_url(parts[0]["image_url"]["url"]).size == (265, 376)
    assert decode_data_url(parts[1]["image_url"]["url"]).size == (200, 300)  # 60,000 px: untouched
    assert reader.sent_sizes([blank(595, 842)]) == [(265, 376)]


def test_transcribe_keeps_page_order_with_bounded_concurrency() -> None:
    async def respond(body: dict[str, Any], n: int) -> Any:
        await asyncio.sleep(0.2)
        size = decode_data_url(body["messages"][0]["content"][0]["image_url"]["url"]).size
        return json_response(completion(f"{size[0]}x{size[1]}"))

    fake = FakeUpstream(respond)
    sizes = [(100, 50), (120, 60), (140, 70), (160, 80), (180, 90)]
    with fake.running() as url:
        start = time.perf_counter()
        texts = OpenAIReader(base_url=url, model="m", concurrency=2).transcribe([blank(*s) for s in sizes])
        seconds = time.perf_counter() - start
    assert texts == ["100x50", "120x60", "140x70", "160x80", "180x90"]
    assert fake.max_in_flight == 2
    assert seconds >= 0.55  # 5 requests of 0.2 s, 2 at a time: at least 3 rounds


# ------------------------------------------------------------------------ failures
def test_429_twice_then_success_is_retried() -> None:
    def respond(body: dict[str, Any], n: int) -> Any:
        if n <= 2:
            return json_response({"error": {"message": "slow down"}}, 429, {"Retry-After": "0.05"})
        return json_response(completion("finally"))

    fake = FakeUpstream(respond)
    with fake.running() as url:
        answer = OpenAIReader(base_url=url, model="m", max_retries=3, **FAST).answer(
            [blank(64, 64)], QUESTION
        )
    assert answer.text == "finally" and fake.calls == 3


def test_4xx_is_not_retried_and_carries_the_server_message() -> None:
    fake = FakeUpstream(
        lambda body, n: json_response({"error": {"message": "image too large", "code": "bad_image"}}, 400)
    )
    with fake.running() as url, pytest.raises(UpstreamHTTPError, match="image too large") as info:
        OpenAIReader(base_url=url, model="m", max_retries=3, **FAST).answer([blank(64, 64)], QUESTION)
    assert (info.value.upstream_status, info.value.status, info.value.code) == (400, 400, "bad_image")
    assert fake.calls == 1


def test_500_is_retried_then_reported_as_bad_gateway() -> None:
    fake = FakeUpstream(lambda body, n: json_response({"detail": "engine crashed"}, 500))
    with fake.running() as url, pytest.raises(UpstreamHTTPError, match="engine crashed") as info:
        OpenAIReader(base_url=url, model="m", max_retries=2, **FAST).answer([blank(64, 64)], QUESTION)
    assert (info.value.upstream_status, info.value.status) == (500, 502)
    assert fake.calls == 3  # first try + 2 retries


def test_read_timeout_is_raised_in_time_and_not_retried() -> None:
    async def respond(body: dict[str, Any], n: int) -> Any:
        await asyncio.sleep(5)
        return json_response(completion("too late"))

    fake = FakeUpstream(respond)
    with fake.running() as url:
        start = time.perf_counter()
        with pytest.raises(UpstreamTimeoutError, match="within 0.5 s"):
            OpenAIReader(base_url=url, model="m", timeout=0.5, max_retries=3, **FAST).answer(
                [blank(64, 64)], QUESTION
            )
        assert time.perf_counter() - start < 2.0
    assert fake.calls == 1


def test_refused_connection_is_a_reader_unavailable_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UpstreamConnectionError, match="cannot reach") as info:
        OpenAIReader(base_url=f"http://127.0.0.1:{port}", model="m", max_retries=1, **FAST).answer(
            [blank(8, 8)], "q"
        )
    assert isinstance(info.value, ReaderUnavailableError)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="base URL"):
        OpenAIReader(base_url="localhost:8000")
    with pytest.raises(ValueError, match="max_pixels"):
        OpenAIReader(max_pixels=0)
    with pytest.raises(ValueError, match="concurrency"):
        OpenAIReader(concurrency=0)


# ------------------------------------------------------------------------ text baseline
def test_text_baseline_sends_the_plain_text_and_reads_server_usage(pages: list[RenderedPage]) -> None:
    fake = FakeUpstream(
        lambda body, n: json_response(completion("from text", prompt_tokens=4321)), model="text-llm"
    )
    with fake.running() as url:
        reader = get_reader("text", base_url=url, api_key="sk-test")
        answer = reader.answer_text("The document.", QUESTION, system="Be brief.", max_tokens=9)
        from_pages = reader.answer(pages, QUESTION)
    assert isinstance(reader, TextBaselineReader)
    assert answer.text == "from text" and answer.usage.prompt_tokens == 4321
    assert fake.requests[0]["model"] == "text-llm"  # discovered from /v1/models
    assert fake.requests[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "The document.\n\n" + QUESTION},
    ]
    assert fake.headers[0]["authorization"] == "Bearer sk-test"
    # from pages: their ground-truth text, joined, no images
    assert fake.requests[1]["messages"][0]["content"] == "\n".join(p.text for p in pages) + "\n\n" + QUESTION
    assert from_pages.text == "from text"

"""glyph.client against real HTTP servers on loopback: settings, parsing, the retry policy's
waits and slots, and streams (text, usage, TTFT, error events, bounded concurrency).

The readers' and the gateway's own failure tests (tests/readers, tests/serve) run through
this client too; these pin what the client itself promises.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # loopback helpers (no torch)
from loopback import FakeUpstream, completion, json_response, serve_app, sse_response

from glyph.client import (
    OpenAIClient,
    StreamedCompletion,
    UpstreamError,
    UpstreamHTTPError,
    make_client,
    run_sync,
)

FAST = {"backoff_initial": 0.01}


def chunk(
    content: str | None = None, reasoning: str | None = None, finish: str | None = None
) -> dict[str, Any]:
    delta = {k: v for k, v in (("content", content), ("reasoning_content", reasoning)) if v is not None}
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
    }


def call(client: OpenAIClient, coro: Any) -> Any:
    async def go() -> Any:
        try:
            return await coro(client)
        finally:
            await client.aclose()

    return run_sync(go)


# ------------------------------------------------------------------------ settings
def test_bad_settings_name_the_field_and_keep_the_key_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"base_url: base URL must look like http://host:port\[/v1\]"):
        make_client("localhost:8000")
    with pytest.raises(ValueError, match=r"concurrency: .*greater than or equal to 1 \(got 0\)"):
        make_client("http://h:1", concurrency=0)
    with pytest.raises(ValueError, match=r"timeot: Extra inputs are not permitted"):
        make_client("http://h:1", timeot=3)
    assert make_client("http://h:8000").base_url == "http://h:8000/v1"
    assert make_client("http://h:8000/api/v2/").base_url == "http://h:8000/api/v2"
    assert make_client("http://h:1", concurrency="4").settings.concurrency == 4  # --reader-opt strings
    monkeypatch.delenv("FIRST_KEY", raising=False)
    monkeypatch.setenv("SECOND_KEY", "sk-secret")
    client = make_client("http://h:1", api_key_env=("FIRST_KEY", "SECOND_KEY"))
    assert client.settings.api_key == "sk-secret"
    assert "sk-secret" not in repr(client.settings) and "sk-secret" not in repr(client)
    assert make_client("http://h:1", api_key="given", api_key_env=("SECOND_KEY",)).settings.api_key == "given"


# ------------------------------------------------------------------------ JSON calls
def test_complete_parses_text_usage_reasoning_and_first_model() -> None:
    body = completion("the answer", prompt_tokens=50, completion_tokens=7)
    body["choices"][0]["message"]["reasoning_content"] = "thinking first"
    fake = FakeUpstream(lambda b, n: json_response(body), model="glyph")
    with fake.running() as url:
        client = make_client(url)

        async def go(c: OpenAIClient) -> Any:
            model = await c.first_model()
            return model, await c.complete({"model": model, "messages": []})

        model, answer = call(client, go)
    assert model == "glyph" and fake.requests[0]["model"] == "glyph" and fake.requests[0]["stream"] is False
    assert (answer.text, answer.reasoning, answer.finish_reason) == ("the answer", "thinking first", "stop")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        50,
        7,
        57,
    )
    assert answer.seconds > 0 and answer.raw == body


def test_complete_prompt_posts_a_raw_prompt_to_completions() -> None:
    """``/v1/completions`` (vLLM, SGLang): the prompt as given, the reply's ``text`` and usage parsed."""
    app, seen = FastAPI(), []
    replies = [
        {"object": "text_completion", "choices": [{"index": 0, "text": " 4417", "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}},
        {"object": "text_completion", "choices": []},
    ]  # fmt: skip

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        seen.append(await request.json())
        return replies[len(seen) - 1]

    with serve_app(app) as url:
        client = make_client(url, **FAST)
        prompt = "Examples:\n\nQ: a\nA: b\nQ: c\nA:"
        answer = call(client, lambda c: c.complete_prompt({"model": "m", "prompt": prompt, "stop": ["\n"]}))
        with pytest.raises(UpstreamError, match="no choices\\[0\\].text"):
            call(client, lambda c: c.complete_prompt({"model": "m", "prompt": prompt}))
    assert seen[0] == {"model": "m", "prompt": prompt, "stop": ["\n"], "stream": False}
    assert (answer.text, answer.finish_reason, answer.usage.prompt_tokens, answer.usage.total_tokens) == (
        " 4417", "stop", 12, 14,
    )  # fmt: skip


def test_retry_after_is_waited_for_and_capped() -> None:
    def respond(body: dict[str, Any], n: int) -> Any:
        if n <= 2:
            return json_response({"error": {"message": "slow down"}}, 429, {"Retry-After": "0.4"})
        return json_response(completion("ok"))

    fake = FakeUpstream(respond)
    with fake.running() as url:
        start = time.perf_counter()
        answer = call(make_client(url, max_retries=3, **FAST), lambda c: c.complete({"messages": []}))
        waited = time.perf_counter() - start
    assert answer.text == "ok" and fake.calls == 3
    assert waited >= 0.8  # two Retry-After waits of 0.4 s, not the 0.01 s backoff

    capped = FakeUpstream(
        lambda b, n: json_response({"error": {"message": "later"}}, 503, {"Retry-After": "60"})
    )
    with capped.running() as url:
        start = time.perf_counter()
        with pytest.raises(UpstreamHTTPError, match="later") as info:
            call(
                make_client(url, max_retries=1, backoff_max=0.3, **FAST),
                lambda c: c.complete({"messages": []}),
            )
        assert time.perf_counter() - start < 3.0  # 60 s asked, 0.3 s allowed
    assert capped.calls == 2 and info.value.status == 502 and info.value.upstream_status == 503


def test_a_retry_gives_its_slot_back_while_it_waits() -> None:
    order: list[str] = []

    def respond(body: dict[str, Any], n: int) -> Any:
        tag = body["messages"][0]["content"]
        order.append(tag)
        if tag == "A" and order.count("A") == 1:
            return json_response({"error": {"message": "busy"}}, 429, {"Retry-After": "0.5"})
        return json_response(completion(tag))

    fake = FakeUpstream(respond)
    with fake.running() as url:
        client = make_client(url, concurrency=1, **FAST)

        async def go(c: OpenAIClient) -> Any:
            first = asyncio.ensure_future(c.complete({"messages": [{"role": "user", "content": "A"}]}))
            await asyncio.sleep(0.2)  # A got its 429 and is waiting
            second = await c.complete({"messages": [{"role": "user", "content": "B"}]})
            return (await first).text, second.text

        assert call(client, go) == ("A", "B")
    assert order == ["A", "B", "A"]  # B was served during A's wait, through the only slot


# ------------------------------------------------------------------------ streams
def test_stream_complete_gives_text_usage_and_timings() -> None:
    sent = [
        chunk(reasoning="hmm"),
        chunk("Hel"),
        chunk("lo"),
        chunk("!", finish="stop"),
        usage_chunk(900, 40),
    ]
    fake = FakeUpstream(lambda body, n: sse_response(sent, delay=0.15))
    with fake.running() as url:
        result = call(make_client(url), lambda c: c.stream_complete({"messages": []}))
    assert isinstance(result, StreamedCompletion)
    assert (result.text, result.reasoning, result.finish_reason, result.chunks) == (
        "Hello!",
        "hmm",
        "stop",
        4,
    )
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (900, 40)
    assert fake.requests[0]["stream"] is True and fake.requests[0]["stream_options"] == {
        "include_usage": True
    }
    # the first (reasoning) delta came after one 0.15 s delay; the stream ended after five
    assert 0.14 <= result.ttft < 0.6 and result.seconds >= 0.74 and result.seconds - result.ttft >= 0.59
    assert result.tpot == pytest.approx((result.seconds - result.ttft) / 39)
    assert result.decode_tokens_per_second == pytest.approx(1 / result.tpot)
    assert result.output_tokens_per_second == pytest.approx(40 / result.seconds)


def test_stream_without_usage_leaves_token_rates_unknown() -> None:
    fake = FakeUpstream(lambda body, n: sse_response([chunk("a"), chunk("b")]))
    with fake.running() as url:
        result = call(make_client(url), lambda c: c.stream_complete({"messages": []}, include_usage=False))
    assert result.text == "ab" and "stream_options" not in fake.requests[0]
    assert (
        result.usage.completion_tokens is None
        and result.tpot is None
        and result.output_tokens_per_second is None
    )


def test_stream_errors_carry_the_servers_message() -> None:
    broken = [chunk("par"), {"error": {"message": "KV cache exhausted", "code": 500}}]
    fake = FakeUpstream(lambda body, n: sse_response(broken, done=False))
    with fake.running() as url, pytest.raises(UpstreamError, match="KV cache exhausted"):
        call(make_client(url), lambda c: c.stream_complete({"messages": []}))

    not_json = FakeUpstream(lambda body, n: sse_response(["{oops"]))
    with not_json.running() as url, pytest.raises(UpstreamError, match="non-JSON data"):
        call(make_client(url), lambda c: c.stream_complete({"messages": []}))

    no_stream = FakeUpstream(lambda body, n: json_response(completion("not a stream")))
    with (
        no_stream.running() as url,
        pytest.raises(UpstreamError, match="did not answer with an event stream"),
    ):
        call(make_client(url), lambda c: c.stream_complete({"messages": []}))

    refused = FakeUpstream(lambda body, n: json_response({"detail": "model not loaded"}, 503))
    with refused.running() as url, pytest.raises(UpstreamHTTPError, match="model not loaded"):
        call(make_client(url, max_retries=2, **FAST), lambda c: c.stream_complete({"messages": []}))
    assert refused.calls == 3  # opening a stream is retried like any call


def test_streams_hold_their_slot_until_closed() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    live = {"now": 0, "peak": 0}

    @app.post("/v1/chat/completions")
    async def chat() -> Any:
        from fastapi.responses import StreamingResponse

        async def events() -> Any:
            live["now"] += 1
            live["peak"] = max(live["peak"], live["now"])
            try:
                for piece in ("x", "y"):
                    await asyncio.sleep(0.15)
                    yield f'data: {{"choices": [{{"index": 0, "delta": {{"content": "{piece}"}}}}]}}\n\n'
                yield "data: [DONE]\n\n"
            finally:
                live["now"] -= 1

        return StreamingResponse(events(), media_type="text/event-stream")

    with serve_app(app) as url:
        client = make_client(url, concurrency=2)

        async def go(c: OpenAIClient) -> list[str]:
            results = await asyncio.gather(*(c.stream_complete({"messages": []}) for _ in range(5)))
            return [r.text for r in results]

        assert call(client, go) == ["xy"] * 5
    assert live["peak"] == 2


def test_raw_stream_lines_are_relayed_as_sent() -> None:
    sent = [chunk("a"), usage_chunk(3, 1)]
    fake = FakeUpstream(lambda body, n: sse_response(sent))
    with fake.running() as url:

        async def go(c: OpenAIClient) -> list[str]:
            async with c.stream_chat({"messages": []}) as lines:
                return [line async for line in lines]

        lines = call(make_client(url), go)
    import json

    assert lines == [
        f"data: {json.dumps(sent[0])}",
        "",
        f"data: {json.dumps(sent[1])}",
        "",
        "data: [DONE]",
        "",
    ]


def test_run_sync_works_inside_a_running_loop() -> None:
    async def inner() -> int:
        await asyncio.sleep(0)
        return 7

    async def outer() -> int:
        return run_sync(inner)  # a notebook's loop is running here

    assert asyncio.run(outer()) == 7

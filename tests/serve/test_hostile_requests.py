"""Hostile requests over loopback: every defect of issue 15's probe, sent to a real gateway.

Each test names what a client sent and what the gateway must do: a 4xx in OpenAI's error
format with the connection kept alive, no work past a limit, no internal detail in replies,
auth on every route, memory within the configured budgets.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import Request  # module level: FastAPI resolves the fake's string annotations here
from loopback import FakeUpstream, KeepAlive, completion, json_response, serve_app, upstream_gateway

from glyph.data import demo_text
from glyph.render import raster

ESSAYS = demo_text()
DOC = ESSAYS[:40_000]  # ~9 pages at the reference config
HI = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def ok_upstream() -> FakeUpstream:
    return FakeUpstream(lambda body, n: json_response(completion("fine")))


def post(url: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=kw.pop("timeout", 30), **kw)


def doc_body(text: str = DOC, **glyph: Any) -> dict[str, Any]:
    part = {"type": "text", "text": text, "glyph": {"render": True}}
    return {"model": "m", "messages": [{"role": "user", "content": [part]}], **({"glyph": glyph} if glyph else {})}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = ok_upstream()
    with fake.running() as url:
        yield fake, url


class RenderSpy:
    """Counts pages the renderer lays out and rasterises in this process; can hold rasterising."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.laid_out = 0
        self.rasterised = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        layout_name = "iter_layout" if hasattr(raster, "iter_layout") else "iter_pages_with_spans"
        inner_layout = getattr(raster, layout_name)
        inner_render = raster.PageRasterizer.render
        spy = self

        def counting_layout(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for page in inner_layout(*args, **kwargs):
                spy.laid_out += 1
                yield page

        def held_render(self_: Any, page: Any) -> Any:
            spy.started.set()
            spy.release.wait(30)
            spy.rasterised += 1
            return inner_render(self_, page)

        monkeypatch.setattr(raster, layout_name, counting_layout)
        monkeypatch.setattr(raster.PageRasterizer, "render", held_render)


# ------------------------------------------------------------------------------ memory
def _retained_bytes(obj: Any, seen: set[int]) -> int:
    """numpy bytes reachable from one renderer object (its tables, atlas, sprites, scratch)."""
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_retained_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_retained_bytes(v, seen) for v in obj)
    if type(obj).__module__.startswith("glyph.render") and hasattr(obj, "__dict__"):
        return sum(_retained_bytes(v, seen) for v in vars(obj).values())
    return 0


def renderer_bytes() -> int:
    """Bytes held by every live rasteriser and layout width table (found by the garbage collector)."""
    gc.collect()
    seen: set[int] = set()
    kinds = ("PageRasterizer", "_WidthTable")
    return sum(_retained_bytes(o, seen) for o in gc.get_objects() if type(o).__name__ in kinds)


def test_twelve_distinct_configs_keep_renderer_memory_within_the_budget(
    upstream: tuple[FakeUpstream, str],
) -> None:
    """The probe's request: 17 KB of text under twelve distinct dpi/font-size overrides."""
    _, up = upstream
    budget = 16 * 1024 * 1024
    text = ESSAYS[100_000:117_000]
    before = renderer_bytes()  # what other tests in this process left alive
    with upstream_gateway(up, render_cache_bytes=budget) as gw:
        for i in range(12):
            r = post(gw, doc_body(text, config={"dpi": 130 + 10 * i, "font-size": 9 + 0.5 * i}))
            assert r.status_code == 200, r.text
        held = renderer_bytes() - before
    # the budget plus what one width table per font size may add (640 KB each, 16 at most)
    assert held <= budget + 12 * 0x10000 * 10, f"renderers hold {held / 2**20:.1f} MiB more"


def test_config_overrides_can_be_switched_off_from_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from glyph.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: seen.update(app=application))
    result = CliRunner().invoke(app, ["serve", "--upstream", "http://127.0.0.1:9/v1", "--no-config-overrides"])
    assert result.exit_code == 0, result.output
    assert seen["app"].state.glyph.settings.allow_config_overrides is False


# ------------------------------------------------------------------------------ limits before work
def test_a_huge_text_is_refused_before_any_layout(
    upstream: tuple[FakeUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = RenderSpy(monkeypatch)
    huge = (ESSAYS * 50)[: 31 * 1024 * 1024]  # 31 MiB of prose: thousands of pages
    with upstream_gateway(upstream[1], max_pages=64) as gw:
        r = post(gw, doc_body(huge), timeout=120)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pages", r.text
    assert "64" in r.json()["error"]["message"]
    assert (spy.laid_out, spy.rasterised) == (0, 0)


def test_the_context_limit_is_checked_before_rendering(
    upstream: tuple[FakeUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dpi-400 override: each page costs ~6K visual tokens, so 9 pages cannot fit 32K."""
    spy = RenderSpy(monkeypatch)
    with upstream_gateway(upstream[1], max_context_tokens=32_768) as gw:
        r = post(gw, doc_body(config={"dpi": 400}))
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded", r.text
    assert (spy.laid_out, spy.rasterised) == (0, 0)


def test_layout_stops_at_the_page_limit(
    upstream: tuple[FakeUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = RenderSpy(monkeypatch)
    with upstream_gateway(upstream[1], max_pages=3) as gw:
        r = post(gw, doc_body(ESSAYS[:300_000]))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pages"
    assert spy.laid_out <= 4


# ------------------------------------------------------------------------------ render slots
def _hold_a_render(gw: str, spy: RenderSpy) -> tuple[threading.Thread, list[httpx.Response]]:
    spy.release.clear()
    out: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: out.append(post(gw, doc_body(), timeout=60)), daemon=True)
    thread.start()
    assert spy.started.wait(30), "the render never started"
    return thread, out


def test_a_request_with_nothing_to_render_never_waits_for_render_slots(
    upstream: tuple[FakeUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = RenderSpy(monkeypatch)
    with upstream_gateway(upstream[1], render_concurrency=1) as gw:
        thread, held = _hold_a_render(gw, spy)
        try:
            r = post(gw, HI, timeout=5)  # before the fix: waits for the held render, then times out
        finally:
            spy.release.set()
            thread.join(60)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "fine"
    assert held and held[0].status_code == 200


def test_render_waits_have_a_deadline_then_503_with_retry_after(
    upstream: tuple[FakeUpstream, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = RenderSpy(monkeypatch)
    with upstream_gateway(upstream[1], render_concurrency=1, render_wait=0.3) as gw:
        thread, held = _hold_a_render(gw, spy)
        try:
            r = post(gw, doc_body(ESSAYS[50_000:90_000]), timeout=10)
        finally:
            spy.release.set()
            thread.join(60)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["type"] == "overloaded_error" and int(r.headers["retry-after"]) >= 1
    assert held and held[0].status_code == 200


# ------------------------------------------------------------------------------ bad input
DEEP = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
BAD_BODIES = {
    "lone surrogate": b'{"model": "m", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}',
    "lone surrogate in a long part": (
        b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "'
        + b"word " * 3000
        + b'\\udfff", "glyph": {"render": true}}]}]}'
    ),
    "temperature NaN": b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    "max_tokens Infinity": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": Infinity}',
    "deeply nested JSON": DEEP,
    "a million spaces": json.dumps({"messages": [{"role": "user", "content": "a" + " " * 1_000_000 + "b"}]}).encode(),
    "content part not an object": b'{"messages": [{"role": "user", "content": ["hi"]}]}',
    "text part without text": b'{"messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]}',
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_input_is_a_400_in_openai_format_and_the_connection_survives(
    case: str, upstream: tuple[FakeUpstream, str]
) -> None:
    with upstream_gateway(upstream[1]) as gw:
        conn = KeepAlive(gw)
        try:
            status, _, body = conn.request("POST", "/v1/chat/completions", BAD_BODIES[case])
            assert status == 400, body[:300]
            error = json.loads(body)["error"]
            assert error["type"] == "invalid_request_error" and error["message"]
            assert "Traceback" not in error["message"]
            assert conn.alive(), "the gateway dropped the keep-alive connection"
            status, _, body = conn.request("POST", "/v1/chat/completions", json.dumps(HI).encode())
            assert status == 200, body[:300]
        finally:
            conn.close()


# ------------------------------------------------------------------------------ auth and leaks
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def keyed(upstream: tuple[FakeUpstream, str]) -> Iterator[tuple[str, str]]:
    with upstream_gateway(upstream[1], api_key=KEY) as gw:
        yield gw, upstream[1]


@pytest.mark.parametrize(
    "method,path", [("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/redoc"), ("GET", "/v1/models"),
                    ("GET", "/v1/glyph/stats"), ("POST", "/v1/chat/completions"), ("GET", "/nowhere")],
)  # fmt: skip
def test_every_route_but_liveness_needs_the_key(keyed: tuple[str, str], method: str, path: str) -> None:
    gw, _ = keyed
    r = httpx.request(method, gw + path, json=HI if method == "POST" else None)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error", (path, r.text[:200])


def test_liveness_reveals_nothing(keyed: tuple[str, str]) -> None:
    gw, up = keyed
    r = httpx.get(gw + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert up.split("//")[1] not in r.text


def test_the_bearer_scheme_is_case_insensitive(keyed: tuple[str, str]) -> None:
    gw, _ = keyed
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert post(gw, HI, headers={"Authorization": f"{scheme} {KEY}"}).status_code == 200, scheme
    for wrong in (f"Bearer {KEY}x", f"Basic {KEY}", KEY, f"Bearer {KEY[:-1]}"):
        assert post(gw, HI, headers={"Authorization": wrong}).status_code == 401, wrong


def test_the_key_is_compared_in_constant_time(keyed: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    gw, _ = keyed
    assert post(gw, HI, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert post(gw, HI, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert len(calls) >= 2


def _upstream_failing(kind: str) -> FakeUpstream:
    async def respond(body: dict[str, Any], n: int) -> Any:
        from fastapi.responses import PlainTextResponse

        if kind == "500":
            return json_response({"error": {"message": "CUDA out of memory"}}, 500)
        if kind == "400":
            return json_response({"error": {"message": "max_tokens too large", "code": "bad"}}, 400)
        if kind == "html":
            return PlainTextResponse("<html>proxy error</html>", 200)
        await asyncio.sleep(5)
        return json_response(completion("late"))

    return FakeUpstream(respond)


@pytest.mark.parametrize("kind", ["500", "400", "html", "timeout", "unreachable"])
def test_upstream_urls_never_reach_clients(kind: str) -> None:
    fake = _upstream_failing(kind)
    with fake.running() as up:
        if kind == "unreachable":
            dead = up
    if kind == "unreachable":
        with upstream_gateway(dead, max_retries=0) as gw:
            r = post(gw, HI)
            stream = post(gw, {**HI, "stream": True})
    else:
        with fake.running() as up, upstream_gateway(up, max_retries=0, timeout=0.5) as gw:
            r = post(gw, HI)
            stream = post(gw, {**HI, "stream": True})
    host = (dead if kind == "unreachable" else up).split("//")[1]
    assert r.status_code >= 400 and "error" in r.json()
    for reply in (r, stream):  # (a 200 "stream" of the proxy's page is relayed as it came)
        assert host not in reply.text and "127.0.0.1" not in reply.text, reply.text
    if kind in ("500", "400"):  # the upstream's own message still reaches the client
        assert ("CUDA out of memory" if kind == "500" else "max_tokens too large") in r.json()["error"]["message"]


def test_a_client_disconnect_cancels_the_upstream_call() -> None:
    from fastapi import FastAPI

    seen = {"started": threading.Event(), "disconnected": threading.Event()}
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def slow(request: Request) -> Any:
        await request.body()
        seen["started"].set()
        for _ in range(200):  # 10 s unless the gateway hangs up
            if await request.is_disconnected():
                seen["disconnected"].set()
                return json_response(completion("nobody listens"))
            await asyncio.sleep(0.05)
        return json_response(completion("too late"))

    with serve_app(app) as up, upstream_gateway(up) as gw:
        with pytest.raises(httpx.ReadTimeout):
            post(gw, HI, timeout=httpx.Timeout(5, read=0.5))
        assert seen["started"].wait(5)
        assert seen["disconnected"].wait(5), "the upstream call went on after the client left"


# ------------------------------------------------------------------------------ images
def _image(url: str, role: str = "user") -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": role, "content": [{"type": "image_url", "image_url": {"url": url}}]}]}


PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/", "http://example.com/a.png",
     "https://169.254.169.254/x.png", "https://127.0.0.1/x.png", "https://10.1.2.3/x.png", "https://[::1]/x.png",
     "https://localhost/x.png", "ftp://example.com/a.png", "gopher://x", "/etc/passwd", "data:text/html,<b>"],
)  # fmt: skip
def test_image_urls_outside_the_allowed_schemes_are_refused(upstream: tuple[FakeUpstream, str], url: str) -> None:
    fake, up = upstream
    before = fake.calls
    with upstream_gateway(up) as gw:
        r = post(gw, _image(url))
    assert r.status_code == 400 and r.json()["error"]["code"] == "image_url_not_allowed", r.text
    assert fake.calls == before


def test_allowed_image_urls_pass_and_the_operator_can_narrow_them(upstream: tuple[FakeUpstream, str]) -> None:
    fake, up = upstream
    with upstream_gateway(up) as gw:
        assert post(gw, _image(PNG)).status_code == 200
        assert post(gw, _image("https://example.com/a.png")).status_code == 200
    assert fake.requests[-1]["messages"][0]["content"][0]["image_url"]["url"] == "https://example.com/a.png"
    with upstream_gateway(up, image_url_schemes=("data",)) as gw:
        r = post(gw, _image("https://example.com/a.png"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "image_url_not_allowed"


def test_images_in_every_message_count_toward_the_page_limit(upstream: tuple[FakeUpstream, str]) -> None:
    fake, up = upstream
    before = fake.calls
    images = [{"type": "image_url", "image_url": {"url": PNG}}] * 3
    body = {"messages": [{"role": "assistant", "content": images}, {"role": "user", "content": "hi"}]}
    with upstream_gateway(up, max_pages=2) as gw:
        r = post(gw, body)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pages", r.text
    assert fake.calls == before


# ------------------------------------------------------------------------------ cache oracle
def test_no_client_can_learn_what_another_sent(upstream: tuple[FakeUpstream, str]) -> None:
    """The reply to a document must not say whether someone else sent it first."""
    with upstream_gateway(upstream[1]) as gw:
        first = post(gw, doc_body(ESSAYS[200_000:230_000])).json()
        second = post(gw, doc_body(ESSAYS[200_000:230_000])).json()
    assert first["glyph"] == second["glyph"]
    assert "cached_parts" not in second["glyph"]  # hit rates live on the authenticated stats route

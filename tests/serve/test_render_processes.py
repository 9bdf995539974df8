"""Rendering in worker processes (``glyph serve``'s default): same pages, same errors, caches in the workers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from loopback import FakeUpstream, completion, decode_data_url, json_response, upstream_gateway

from glyph.data import demo_text, synthetic_conversation
from glyph.render import render_pages
from glyph.render.config import reference_default

DOC = demo_text()[:20_000]


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(lambda body, n: json_response(completion("ok")))
    with fake.running() as up, upstream_gateway(up, render_processes=True, max_pages=4) as gw:
        yield fake, gw


def test_pages_come_from_another_process_and_match_the_renderer(gateway: tuple[FakeUpstream, str]) -> None:
    fake, gw = gateway
    part = {"type": "text", "text": DOC, "glyph": {"render": True}}
    r = httpx.post(gw + "/v1/chat/completions", json={"messages": [{"role": "user", "content": [part]}]}, timeout=60)
    assert r.status_code == 200, r.text
    got = [decode_data_url(p["image_url"]["url"]) for p in fake.requests[-1]["messages"][0]["content"]]
    expected = [p.image for p in render_pages(DOC, reference_default())]
    assert [g.convert("RGB").tobytes() for g in got] == [e.convert("RGB").tobytes() for e in expected]
    stats = httpx.get(gw + "/v1/glyph/stats").json()
    assert stats["render_workers"] and os.getpid() not in stats["render_workers"]
    ours = os.getpriority(os.PRIO_PROCESS, 0)  # the gateway runs in this process, at our niceness
    assert all(os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + 10) for pid in stats["render_workers"])
    assert stats["page_cache"]["entries"] >= 1


def test_limits_raised_in_a_worker_reach_the_client_as_they_are(gateway: tuple[FakeUpstream, str]) -> None:
    _, gw = gateway
    part = {"type": "text", "text": demo_text()[:200_000], "glyph": {"render": True}}
    r = httpx.post(gw + "/v1/chat/completions", json={"messages": [{"role": "user", "content": [part]}]}, timeout=60)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pages"


def test_a_conversation_keeps_its_pages_across_workers(gateway: tuple[FakeUpstream, str]) -> None:
    fake, gw = gateway
    conv = synthetic_conversation(6, tool_every=0)
    body = {"messages": [*conv, {"role": "user", "content": "so?"}], "glyph": {"keep_recent": 1}}
    seen = []
    for _ in range(3):
        assert httpx.post(gw + "/v1/chat/completions", json=body, timeout=60).status_code == 200
        parts = fake.requests[-1]["messages"][0]["content"]
        seen.append([p["image_url"]["url"] for p in parts if p["type"] == "image_url"])
    assert seen[0] and seen[0] == seen[1] == seen[2]
    assert httpx.post(gw + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                      timeout=30).status_code == 200  # fmt: skip

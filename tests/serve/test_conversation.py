"""The conversation policy over loopback: recent turns as text, history as append-only pages, budgets.

Expected values come from the messages the client sent (roles, order, text), from a second
gateway that never saw the conversation (same pages, byte for byte), from the renderer run
here, and from the offline OCR reading the pages back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from loopback import FakeUpstream, completion, decode_data_url, json_response, upstream_gateway
from rapidfuzz import fuzz

from glyph.data import synthetic_conversation
from glyph.render.config import reference_default
from glyph.serve.conversation import HISTORY_NOTE, TOOL_POINTER

CONV = synthetic_conversation(16, tool_every=4)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(lambda body, n: json_response(completion("ok")))
    with fake.running() as url:
        yield fake, url


def ask(gw: str, messages: list[dict[str, Any]], **glyph: Any) -> httpx.Response:
    body = {"model": "m", "messages": messages, **({"glyph": glyph} if glyph else {})}
    return httpx.post(gw + "/v1/chat/completions", json=body, timeout=60)


def turns(upto: int) -> list[dict[str, Any]]:
    """The conversation up to the ``upto``-th user message, ending with it (what a client sends)."""
    users = [i for i, m in enumerate(CONV) if m["role"] == "user"]
    return CONV[: users[upto - 1] + 1]


def split(sent: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(history page URLs, the forwarded messages with the history parts taken out)."""
    urls: list[str] = []
    rest: list[dict[str, Any]] = []
    for m in sent:
        content = m.get("content")
        if isinstance(content, list) and content and content[0].get("text") == HISTORY_NOTE:
            k = 1
            while k < len(content) and content[k]["type"] == "image_url":
                urls.append(content[k]["image_url"]["url"])
                k += 1
            own = content[k:]
            if not own:
                continue  # a history message of its own
            m = {**m, "content": own[0]["text"] if len(own) == 1 and m["role"] == "user" else own}
        rest.append(m)
    return urls, rest


def test_recent_messages_stay_text_and_older_turns_become_pages(upstream: tuple[FakeUpstream, str]) -> None:
    fake, up = upstream
    messages = turns(10)
    with upstream_gateway(up) as gw:
        r = ask(gw, messages, keep_recent=3, step=1)
    assert r.status_code == 200, r.text
    urls, rest = split(fake.requests[-1]["messages"])
    assert rest == messages[-3:]  # the last three messages, exactly as sent
    assert urls and all(u.startswith("data:image/png;base64,") for u in urls)
    conv = r.json()["glyph"]["conversation"]
    assert conv["history_messages"] == len(messages) - 3 and conv["history_pages"] == len(urls)
    sent_text = str(rest)
    assert "[turn 1]" not in sent_text and "[turn 8 reply]" not in sent_text  # compressed, not repeated
    usage = r.json()["glyph"]
    assert usage["visual_tokens"] < usage["text_tokens"]  # the history costs less as pages


def test_history_pages_never_change_as_the_conversation_grows(upstream: tuple[FakeUpstream, str]) -> None:
    """Append-only at page granularity: each turn's history is the last turn's, but its last page."""
    fake, up = upstream
    histories: list[list[str]] = []
    moved: list[int] = []
    with upstream_gateway(up) as gw:
        for t in range(3, 17):
            r = ask(gw, turns(t), keep_recent=2, step=4)
            assert r.status_code == 200, r.text
            histories.append(split(fake.requests[-1]["messages"])[0])
            moved.append(r.json()["glyph"]["conversation"]["history_messages"])
        stats = httpx.get(gw + "/v1/glyph/stats").json()
    assert len(histories[-1]) >= 5
    for before, after in zip(histories, histories[1:]):
        frozen = before[:-1]
        assert after[: len(frozen)] == frozen
    # while the boundary stays put (it moves 4 messages at a time), the history is the same, page for page
    still = [i for i in range(len(moved) - 1) if moved[i] == moved[i + 1]]
    assert still and all(histories[i] == histories[i + 1] for i in still)
    assert stats["page_cache"]["hits"] > 0
    # a gateway that never saw the conversation builds the very same pages
    with upstream_gateway(up) as cold:
        assert ask(cold, turns(16), keep_recent=2, step=4).status_code == 200
    assert split(fake.requests[-1]["messages"])[0] == histories[-1]


def test_the_first_pages_are_the_renderers_own(upstream: tuple[FakeUpstream, str]) -> None:
    """One message of history: its pages are exactly what render_pages draws for ``User: ...``."""
    from glyph.render import render_pages

    fake, up = upstream
    text = " ".join(f"word{i}" for i in range(3000))
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": "noted"},
                {"role": "user", "content": "and now?"}]  # fmt: skip
    with upstream_gateway(up) as gw:
        assert ask(gw, messages, keep_recent=2, step=1).status_code == 200
    urls, _ = split(fake.requests[-1]["messages"])
    expected = [p.image for p in render_pages(f"User: {text}", reference_default())]
    got = [decode_data_url(u) for u in urls]
    assert [g.size for g in got] == [e.size for e in expected]
    assert all(g.convert("RGB").tobytes() == e.convert("RGB").tobytes() for g, e in zip(got, expected))


def test_roles_turn_order_and_tool_calls_are_legible_to_the_offline_reader(
    upstream: tuple[FakeUpstream, str],
) -> None:
    from glyph.readers import get_reader
    from glyph.render.pages import RenderedPage
    from glyph.serve.conversation import ChainStats, PageChains, format_message
    from glyph.serve.documents import PageCache

    fake, up = upstream
    messages = [
        {"role": "user", "content": "Find the file that defines the render cache."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "grep", "arguments": '{"q": "cache"}'}}]},
        {"role": "tool", "tool_call_id": "call_7", "content": "raster.py: class RasterizerCache"},
        {"role": "assistant", "content": "It is defined in raster.py."},
        {"role": "user", "content": "Thanks. What bounds it?"},
    ]  # fmt: skip
    with upstream_gateway(up) as gw:
        assert ask(gw, messages, keep_recent=1, step=1, threshold_tokens=1).status_code == 200
    urls, rest = split(fake.requests[-1]["messages"])
    assert rest == messages[-1:] and len(urls) == 1
    # the same chain with its line boxes kept, so the offline reader reads line by line
    chains = PageChains(PageCache(1 << 30), lambda im: im, "check", lambda c: c.content_hash(), keep_lines=True)
    pages = chains.pages([format_message(m)[0] for m in messages[:-1]], reference_default(), 10, ChainStats())
    assert [p.payload.convert("RGB").tobytes() for p in pages] == [
        decode_data_url(u).convert("RGB").tobytes() for u in urls
    ]
    read = get_reader("ocr").transcribe([RenderedPage(p.payload, 0, p.lines) for p in pages])[0]
    expected = [
        "User: Find the file that defines the render cache.",
        'Assistant called grep({"q": "cache"}) [call_7]',
        "Tool (call_7): raster.py: class RasterizerCache",
        "Assistant: It is defined in raster.py.",
    ]
    lines = [line for line in read.splitlines() if line.strip()]
    found = [max(range(len(lines)), key=lambda i: fuzz.ratio(e, lines[i])) for e in expected]
    assert found == sorted(found), (found, lines)  # who said what, in order
    assert all(fuzz.ratio(e, lines[i]) >= 85 for e, i in zip(expected, found)), lines


def test_a_budget_is_met_or_the_413_names_the_smallest_budget_that_can_be(
    upstream: tuple[FakeUpstream, str],
) -> None:
    messages = turns(16)
    with upstream_gateway(upstream[1], conversation={"floor_dpi": 48, "step": 2}) as gw:
        plain = ask(gw, messages, keep_recent=8).json()["glyph"]["conversation"]
        roomy = ask(gw, messages, keep_recent=8, budget=10**6).json()["glyph"]["conversation"]
        assert roomy["estimated_prompt_tokens"] <= 10**6 and roomy["history_messages"] == plain["history_messages"]
        tight_budget = roomy["estimated_prompt_tokens"] // 2
        tight = ask(gw, messages, keep_recent=8, budget=tight_budget)
        assert tight.status_code == 200, tight.text
        tc = tight.json()["glyph"]["conversation"]
        assert tc["estimated_prompt_tokens"] <= tight_budget
        assert tc["history_messages"] > plain["history_messages"] or min(s["dpi"] for s in tc["segments"]) < 72
        r = ask(gw, messages, keep_recent=8, budget=100)
        assert r.status_code == 413 and r.json()["error"]["code"] == "budget_too_small", r.text
        smallest = int(r.json()["error"]["message"].split("can meet is ")[1].split(" ")[0].replace(",", ""))
        met = ask(gw, messages, keep_recent=8, budget=smallest)
        assert met.status_code == 200, met.text
        assert met.json()["glyph"]["conversation"]["estimated_prompt_tokens"] <= smallest
        assert {s["dpi"] for s in met.json()["glyph"]["conversation"]["segments"]} == {48}


def test_progressive_resolution_renders_older_segments_denser(upstream: tuple[FakeUpstream, str]) -> None:
    fake, up = upstream
    policy = {"floor_dpi": 40, "segment_pages": 1, "progressive_age": 1}
    with upstream_gateway(up, conversation=policy) as gw:
        r = ask(gw, turns(16), keep_recent=2, step=1, progressive=True)
    assert r.status_code == 200, r.text
    dpis = [s["dpi"] for s in r.json()["glyph"]["conversation"]["segments"]]
    assert dpis[-1] == 72 and dpis[0] == 40 and dpis == sorted(dpis)  # oldest first: densest first
    urls, _ = split(fake.requests[-1]["messages"])
    heights = [decode_data_url(u).height for u in urls]
    assert min(heights) < max(heights)


def test_a_long_recent_tool_output_becomes_pages_after_the_run_of_tool_results(
    upstream: tuple[FakeUpstream, str],
) -> None:
    fake, up = upstream
    long_output = " ".join(f"line {i} of the build log" for i in range(1500))
    calls = [{"id": f"c{i}", "type": "function", "function": {"name": "run", "arguments": "{}"}} for i in (1, 2)]
    messages = [
        {"role": "user", "content": "Build it."},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": long_output},
        {"role": "tool", "tool_call_id": "c2", "content": "ok"},
    ]
    with upstream_gateway(up) as gw:
        r = ask(gw, messages, keep_recent=10)
    assert r.status_code == 200, r.text
    sent = fake.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    pages = [p for p in sent[4]["content"] if p["type"] == "image_url"]
    assert sent[2]["content"] == TOOL_POINTER.format(pages=len(pages)) and sent[2]["tool_call_id"] == "c1"
    assert sent[3] == messages[3] and sent[4]["content"][0]["text"] == "Output of tool call c1:"
    assert r.json()["glyph"]["conversation"]["tool_output_pages"] == len(pages) >= 2


def test_a_long_system_prompt_becomes_the_first_pages_a_short_one_stays_text(
    upstream: tuple[FakeUpstream, str],
) -> None:
    fake, up = upstream
    long_system = "You follow these rules. " + " ".join(f"Rule {i}: be precise." for i in range(1200))
    with upstream_gateway(up) as gw:
        ask(gw, [{"role": "system", "content": "Be brief."}, *turns(12)], keep_recent=2)
        short = fake.requests[-1]["messages"]
        ask(gw, [{"role": "system", "content": long_system}, *turns(12)], keep_recent=2)
        long = fake.requests[-1]["messages"]
    assert short[0] == {"role": "system", "content": "Be brief."}
    assert long[0]["role"] == "user" and long[0]["content"][0]["text"] == HISTORY_NOTE
    assert all(m["role"] != "system" for m in long)
    assert len(split(long)[0]) > len(split(short)[0])


def test_the_policy_can_be_set_for_the_whole_server(upstream: tuple[FakeUpstream, str]) -> None:
    fake, up = upstream
    with upstream_gateway(up, conversation={"keep_recent": 3, "step": 1}) as gw:
        r = ask(gw, turns(10))
        assert r.json()["glyph"]["conversation"]["history_messages"] == len(turns(10)) - 3
        r = ask(gw, turns(10), keep_recent=5)  # a request overrides the server
        assert r.json()["glyph"]["conversation"]["history_messages"] == len(turns(10)) - 5
    with upstream_gateway(up) as gw:  # off by default: the request goes as before
        r = ask(gw, turns(10))
        assert "conversation" not in r.json()["glyph"] and fake.requests[-1]["messages"] == turns(10)


def test_an_image_in_the_history_follows_its_segment_in_order(upstream: tuple[FakeUpstream, str]) -> None:
    fake, up = upstream
    png = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJ"
           "RU5ErkJggg==")  # fmt: skip
    messages = [
        *turns(3),
        {"role": "assistant", "content": "Here is the chart."},
        {"role": "user", "content": [{"type": "text", "text": "Look at this:"}, {"type": "image_url", "image_url": {"url": png}}]},
        {"role": "assistant", "content": "It rises."},
        *turns(6)[len(turns(3)):],
    ]  # fmt: skip
    with upstream_gateway(up) as gw:
        r = ask(gw, messages, keep_recent=1, step=1, threshold_tokens=1)
    assert r.status_code == 200, r.text
    history = fake.requests[-1]["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in history if p["type"] == "image_url"]
    assert urls.count(png) == 1  # the client's image, once, between the pages of the segments around it
    k = urls.index(png)
    assert 0 < k < len(urls) - 1
    segments = r.json()["glyph"]["conversation"]["segments"]
    assert sum(s["pages"] for s in segments[: k]) <= k  # it comes right after the segment that holds its turn

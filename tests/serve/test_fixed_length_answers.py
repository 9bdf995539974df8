"""`glyph serve` on a local model honours vLLM's and SGLang's fixed-length extensions (``ignore_eos``,
``min_tokens``), which benchmarks use to time a known number of new tokens.

The tiny random model rarely emits end-of-sequence, so a scripted reader stands in for it: it
stops after one token unless generation was told to hold end-of-sequence back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import local_settings, serve_app

from glyph.readers.local_hf import Generation


class EarlyStopper:
    """Answers one token and a stop, unless ``min_new_tokens`` asks for more (then exactly that many)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def generate(self, conversations: list[Any], max_new_tokens: int = 512, **kw: Any) -> list[Generation]:
        self.calls.append({"max_new_tokens": max_new_tokens, **kw})
        n = kw.get("min_new_tokens") or 1
        return [Generation("word " * n, 5, n, "length" if n == max_new_tokens else "stop")]

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tiny_glm: Path) -> Iterator[tuple[str, EarlyStopper]]:
    from glyph.serve import create_app
    from glyph.serve.backends import LocalBackend

    reader = EarlyStopper()
    settings = local_settings(tiny_glm)
    with serve_app(create_app(settings, backend=LocalBackend(settings, reader=reader))) as url:
        yield url, reader


def chat(url: str, **body: Any) -> httpx.Response:
    body = {"model": "tiny-glm", "messages": [{"role": "user", "content": "Hello world ."}], **body}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=60)


@pytest.mark.parametrize(
    "extension, tokens", [({}, 1), ({"ignore_eos": True}, 9), ({"min_tokens": 6}, 6), ({"min_tokens": 0}, 1)]
)
def test_the_answer_is_held_to_the_requested_length(
    gateway: tuple[str, EarlyStopper], extension: dict[str, Any], tokens: int
) -> None:
    url, reader = gateway
    r = chat(url, max_tokens=9, **extension)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] == tokens
    assert reader.calls[-1]["max_new_tokens"] == 9


@pytest.mark.parametrize("bad", ["9", -1, True, 2.5])
def test_a_bad_min_tokens_is_a_400_naming_it(gateway: tuple[str, EarlyStopper], bad: Any) -> None:
    url, reader = gateway
    before = len(reader.calls)
    r = chat(url, max_tokens=4, min_tokens=bad)
    assert r.status_code == 400
    assert "min_tokens" in r.json()["error"]["message"]
    assert len(reader.calls) == before  # refused before any generation


def test_the_real_model_generates_the_held_length(glm_reader: Any) -> None:
    conversation = [{"role": "user", "content": "Hello world ."}]
    (gen,) = glm_reader.generate([conversation], 7, min_new_tokens=7)
    assert gen.completion_tokens == 7 and gen.finish_reason == "length"

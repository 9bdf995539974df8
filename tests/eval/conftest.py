"""Shared fixtures for the evaluation tests: the tokenizer, small RULER sets, fake readers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from glyph.readers.base import CHAT, Consumes, PromptFormat, Reader, ReaderAnswer
from glyph.render.config import RenderConfig, reference_default
from glyph.render.pages import RenderedPage
from glyph.tokens import get_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def tok():
    return get_tokenizer("qwen")


@pytest.fixture(scope="session")
def cfg() -> RenderConfig:
    return reference_default()


class WrongReader(Reader):
    """A 'VLM' that always answers the same wrong thing; counts its calls."""

    name = "always-wrong"
    answers = True

    def __init__(self, fail_after: int | None = None, exc: BaseException | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after
        self.exc = exc or KeyboardInterrupt()
        self.questions: list[str] = []
        self.page_counts: list[int] = []

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        return ["" for _ in pages]

    async def aanswer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise self.exc
        self.calls += 1
        self.questions.append(question)
        self.page_counts.append(len(pages))
        return ReaderAnswer("I could not find it.")


class EchoTextReader(Reader):
    """A text 'LLM' that answers with the whole text it was given (so niah scores 1)."""

    name = "echo-text"
    consumes = Consumes.TEXT
    answers = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.formats: list[PromptFormat] = []

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        raise AssertionError("a text reader must not be given pages")

    def answer_text(
        self,
        text: str,
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
        prompt_format: PromptFormat = CHAT,
    ) -> ReaderAnswer:
        self.seen.append((text, question))
        self.formats.append(prompt_format)
        return ReaderAnswer(text)


@pytest.fixture
def wrong_reader() -> WrongReader:
    return WrongReader()

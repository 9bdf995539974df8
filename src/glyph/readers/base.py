"""One interface for everything that reads rendered pages: OCR engines now, VLMs as they join.

Two verbs. ``transcribe`` returns the text of each page (what fidelity metrics compare with
the ground truth). ``answer`` takes pages plus a question and returns an answer (what the
evaluation runner scores); OCR readers cannot answer on their own and say so, the offline
evaluation wraps them with a task-aware extractor instead.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from glyph.render.pages import RenderedPage


class ReaderUnavailableError(RuntimeError):
    """A reader whose engine is not installed or not reachable; the message says how to get it."""


@dataclass(frozen=True)
class Usage:
    """Token usage as the backend counted it (None where it does not report a figure)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class ReaderAnswer:
    text: str
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    raw: dict[str, Any] | None = None  # the backend's own response, when there is one


class Reader(ABC):
    """Reads page images. Subclasses set ``name`` and implement at least ``transcribe``."""

    name: str = "reader"

    @abstractmethod
    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        """The text of each page, in order, lines separated by newlines."""

    def answer(
        self, pages: Sequence[RenderedPage], question: str, *, system: str | None = None, max_tokens: int = 512
    ) -> ReaderAnswer:
        """Answer ``question`` about the pages. OCR readers cannot; VLM readers override this."""
        raise NotImplementedError(
            f"reader {self.name!r} transcribes but does not answer questions; use a VLM reader, "
            "or glyph.eval's offline extractor on its transcription"
        )

    async def aanswer(
        self, pages: Sequence[RenderedPage], question: str, *, system: str | None = None, max_tokens: int = 512
    ) -> ReaderAnswer:
        """Async ``answer``; the default runs the blocking one in a worker thread."""
        return await asyncio.to_thread(self.answer, pages, question, system=system, max_tokens=max_tokens)

    def close(self) -> None:
        """Release engines, sessions or connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ReaderFactory = Callable[..., Reader]
_REGISTRY: dict[str, tuple[ReaderFactory, str]] = {}


def register_reader(name: str, factory: ReaderFactory, help: str) -> None:
    """Make a reader available by name to ``get_reader`` and the CLI's ``--reader``."""
    _REGISTRY[name] = (factory, help)


def reader_names() -> dict[str, str]:
    """Registered reader names and one line of help each."""
    _load_builtin_readers()
    return {name: help for name, (_, help) in sorted(_REGISTRY.items())}


def get_reader(name: str, **options: Any) -> Reader:
    """Build a reader by name, e.g. ``get_reader("ocr")`` or ``get_reader("tesseract", upscale=2)``."""
    _load_builtin_readers()
    try:
        factory, _ = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown reader {name!r}; known readers: {known}") from None
    return factory(**options)


def _load_builtin_readers() -> None:
    # importing the modules registers their readers; each imports its engine lazily
    import glyph.readers.local_hf
    import glyph.readers.ocr
    import glyph.readers.openai_http
    import glyph.readers.oracle
    import glyph.readers.text_baseline  # noqa: F401

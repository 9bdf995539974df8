"""Text-only baseline: the same question with the plain text, to a text LLM endpoint.

Why: Glyph's claim is "same answer, fewer prompt tokens". Asking a text model the same
question over the same document, on an OpenAI-compatible server that reports its own usage,
puts both answers and both prompt-token counts side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

from glyph.client import chat_messages
from glyph.readers.base import Consumes, ReaderAnswer
from glyph.readers.endpoint import ChatEndpointReader
from glyph.render.pages import RenderedPage


def document_prompt(text: str, question: str) -> str:
    """The user turn of the baseline: the document, a blank line, then the question."""
    return f"{text}\n\n{question}"


class TextBaselineReader(ChatEndpointReader):
    """Answers from the text itself; ``answer(pages, ...)`` uses the pages' ground-truth text."""

    name = "text"
    consumes = Consumes.TEXT

    async def aanswer_text(
        self, text: str, question: str, *, system: str | None = None, max_tokens: int = 512
    ) -> ReaderAnswer:
        return await self.chat(chat_messages(document_prompt(text, question), system), max_tokens)

    def answer_text(
        self, text: str, question: str, *, system: str | None = None, max_tokens: int = 512
    ) -> ReaderAnswer:
        """Ask about ``text`` (the original document, formatting intact: prefer this to pages)."""
        return self.run(lambda: self.aanswer_text(text, question, system=system, max_tokens=max_tokens))

    async def aanswer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        return await self.aanswer_text(_pages_text(pages), question, system=system, max_tokens=max_tokens)

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        """The text baseline reads the text itself: its "transcription" is the ground truth."""
        return [p.text for p in pages]


def _pages_text(pages: Sequence[RenderedPage]) -> str:
    if not pages or not any(p.lines for p in pages):
        raise ValueError(
            "the text baseline needs pages from glyph's renderer (they carry their text); "
            "or call answer_text(text, question)"
        )
    return "\n".join(p.text for p in pages)

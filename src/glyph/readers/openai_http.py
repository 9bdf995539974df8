"""VLM reader over the OpenAI chat API (vLLM, SGLang, ``glyph serve``, any compatible server).

Pages travel inside the request as base64 PNG data URLs (:mod:`glyph.client.content`), never
as file paths: the server may run elsewhere, and vLLM refuses local paths unless told
otherwise. An optional ``max_pixels`` cap downscales larger pages (aspect kept) before
encoding, for servers whose image budget is smaller than our pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from glyph.client import capped_size, chat_messages, image_part
from glyph.readers.base import OCR_PROMPT, ReaderAnswer
from glyph.readers.endpoint import ChatEndpointReader
from glyph.render.pages import RenderedPage


class OpenAIReader(ChatEndpointReader):
    """Sends pages (then the question) to a VLM behind an OpenAI-compatible ``/v1/chat/completions``."""

    name = "openai"

    def __init__(
        self,
        base_url: str = "http://localhost:8000/v1",
        model: str | None = None,
        api_key: str | None = None,
        max_pixels: int | None = None,
        concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 3,
        backoff_initial: float = 0.5,
        temperature: float | None = 0.0,
        ocr_prompt: str = OCR_PROMPT,
    ) -> None:
        super().__init__(
            base_url,
            model,
            api_key,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
            backoff_initial=backoff_initial,
            temperature=temperature,
        )
        if max_pixels is not None and max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
        self.max_pixels = max_pixels
        self.ocr_prompt = ocr_prompt

    def sent_sizes(self, pages: Sequence[RenderedPage]) -> list[tuple[int, int]]:
        """Pixel sizes of the pages as the server receives them (after the cap)."""
        return [capped_size(p.image.width, p.image.height, self.max_pixels) for p in pages]

    def messages(
        self, pages: Sequence[RenderedPage], question: str, system: str | None = None
    ) -> list[dict[str, Any]]:
        """Chat messages: the pages in order, then the question (Glyph's training layout)."""
        if not pages:
            raise ValueError("no pages to send")
        content = [image_part(p.image, self.max_pixels) for p in pages]
        return chat_messages([*content, {"type": "text", "text": question}], system)

    async def aanswer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        messages = await asyncio.to_thread(self.messages, pages, question, system)  # PNG encoding is CPU work
        return await self.chat(messages, max_tokens)

    async def atranscribe(self, pages: Sequence[RenderedPage], max_tokens: int = 4096) -> list[str]:
        """Each page read on its own, ``concurrency`` requests in flight."""
        answers = await asyncio.gather(
            *(self.aanswer([p], self.ocr_prompt, max_tokens=max_tokens) for p in pages)
        )
        return [a.text for a in answers]

    def transcribe(self, pages: Sequence[RenderedPage], max_tokens: int = 4096) -> list[str]:
        return self.run(lambda: self.atranscribe(pages, max_tokens))

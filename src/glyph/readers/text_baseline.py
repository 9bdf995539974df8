"""Text-only baseline: the same question with the plain text, to a text LLM endpoint.

Why: Glyph's claim is "same answer, fewer prompt tokens". Asking a text model the same
question over the same document, on an OpenAI-compatible server that reports its own usage,
puts both answers and both prompt-token counts side by side.

The prompt goes out as the :class:`~glyph.readers.base.PromptFormat` says: a chat turn by
default; a raw prompt to ``/v1/completions`` (vLLM and SGLang serve it) where a benchmark sends
its task without a chat template, as LongBench's ``pred.py`` does for six tasks, so the server
tokenizes exactly the official prompt. ``raw_prompts=False`` sends those as chat turns too, for
servers that only serve chat (the run then differs from the benchmark's setting; runs.json
records the option).
"""

from __future__ import annotations

from collections.abc import Sequence

from glyph.client import UpstreamHTTPError, chat_messages
from glyph.readers.base import CHAT, Consumes, PromptFormat, ReaderAnswer, no_system_in_raw_prompt, pages_text
from glyph.readers.endpoint import ChatEndpointReader
from glyph.render.pages import RenderedPage


def document_prompt(text: str, question: str, prompt_format: PromptFormat = CHAT) -> str:
    """The text the baseline sends: the document, the format's joiner (a blank line), the question."""
    return prompt_format.join(text, question)


class TextBaselineReader(ChatEndpointReader):
    """Answers from the text itself; ``answer(pages, ...)`` uses the pages' ground-truth text."""

    name = "text"
    consumes = Consumes.TEXT

    def __init__(
        self,
        base_url: str = "http://localhost:8000/v1",
        model: str | None = None,
        api_key: str | None = None,
        *,
        raw_prompts: bool = True,
        concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 3,
        backoff_initial: float = 0.5,
        temperature: float | None = 0.0,
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
        self.raw_prompts = raw_prompts

    async def aanswer_text(
        self,
        text: str,
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
        prompt_format: PromptFormat = CHAT,
    ) -> ReaderAnswer:
        prompt = document_prompt(text, question, prompt_format)
        if prompt_format.chat_template or not self.raw_prompts:
            return await self.chat(chat_messages(prompt, system), max_tokens, prompt_format.stop)
        no_system_in_raw_prompt(system, prompt_format)
        try:
            return await self.prompt(prompt, max_tokens, prompt_format.stop)
        except UpstreamHTTPError as exc:
            if exc.upstream_status in (404, 405):
                raise UpstreamHTTPError(
                    f"{exc.message} (this task is sent as a raw prompt, without a chat template, to "
                    "/v1/completions; for a server that serves chat only pass "
                    "--reader-opt raw_prompts=false)",
                    upstream_status=exc.upstream_status,
                    code=exc.code,
                ) from exc
            raise

    def answer_text(
        self,
        text: str,
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
        prompt_format: PromptFormat = CHAT,
    ) -> ReaderAnswer:
        """Ask about ``text`` (the original document, formatting intact: prefer this to pages)."""
        return self.run(
            lambda: self.aanswer_text(
                text, question, system=system, max_tokens=max_tokens, prompt_format=prompt_format
            )
        )

    async def aanswer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        return await self.aanswer_text(pages_text(pages), question, system=system, max_tokens=max_tokens)

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        """The text baseline reads the text itself: its "transcription" is the ground truth."""
        return [p.text for p in pages]

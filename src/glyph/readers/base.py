"""One interface for everything that reads rendered pages: OCR engines, VLMs, text baselines.

Two verbs. ``transcribe`` returns the text of each page (what fidelity metrics compare with
the ground truth). Answering depends on what a reader *consumes*, which each reader declares
(:class:`Consumes`, plus ``answers``), so callers such as the evaluation runner dispatch on the
declaration instead of probing for methods:

* ``PAGES``: ``answer(pages, question)``, a VLM (``openai``, ``transformers``); a pages reader
  that does not answer (``answers = False``: ``ocr``, ``oracle``) only transcribes;
* ``TEXT``: ``answer_text(text, question, prompt_format=...)``, a text LLM given the document
  itself (``text``, ``transformers-text``); the :class:`PromptFormat` says how the two go on the
  wire (what joins them, chat template or raw prompt, stop strings), as a benchmark prescribes;
* ``SAMPLE``: ``answer_sample(sample, pages)``, given the whole evaluation sample (the
  rule-based extractor of ``glyph.eval.extract``, which wraps a transcribing reader).

The declaration is checked when a subclass is defined: a reader that says it answers from
text must implement ``answer_text``.

Every reader has a ``revision``: what decides its output besides its name and options (the
weights' digest, the engine's version, its own code). Caches of what a reader read (the search's
read and score caches, the evaluation runner's resume) key by it next to
:func:`glyph.render.render_key`, so a new default ``ocr`` never serves an old one's reads.

Readers are built by name from a lazy registry (:data:`READERS`): the table below names the
built-in ones as ``"module:class"`` strings, so listing them imports no engine and this module
imports none of its concrete readers.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Self

from glyph.client.completion import Usage
from glyph.registry import Registry
from glyph.render.pages import RenderedPage

#: What VLM readers ask for each page when they transcribe.
OCR_PROMPT = "Transcribe all text in this image exactly as written, line by line. Output only the text."


class ReaderUnavailableError(RuntimeError):
    """A reader whose engine is not installed or not reachable; the message says how to get it."""


class Consumes(StrEnum):
    """What a reader answers from; the evaluation runner hands it exactly that."""

    PAGES = "pages"  # answer(pages, question): the rendered pages, the question as text
    TEXT = "text"  # answer_text(text, question): the document text itself, nothing rendered
    SAMPLE = "sample"  # answer_sample(sample, pages): the whole sample (its query) and its pages


@dataclass(frozen=True)
class PromptFormat:
    """How a text reader puts a document and its question on the wire, as a benchmark prescribes.

    Why: a score sits beside a published one only if the model read the published prompt byte
    for byte. ``joiner`` goes between document and question (official prompt files carry their
    own whitespace, so theirs is ``""``); ``chat_template=False`` sends the joined text as a raw
    prompt, no chat template (LongBench's trec, triviaqa, samsum, lsht, lcc, repobench-p: the
    ``/v1/completions`` endpoint, or the tokenizer on the text as is); ``stop`` ends the answer
    at any of these strings (LongBench's samsum: the first newline).
    """

    joiner: str = "\n\n"
    chat_template: bool = True
    stop: tuple[str, ...] = ()

    def join(self, document: str, question: str) -> str:
        """The prompt: document, joiner, question (an empty part and its joiner left out)."""
        return self.joiner.join(part for part in (document, question) if part)


#: the default: a chat turn of document, blank line, question
CHAT = PromptFormat()


def no_system_in_raw_prompt(system: str | None, fmt: PromptFormat) -> None:
    """Refuse a system prompt where there is no chat template to put it in."""
    if system and not fmt.chat_template:
        raise ValueError(
            "this prompt is sent without a chat template (the benchmark's rule for its task), "
            f"so it has no place for the system prompt {system[:60]!r}; drop --system for this benchmark"
        )


def pages_text(pages: Sequence[RenderedPage]) -> str:
    """The document behind glyph-rendered pages (their ground-truth text, joined by newlines),
    for text readers asked about pages."""
    if not pages or not any(p.lines for p in pages):
        raise ValueError(
            "a text reader needs pages from glyph's renderer (they carry their text); "
            "or call answer_text(text, question)"
        )
    return "\n".join(p.text for p in pages)


@dataclass(frozen=True)
class ReaderAnswer:
    text: str
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    raw: dict[str, Any] | None = None  # the backend's own response, when there is one


#: the method a reader must implement for each thing it consumes (either of a pair)
_ANSWER_METHODS = {
    Consumes.PAGES: ("answer", "aanswer"),
    Consumes.TEXT: ("answer_text", "aanswer_text"),
    Consumes.SAMPLE: ("answer_sample",),
}


@functools.cache
def code_revision(*owners: type | str) -> str:
    """A short digest of glyph's version and the source files of ``owners`` (classes, with the
    modules of their bases up to :class:`Reader`, or module names): the reader's own code.

    A change to that code, even one that changes no reading, starts new cache entries: a
    spurious miss costs time, a stale hit costs correctness (the same rule as ``render_key``).
    """
    import importlib

    import glyph

    files: set[str] = set()
    for owner in owners:
        mods = [importlib.import_module(owner)] if isinstance(owner, str) else [
            inspect.getmodule(c) for c in owner.__mro__ if isinstance(c, type) and issubclass(c, Reader)
        ]
        files |= {f for m in mods if m is not None and (f := getattr(m, "__file__", None))}
    h = hashlib.sha256(f"glyph {glyph.__version__}".encode())
    for path in sorted(files):
        h.update(b"\0" + path.rsplit("/", 1)[-1].encode() + b"\0")
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except OSError:  # no readable source (a zipped install): glyph's version stands in
            pass
    return h.hexdigest()[:16]


def package_version(dist: str) -> str:
    """``dist``'s installed version, or ``"absent"`` (a reader's engine, for its revision)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


class Reader(ABC):
    """Reads page images. Subclasses set ``name``, implement ``transcribe``, and declare what
    they answer from (``consumes``) and whether they answer at all (``answers``).

    ``revision`` says which reader this is beyond its name and options; the default digests
    the reader's own code, and readers with weights or an engine add those (see the module
    docstring for who keys by it)."""

    name: str = "reader"
    consumes: ClassVar[Consumes] = Consumes.PAGES
    answers: ClassVar[bool] = False  # False: transcribes only (wrap it in glyph.eval's extractor)
    eval_concurrency: ClassVar[int] = 4  # samples the evaluation runner keeps in flight by default

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.consumes, Consumes):
            raise TypeError(f"{cls.__name__}.consumes must be a glyph.readers.Consumes, got {cls.consumes!r}")
        if cls.consumes is not Consumes.PAGES and not cls.answers:
            raise TypeError(f"{cls.__name__} consumes {cls.consumes.value!r}, so it answers: set answers = True")
        if not cls.answers:  # else a VLM that forgot the flag would be wrapped in the OCR extractor
            implemented = [
                m for ms in _ANSWER_METHODS.values() for m in ms if getattr(cls, m) is not getattr(Reader, m)
            ]
            if implemented:
                raise TypeError(
                    f"{cls.__name__} implements {', '.join(implemented)} but declares answers = False: "
                    "set answers = True (and consumes, if it does not answer from pages)"
                )
        own = _ANSWER_METHODS[cls.consumes]
        if cls.answers and not any(getattr(cls, m) is not getattr(Reader, m) for m in own):
            raise TypeError(
                f"{cls.__name__} declares it answers from {cls.consumes.value!r} but implements none of "
                + ", ".join(_ANSWER_METHODS[cls.consumes])
            )

    @property
    def revision(self) -> str:
        """What decides this reader's output besides its name and options: here its own code."""
        return f"code {code_revision(type(self))}"

    @abstractmethod
    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        """The text of each page, in order, lines separated by newlines."""

    def answer(
        self, pages: Sequence[RenderedPage], question: str, *, system: str | None = None, max_tokens: int = 512
    ) -> ReaderAnswer:
        """Answer ``question`` about the pages (readers that consume ``PAGES`` and answer)."""
        raise NotImplementedError(
            f"reader {self.name!r} transcribes but does not answer questions; use a VLM reader, "
            "or glyph.eval's offline extractor on its transcription"
        )

    async def aanswer(
        self, pages: Sequence[RenderedPage], question: str, *, system: str | None = None, max_tokens: int = 512
    ) -> ReaderAnswer:
        """Async ``answer``; the default runs the blocking one in a worker thread."""
        return await asyncio.to_thread(self.answer, pages, question, system=system, max_tokens=max_tokens)

    def answer_text(
        self,
        text: str,
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
        prompt_format: PromptFormat = CHAT,
    ) -> ReaderAnswer:
        """Answer ``question`` about a document given as text (readers that consume ``TEXT``),
        sending ``prompt_format.join(text, question)`` as ``prompt_format`` says."""
        raise NotImplementedError(f"reader {self.name!r} does not read plain text (it consumes {self.consumes})")

    async def aanswer_text(
        self,
        text: str,
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
        prompt_format: PromptFormat = CHAT,
    ) -> ReaderAnswer:
        """Async ``answer_text``; the default runs the blocking one in a worker thread."""
        return await asyncio.to_thread(
            self.answer_text, text, question, system=system, max_tokens=max_tokens, prompt_format=prompt_format
        )

    def answer_sample(self, sample: Any, pages: Sequence[RenderedPage]) -> ReaderAnswer:
        """Answer a ``glyph.eval.Sample`` from its pages (readers that consume ``SAMPLE``)."""
        raise NotImplementedError(f"reader {self.name!r} does not answer whole samples (it consumes {self.consumes})")

    def close(self) -> None:
        """Release engines, sessions or connections."""

    async def aclose(self) -> None:
        """Release what this event loop holds (connection pools); an async run ends with it."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ReaderFactory = Callable[..., Reader]

#: Every reader by name. Built-in ones are imported on first use; see glyph.registry for plugins.
READERS: Registry[Reader] = Registry(
    "reader", base=Reader, unavailable=ReaderUnavailableError, group="glyph.readers"
)
READERS.builtin(
    "ocr",
    "glyph.readers.ocr:GlyphLineReader",
    "default offline reader: each layout line box read by glyph's compact recogniser (pip only)",
)
READERS.builtin(
    "ocr-pixels",
    "glyph.readers.ocr:PixelLineReader",
    "the default recogniser on lines found from the pixels alone (not told the layout)",
)
READERS.builtin(
    "ppocr",
    "glyph.readers.ocr:LineOCRReader",
    "PP-OCRv4 recognition on each layout line box (the previous default)",
)
READERS.builtin(
    "rapidocr-page",
    "glyph.readers.ocr:PageOCRReader",
    "RapidOCR whole-page detection + recognition (for comparison)",
)
READERS.builtin(
    "tesseract",
    "glyph.readers.ocr:TesseractReader",
    "Tesseract --psm 6, 2x upscale under 12 px/em (apt tesseract-ocr)",
)
READERS.builtin(
    "oracle",
    "glyph.readers.oracle:OracleReader",
    "ground truth of each page (upper bound; needs glyph-rendered pages)",
)
READERS.builtin(
    "openai",
    "glyph.readers.openai_http:OpenAIReader",
    "VLM behind an OpenAI-compatible API (vLLM, SGLang, glyph serve); options base_url, model, api_key, "
    "max_pixels, concurrency, timeout",
)
READERS.builtin(
    "text",
    "glyph.readers.text_baseline:TextBaselineReader",
    "text-only baseline: the plain text to a text LLM behind an OpenAI-compatible API; "
    "options base_url, model, api_key, concurrency, timeout",
)
READERS.builtin(
    "transformers",
    "glyph.readers.local_hf:TransformersReader",
    "local VLM checkpoint via transformers (AutoModelForImageTextToText); options model, device, dtype, "
    "batch_size",
)
READERS.builtin(
    "transformers-text",
    "glyph.readers.local_hf:TransformersTextReader",
    "text-only baseline on a local checkpoint (a causal LM or a VLM) via transformers; options model, "
    "device, dtype, batch_size",
)


def register_reader(name: str, factory: ReaderFactory | str, help: str) -> None:
    """Make a reader available by name to ``get_reader`` and the CLI's ``--reader``: a factory
    (usually the class) or a ``"module:attr"`` string imported on first use."""
    READERS.register(name, factory, help)


def reader_names() -> dict[str, str]:
    """Registered reader names and one line of help each (imports no reader)."""
    return READERS.names()


def get_reader(name: str, **options: Any) -> Reader:
    """Build a reader by name, e.g. ``get_reader("ocr")`` or ``get_reader("tesseract", upscale=2)``."""
    return READERS.create(name, **options)

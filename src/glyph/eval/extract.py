"""The offline extractor: answers from a transcription with task rules. A legibility bound.

No language model is involved. A reader transcribes the pages (``ocr`` by default; ``oracle``
gives the ground truth), and a rule per task reads the answer out of that text:

* niah: find each asked key, take the first value of the asked kind (number, UUID,
  adjective-noun word) after it;
* vt: parse ``VAR X = ...`` assignments and follow the chains from the asked value;
* cwe / fwe: count the listed / coded words and return the most frequent ones;
* mrcr: find the N-th user request of the asked kind and return the prefix plus the reply
  after it.

Other tasks (LongBench's QA, summaries, code) get an empty answer: they need a model.
So the accuracy of ``<reader>-extract`` measures how much of the evidence the pixels still
carry at a rendering config, an upper bound for any model reading through that reader;
it is never a model's accuracy, and reports label it as a legibility bound.

The extractor reads ``sample.metadata['query']`` (what the question asks: keys, the value to
trace, how many words), never the answers.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from glyph.eval.sample import Sample
from glyph.readers.base import Consumes, Reader, ReaderAnswer, code_revision, get_reader
from glyph.render.pages import RenderedPage

_VALUE = {
    "numbers": re.compile(r"(?<![\w-])\d+(?![\w-])"),
    "uuids": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE),
    "words": re.compile(r"(?<![\w-])[a-z]+-[a-z]+(?![\w-])", re.IGNORECASE),
}
#: how far after a key its value may start (characters of whitespace-collapsed text)
VALUE_WINDOW = 120


def _flat(text: str) -> str:
    return " ".join(text.split())


def extract_niah(text: str, keys: Sequence[str], kind: str) -> str:
    """The values that follow each key (in key order, duplicates dropped), comma-separated."""
    flat = _flat(text)
    pattern = _VALUE[kind]
    found: list[str] = []
    for key in keys:
        for m in re.finditer(rf"(?<![\w-]){re.escape(key)}(?![\w-])", flat, re.IGNORECASE):
            value = pattern.search(flat, m.end(), m.end() + VALUE_WINDOW)
            if value and value.group(0) not in found:
                found.append(value.group(0))
    return ", ".join(found)


_ASSIGN = re.compile(r"VAR\s+([A-Z]+)\s*=\s*(?:VAR\s+([A-Z]+)|(\d+))")


def extract_vt(text: str, value: str) -> str:
    """Every variable that holds ``value`` directly or through a chain, space-separated."""
    sources: list[tuple[str, str]] = [(m.group(1), m.group(2) or m.group(3)) for m in _ASSIGN.finditer(text)]
    holders: list[str] = [name for name, src in sources if src == value]
    grew = True
    while grew:
        grew = False
        for name, src in sources:
            if src in holders and name not in holders:
                holders.append(name)
                grew = True
    return " ".join(holders)


def top_words(words: Sequence[str], top: int) -> list[str]:
    """The ``top`` most frequent words (ties: first seen first)."""
    return [w for w, _ in Counter(words).most_common(top)]


_LISTED = re.compile(r"\d+\.\s+([^\s\d]+)")


def extract_cwe(text: str, top: int) -> str:
    """The most common words of a numbered list ``1. word 2. word ...``."""
    return ", ".join(top_words([w.strip(".,;:") for w in _LISTED.findall(text)], top))


def extract_fwe(text: str, top: int, ignore: str = "...") -> str:
    """The most frequent coded words, dots left out."""
    words = [w for w in text.split() if w != ignore and w.strip(".")]
    return ", ".join(top_words(words, top))


_ORDINAL = re.compile(
    r"(\d+)(?:st|nd|rd|th)\b(?:\s*\(1 indexed\))?\s+(.+?)(?:\.\s|\.$|$)", re.IGNORECASE | re.DOTALL
)


def extract_mrcr(
    text: str, request: str, prefix: str, user: str = "User:", assistant: str = "Assistant:"
) -> str:
    """The prefix plus the assistant reply after the N-th user turn that asks for what ``request`` names."""
    m = _ORDINAL.search(request)
    if not m:
        return ""
    nth, wanted = int(m.group(1)), _flat(m.group(2)).lower()
    parts = re.split(rf"(?m)^\s*({re.escape(user)}|{re.escape(assistant)})", text)
    turns = [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    hits = 0
    for i, (label, body) in enumerate(turns):
        if label == user and wanted in _flat(body).lower():
            hits += 1
            if hits == nth:
                reply = next((b for lab, b in turns[i + 1 :] if lab == assistant), "")
                return prefix + reply
    return ""


def extract_answer(sample: Sample, transcript: str) -> str:
    """The extractor's answer for ``sample`` from the transcript of its pages ("" if unsupported)."""
    q: dict[str, Any] = sample.metadata.get("query") or {}
    family = sample.metadata.get("family") or sample.benchmark
    rules: dict[str, Callable[[], str]] = {
        "niah": lambda: extract_niah(transcript, q["keys"], q["kind"]),
        "vt": lambda: extract_vt(transcript, q["value"]),
        "cwe": lambda: extract_cwe(transcript, q["top"]),
        "fwe": lambda: extract_fwe(transcript, q["top"], q.get("ignore", "...")),
        "mrcr": lambda: extract_mrcr(transcript, q["request"], q["prefix"]),
    }
    rule = rules.get(family)
    return rule() if rule and q else ""


class ExtractReader(Reader):
    """``<reader>-extract``: an explicit wrapper that transcribes with ``inner`` and answers with
    :func:`extract_answer`.

    It consumes whole samples (``Consumes.SAMPLE``): the rules need the sample's query, so the
    runner calls ``answer_sample``; ``answer(pages, question)`` alone has nothing to extract for.
    Any reader can be wrapped (a VLM's transcription too); a transcribe-only one (``ocr``,
    ``oracle``) is wrapped automatically by :func:`resolve_reader`.
    """

    consumes = Consumes.SAMPLE
    answers = True
    eval_concurrency = 1  # CPU-bound: one sample's pages at a time

    def __init__(self, inner: Reader | str = "ocr", **options: Any) -> None:
        self.inner = get_reader(inner, **options) if isinstance(inner, str) else inner
        self.name = f"{inner if isinstance(inner, str) else self.inner.name}-extract"

    @property
    def revision(self) -> str:
        """The wrapped reader's revision and the extraction rules' code."""
        return f"{self.inner.revision}; extract {code_revision(type(self))}"

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        return self.inner.transcribe(pages)

    def answer_sample(self, sample: Sample, pages: Sequence[RenderedPage]) -> ReaderAnswer:
        start = time.perf_counter()
        transcript = "\n".join(self.inner.transcribe(pages))
        prediction = extract_answer(sample, transcript)
        return ReaderAnswer(
            prediction, seconds=time.perf_counter() - start, raw={"transcript_chars": len(transcript)}
        )

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


def resolve_reader(name: str, **options: Any) -> Reader:
    """A reader by name, ready for the runner: ``<reader>-extract`` wraps that reader's
    transcription in the extractor, and a reader that only transcribes (``ocr``, ``oracle``:
    ``answers`` is False) is wrapped the same way automatically."""
    if name.endswith("-extract"):
        return ExtractReader(name.removesuffix("-extract"), **options)
    reader = get_reader(name, **options)
    if reader.answers:
        return reader
    wrapped = ExtractReader(reader)
    wrapped.name = f"{name}-extract"
    return wrapped

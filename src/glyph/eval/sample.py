"""One evaluation item, whatever the benchmark: what gets rendered, what stays text, what is right.

The split matters for Glyph: only ``context`` becomes page images; ``instruction`` (task
wording and any few-shot examples) and ``question`` stay text, so a page reader gets
``pages + page_prompt`` and a text baseline gets ``text_prompt``, from the same sample.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from glyph.readers.base import PromptFormat

_LENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_length(spec: str | int) -> int:
    """``"8k"`` -> 8192, ``"1m"`` -> 1048576, ``"4096"`` -> 4096 (RULER's power-of-two lengths)."""
    if isinstance(spec, int):
        return spec
    m = _LENGTH.match(spec)
    if not m:
        raise ValueError(f"not a length: {spec!r} (use e.g. 4096, 8k, 128k, 1m)")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def parse_lengths(spec: str) -> list[int]:
    """A comma-separated list of lengths, e.g. ``"4k,8k,128k"``."""
    return [parse_length(part) for part in spec.split(",") if part.strip()]


def length_label(tokens: int) -> str:
    """The short name of a length: 8192 -> ``"8k"``, 1048576 -> ``"1m"``, 5000 -> ``"5000"``."""
    if tokens >= 1024 * 1024 and tokens % (1024 * 1024) == 0:
        return f"{tokens // (1024 * 1024)}m"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    return str(tokens)


def bucket_for(tokens: int, floor: int = 4096) -> str:
    """Bucket of a measured length: the smallest power of two >= tokens (at least ``floor``).

    RULER samples carry their target length; LongBench and MRCR samples get this, so that
    every benchmark's accuracy can be read against the same 4k, 8k, 16k, ... axis.
    """
    size = floor
    while size < tokens:
        size *= 2
    return length_label(size)


def range_bin(tokens: int, first: int = 8192) -> str:
    """MRCR's bins as the Glyph paper reports them: ``0-8k``, ``8k-16k``, ``16k-32k``, ... (upper bound inclusive)."""
    if tokens <= first:
        return f"0-{length_label(first)}"
    hi = first
    while hi < tokens:
        hi *= 2
    return f"{length_label(hi // 2)}-{length_label(hi)}"


def longbench_e_bin(words: int) -> str:
    """LongBench-E's length interval of a record (its ``length`` field, in words): ``0-4k``, ``4-8k``, ``8k+``."""
    if words < 4000:
        return "0-4k"
    return "4-8k" if words < 8000 else "8k+"


def bucket_key(bucket: str) -> tuple[int, str]:
    """Sort key of a bucket label by its length in tokens: ``8k``; ranges by their upper end; ``8k+`` after ``4-8k``."""
    label = bucket.strip()
    try:
        if label.endswith("+"):
            return (parse_length(label[:-1]) + 1, bucket)
        if "-" in label:
            return (parse_length(label.rsplit("-", 1)[1]), bucket)
        return (parse_length(label), bucket)
    except ValueError:
        return (1 << 62, bucket)


@dataclass(frozen=True)
class Sample:
    """An evaluation item. ``metadata['query']`` holds what the question asks, machine-readable.

    ``metadata['query']`` never holds the answer: it is what a reader is told anyway (the key,
    the value to trace, how many words), so the offline extractor can use it without parsing
    prompt wording that users may replace.
    """

    id: str
    task: str
    length: int  # RULER: the target length in tokens; others: the measured prompt tokens
    context: str  # rendered into pages
    question: str  # text after the document
    answers: list[str]
    metric: str
    instruction: str = ""  # text before the document (few-shot examples included); never rendered
    max_new_tokens: int = 128
    benchmark: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: what joins instruction, context and question in the text prompt; ``""`` for official
    #: prompt files, whose parts carry the template's own whitespace (byte-equal prompts)
    joiner: str = "\n\n"
    #: the text shown next to the pages when a page-prompt file gives one (Glyph's
    #: ``dataset2vlmprompt.json``); ``None``: instruction and question
    page_question: str | None = None
    #: rendering-config keys (reference JSON format) this sample's data asks for, e.g. the
    #: per-record ``config`` of Glyph's evaluation sets; the run applies them over its config
    render: dict[str, Any] | None = None

    @property
    def bucket(self) -> str:
        """The length bucket results are grouped by."""
        return str(self.metadata.get("bucket") or length_label(self.length))

    def text_prompt(self) -> str:
        """The whole prompt as plain text: what a text LLM reads (and what the length counts)."""
        return self.joiner.join(part for part in (self.instruction, self.context, self.question) if part)

    def page_prompt(self) -> str:
        """The text a page reader reads next to the page images (everything but the context)."""
        if self.page_question is not None:
            return self.page_question
        return self.joiner.join(part for part in (self.instruction, self.question) if part)

    def text_reader_parts(self) -> tuple[str, str]:
        """``(document, question)`` for a text reader, which joins them with :meth:`prompt_format`'s joiner.

        Sent that way they are :meth:`text_prompt` byte for byte: with official prompts
        (``joiner == ""``) each part carries the template's own whitespace, so a template's
        single ``\\n`` before the question (LongBench's trec and lsht, RULER) stays one.
        """
        return self.joiner.join(p for p in (self.instruction, self.context) if p), self.question

    def prompt_format(self) -> PromptFormat:
        """How a text reader sends this sample: the joiner, and the benchmark's rules for its task
        (``metadata['chat_template'] = False``: a raw prompt; ``metadata['stop']``: stop strings)."""
        stop = self.metadata.get("stop") or ()
        return PromptFormat(
            joiner=self.joiner,
            chat_template=self.metadata.get("chat_template") is not False,
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
        )

    @property
    def content_hash(self) -> str:
        """Changes whenever anything the reader sees or the scorer uses changes (resume safety).

        Fields added after results were first recorded count only when they differ from their
        defaults, so results recorded before they existed are still found on resume.
        """
        data = self.to_dict()
        for name, default in _LATER_FIELDS.items():
            if data.get(name) == default:
                data.pop(name, None)
        payload = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(payload).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


#: fields added to ``Sample`` after the first recorded runs, with their defaults (see content_hash)
_LATER_FIELDS: dict[str, Any] = {"joiner": "\n\n", "page_question": None, "render": None}

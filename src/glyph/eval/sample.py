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

    @property
    def bucket(self) -> str:
        """The length bucket results are grouped by."""
        return str(self.metadata.get("bucket") or length_label(self.length))

    def text_prompt(self) -> str:
        """The whole prompt as plain text: what a text LLM reads (and what the length counts)."""
        return "\n\n".join(part for part in (self.instruction, self.context, self.question) if part)

    def page_prompt(self) -> str:
        """The text a page reader reads next to the page images (everything but the context)."""
        return "\n\n".join(part for part in (self.instruction, self.question) if part)

    @property
    def content_hash(self) -> str:
        """Changes whenever anything the reader sees or the scorer uses changes (resume safety)."""
        payload = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(payload).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})

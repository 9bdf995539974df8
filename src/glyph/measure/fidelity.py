"""Fidelity: how much of the drawn text a reader gets back, overall and per character class.

Character accuracy is ``1 - Levenshtein(truth, read) / len(truth)`` clamped to [0, 1];
word accuracy is the same over word sequences. Both are computed with rapidfuzz. Per-class
accuracy aligns the two strings (rapidfuzz ``Levenshtein.opcodes``) and counts, for every
ground-truth character of a class, whether it came back unchanged; "rare" characters are
those inside alphanumeric strings that mix letters and digits (UUIDs, hashes, codes), which
the literature names as the main failure of visual compression.

Whitespace is normalised before comparison (every run, newlines included, becomes one
space): a reader cannot be asked to count spaces in a justified line.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz.distance import Levenshtein

CHAR_CLASSES = ("letter", "digit", "punct", "cjk", "rare", "other")
_WS = re.compile(r"\s+")
#: A "rare" string: 5+ alphanumerics/hyphens containing both a letter and a digit (UUIDs, ids, hashes).
_RARE = re.compile(r"(?=[\w-]*\d)(?=[\w-]*[^\W\d_])[\w-]{5,}")


def normalize(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, trimmed."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _line_twin(text: str) -> str:
    """``normalize(text)`` with each whitespace run that held a line break kept as one newline.

    Same length and positions as the normalised text, so spans of one index the other: the
    alignment is computed on the normalised strings (what the scores count) and shown with
    the page's line breaks.
    """
    return _WS.sub(lambda m: "\n" if "\n" in m.group() else " ", unicodedata.normalize("NFC", text)).strip()


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # kana
        or 0x3400 <= cp <= 0x4DBF
        or 0x4E00 <= cp <= 0x9FFF
        or 0xAC00 <= cp <= 0xD7AF  # hangul
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x2FFFF
    )


def char_classes(text: str) -> list[str | None]:
    """Class of each character (None for spaces, which are not scored per class)."""
    rare = [False] * len(text)
    for m in _RARE.finditer(text):
        for i in range(m.start(), m.end()):
            rare[i] = True
    out: list[str | None] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            out.append(None)
        elif rare[i]:
            out.append("rare")
        elif _is_cjk(ch):
            out.append("cjk")
        elif ch.isdigit():
            out.append("digit")
        elif ch.isalpha():
            out.append("letter")
        elif unicodedata.category(ch).startswith(("P", "S")):
            out.append("punct")
        else:
            out.append("other")
    return out


@dataclass
class Fidelity:
    """Edit counts (sums, so documents aggregate exactly) and the accuracies they imply."""

    chars: int = 0  # ground-truth characters after normalisation
    char_edits: int = 0
    words: int = 0
    word_edits: int = 0
    class_total: dict[str, int] = field(default_factory=dict)
    class_kept: dict[str, int] = field(default_factory=dict)
    rare_strings: int = 0
    rare_strings_exact: int = 0
    pages: int = 0

    @property
    def char_accuracy(self) -> float:
        """1 - CER, clamped to [0, 1]; an empty truth read as empty scores 1, read as anything 0."""
        if self.chars == 0:
            return 1.0 if self.char_edits == 0 else 0.0
        return max(0.0, 1.0 - self.char_edits / self.chars)

    @property
    def word_accuracy(self) -> float:
        if self.words == 0:
            return 1.0 if self.word_edits == 0 else 0.0
        return max(0.0, 1.0 - self.word_edits / self.words)

    def class_accuracy(self) -> dict[str, float | None]:
        """Fraction of each class's characters read back unchanged (None where the class is absent)."""
        return {
            c: (self.class_kept.get(c, 0) / self.class_total[c]) if self.class_total.get(c) else None
            for c in CHAR_CLASSES
        }

    @property
    def rare_string_accuracy(self) -> float | None:
        return self.rare_strings_exact / self.rare_strings if self.rare_strings else None

    def __add__(self, other: Fidelity) -> Fidelity:
        keys = set(self.class_total) | set(other.class_total)
        return Fidelity(
            self.chars + other.chars,
            self.char_edits + other.char_edits,
            self.words + other.words,
            self.word_edits + other.word_edits,
            {k: self.class_total.get(k, 0) + other.class_total.get(k, 0) for k in keys},
            {k: self.class_kept.get(k, 0) + other.class_kept.get(k, 0) for k in keys},
            self.rare_strings + other.rare_strings,
            self.rare_strings_exact + other.rare_strings_exact,
            self.pages + other.pages,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "chars": self.chars,
            "char_accuracy": self.char_accuracy,
            "word_accuracy": self.word_accuracy,
            "class_accuracy": self.class_accuracy(),
            "rare_strings": self.rare_strings,
            "rare_string_accuracy": self.rare_string_accuracy,
        }


def score_text(truth: str, read: str) -> Fidelity:
    """Fidelity of one read-back against its ground truth (one page, or any pair of strings)."""
    truth, read = normalize(truth), normalize(read)
    classes = char_classes(truth)
    kept = [False] * len(truth)
    for tag, i1, i2, _j1, _j2 in Levenshtein.opcodes(truth, read):
        if tag == "equal":
            kept[i1:i2] = [True] * (i2 - i1)
    class_total: dict[str, int] = {}
    class_kept: dict[str, int] = {}
    for cls, ok in zip(classes, kept):
        if cls is None:
            continue
        class_total[cls] = class_total.get(cls, 0) + 1
        class_kept[cls] = class_kept.get(cls, 0) + ok
    rare = [m.group() for m in _RARE.finditer(truth)]
    read_words = set(re.findall(r"[\w-]+", read))
    truth_words, got_words = truth.split(), read.split()
    return Fidelity(
        chars=len(truth),
        char_edits=Levenshtein.distance(truth, read),
        words=len(truth_words),
        word_edits=Levenshtein.distance(truth_words, got_words),
        class_total=class_total,
        class_kept=class_kept,
        rare_strings=len(rare),
        rare_strings_exact=sum(r in read_words for r in rare),
        pages=1,
    )


@dataclass(frozen=True)
class Segment:
    """One stretch of an alignment: ``equal`` (read back right), ``replace`` (misread as ``read``),
    ``delete`` (dropped by the reader) or ``insert`` (``read`` has text the page does not)."""

    tag: Literal["equal", "replace", "delete", "insert"]
    truth: str  # ground-truth characters, line breaks kept ("" for an insertion)
    read: str  # what the reader returned for them ("" for a deletion)


def align(truth: str, read: str) -> list[Segment]:
    """The read-back aligned to the truth, character by character, as :func:`score_text` counts it.

    Both strings are normalised as for the scores (rapidfuzz ``Levenshtein.opcodes`` on the
    normalised pair), so the characters marked wrong add up to the character edit distance;
    the segments carry the original line breaks for display.
    """
    truth_norm, read_norm = normalize(truth), normalize(read)
    truth_lines, read_lines = _line_twin(truth), _line_twin(read)
    return [
        Segment(tag, truth_lines[i1:i2], read_lines[j1:j2])
        for tag, i1, i2, j1, j2 in Levenshtein.opcodes(truth_norm, read_norm)
    ]


def score_pages(truths: Sequence[str], reads: Sequence[str]) -> tuple[Fidelity, list[Fidelity]]:
    """Document fidelity (micro-averaged over pages) and each page's own."""
    if len(truths) != len(reads):
        raise ValueError(f"{len(truths)} ground-truth pages but {len(reads)} transcriptions")
    per_page = [score_text(t, r) for t, r in zip(truths, reads)]
    return total(per_page), per_page


def total(parts: Iterable[Fidelity]) -> Fidelity:
    out = Fidelity()
    for part in parts:
        out = out + part
    return out


def confusions(truth: str, read: str) -> Counter[tuple[str, str]]:
    """What a reader wrote in place of what was drawn: (drawn, read) pairs from the alignment.

    Both sides are normalised as for scoring and aligned with rapidfuzz's Levenshtein opcodes;
    every replaced span is one pair (``"01"`` read as ``"oi"`` is ``("01", "oi")``), a deletion
    pairs the lost text with ``""`` and an insertion pairs ``""`` with the extra text. Counters
    of several pages add up with ``+``.
    """
    truth, read = normalize(truth), normalize(read)
    out: Counter[tuple[str, str]] = Counter()
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(truth, read):
        if tag != "equal":
            out[(truth[i1:i2], read[j1:j2])] += 1
    return out

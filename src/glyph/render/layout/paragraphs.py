"""Paragraphs: source text -> the drawn strings reportlab sees, with a source offset per drawn character.

As the reference does: 30 source lines per paragraph (``paragraph-lines``; 0: the whole text in
one, as Glyph's evaluation renderers do) joined by the newline markup (a forced break, or an
inline marker), runs of 2+ spaces glued as NBSP, U+00AD/U+200B removed, tabs as ``tab-size``
glued spaces; ``reflow`` first joins hard-wrapped lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

import numpy as np

from glyph.render.config import RenderConfig
from glyph.render.layout.rules import BREAK, IGNORED, NBSP, WHITESPACE


@dataclass(slots=True)
class Paragraph:
    """One reportlab paragraph: drawn characters, their source offsets, and where it starts."""

    drawn: str
    src: np.ndarray  # int64 source offset of each drawn char (BREAK -> offset of its newline)
    start: int  # source offset where the paragraph begins
    end: int  # source offset after the paragraph (after its last newline, if any)
    marker: np.ndarray | None = None  # bool per drawn char: part of an inline newline marker
    # CJK: characters other than BREAK that end a line (a <br/> that reportlab's page split gave a
    # space for text: see cjk.split_rest)
    breaks: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class NewlineMarker:
    text: str  # drawn in place of a newline; empty means a forced break
    color: str | None
    # offsets in ``text`` where the markup has a tag: reportlab's whitespace cleaning works on the
    # markup, so a tag keeps the separators on its two sides apart (see cjk.cjk_clean)
    tags: tuple[int, ...] = ()

    @classmethod
    def parse(cls, markup: str) -> NewlineMarker:
        if re.fullmatch(r"\s*<br\s*/?>\s*", markup, flags=re.I):
            return cls("", None)
        color = re.search(r"color\s*=\s*[\"']?(#[0-9a-fA-F]{6})", markup)
        pieces, tags, pos = [], [], 0
        for k, piece in enumerate(re.split(r"(<[^>]*>)", markup)):
            if k % 2:
                tags.append(pos)
            else:
                pieces.append(unescape(piece))
                pos += len(pieces[-1])
        return cls("".join(pieces), color.group(1).upper() if color else None, tuple(tags))


def draws_no_line(para: Paragraph) -> bool:
    """Whether reportlab draws this paragraph with no line at all: separators around one ``<br/>``.

    With 30-line groups only the last group can be that (two source lines, both blank: a text ending
    in a blank line after a multiple of 30 lines); with ``paragraph-lines`` 2, any two blank lines. reportlab parses it into a single line-break fragment, and its
    single-fragment path breaks that into no line, where two breaks or any text give lines as usual.
    """
    drawn = para.drawn
    return drawn.count(BREAK) == 1 and not drawn.strip(WHITESPACE)


def reflow_text(text: str) -> str:
    """Join hard-wrapped lines: a newline between two non-blank lines becomes a space (same length)."""
    return re.sub(r"(?<=\S)([ \t]*)\n(?=[ \t]*\S)", lambda m: m.group(1) + " ", text)


_DOUBLE_SPACE = re.compile(r" {2,}")
_IGNORED = re.compile("[" + "".join(sorted(IGNORED)) + "]")


def _expand(
    drawn: str, src: np.ndarray, flags: np.ndarray, pattern: re.Pattern, replace_with
) -> tuple[str, np.ndarray, np.ndarray]:
    """Replace each match of one character by a string, keeping a source offset and flag per output char."""
    chunks: list[str] = []
    srcs: list[np.ndarray] = []
    flag_parts: list[np.ndarray] = []
    pos = 0
    for mt in pattern.finditer(drawn):
        k = mt.start()
        chunks.append(drawn[pos:k])
        srcs.append(src[pos:k])
        flag_parts.append(flags[pos:k])
        rep, flag = replace_with(drawn[k])
        chunks.append(rep)
        srcs.append(np.full(len(rep), src[k], dtype=np.int64))
        flag_parts.append(np.full(len(rep), flag, dtype=bool))
        pos = k + 1
    chunks.append(drawn[pos:])
    srcs.append(src[pos:])
    flag_parts.append(flags[pos:])
    return "".join(chunks), np.concatenate(srcs), np.concatenate(flag_parts)


def _glue_spaces(drawn: str) -> str:
    """Every run of two or more spaces as as many NBSP (``_DOUBLE_SPACE.sub`` without a call per run).

    Pairs first, then the odd space left at the end of a run, marked with a NUL the text lacks.
    """
    if "\0" in drawn:
        return _DOUBLE_SPACE.sub(lambda m: NBSP * len(m.group()), drawn)
    return drawn.replace("  ", "\0\0").replace("\0 ", "\0\0").replace("\0", NBSP)


def iter_paragraphs(text: str, cfg: RenderConfig) -> Iterator[Paragraph]:
    """Group source lines ``paragraph-lines`` at a time (30, as the reference; 0: all of them) into drawn strings.

    In ``<br/>`` mode the drawn string keeps the source's newlines as forced breaks, so a
    paragraph without tabs or deleted characters is the source slice with glued spaces as
    NBSP, and its offsets are a plain range.
    """
    work = reflow_text(text) if cfg.reflow else text
    marker = NewlineMarker.parse(cfg.newline_markup)
    newlines = [m.start() for m in re.finditer("\n", work)]
    starts = [0] + [p + 1 for p in newlines]
    ends = newlines + [len(work)]
    n_lines = len(starts)
    specials = "\t" if cfg.tab_size > 0 else ""
    if marker.text:
        specials += "\n"
    special = re.compile(f"[{specials}]") if specials else None

    def replacement(c: str) -> tuple[str, bool]:
        return (NBSP * cfg.tab_size, False) if c == "\t" else (marker.text, True)

    group = cfg.paragraph_lines or n_lines
    for g in range(0, n_lines, group):
        last = min(g + group, n_lines) - 1
        s, e = starts[g], ends[last]
        drawn = work[s:e]
        src = np.arange(s, e, dtype=np.int64)
        flags = None
        if any(c in drawn for c in IGNORED):  # deleted before the reference looks for double spaces
            drawn, src, _ = _expand(drawn, src, np.zeros(len(drawn), bool), _IGNORED, lambda c: ("", False))
        if "  " in drawn:
            drawn = _glue_spaces(drawn)
        if special is not None and any(c in drawn for c in specials):
            drawn, src, flags = _expand(drawn, src, np.zeros(len(drawn), bool), special, replacement)
            if not flags.any():
                flags = None
        yield Paragraph(drawn=drawn, src=src, start=s, end=e + 1 if last < len(newlines) else len(work), marker=flags)

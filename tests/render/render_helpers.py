"""Shared helpers for the render tests (imported as a top-level module: pytest puts this folder on sys.path)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

from glyph.render.config import FRAME_PADDING_PT, RenderConfig
from glyph.render.layout import IGNORED, NBSP, WHITESPACE, Layout, NewlineMarker, reflow_text

# what layout treats as separators in the source (plus the newline and NBSP, which are drawn as spaces)
SPACES = frozenset(WHITESPACE) | {"\n", NBSP}


def visible(chars: str) -> Counter:
    """Multiset of the characters that must be drawn: no separators, no removed characters."""
    return Counter(c for c in chars if c not in SPACES and c not in IGNORED)


def joiner_positions(text: str, cfg: RenderConfig) -> list[int]:
    """Source offsets of the newlines drawn as inline markers (none for '<br/>').

    The reference joins 30 source lines (``paragraph-lines``) per paragraph with the markup, so
    every newline but each 30th is a joiner (all of them with ``paragraph-lines`` 0); with
    reflow, newlines inside a paragraph have become spaces first.
    """
    if not NewlineMarker.parse(cfg.newline_markup).text:
        return []
    work = reflow_text(text) if cfg.reflow else text
    newlines = [i for i, c in enumerate(work) if c == "\n"]
    group = cfg.paragraph_lines
    return [p for k, p in enumerate(newlines) if not group or (k + 1) % group != 0]


def marker_chars(text: str, cfg: RenderConfig) -> Counter:
    """Characters drawn for all the inline newline markers of ``text``."""
    per = visible(NewlineMarker.parse(cfg.newline_markup).text)
    n = len(joiner_positions(text, cfg))
    return Counter({c: k * n for c, k in per.items()})


def check_layout(text: str, cfg: RenderConfig, layout: Layout) -> None:
    """The invariants every layout must satisfy (see tests/render/test_layout_properties.py)."""
    lines = layout.lines
    assert layout.text_length == len(text)
    # spans partition the input, in order
    assert "".join(text[line.start : line.end] for line in lines) == text
    starts = [line.start for line in lines]
    assert starts == sorted(starts)
    if lines:
        assert lines[0].start == 0 and lines[-1].end == len(text)
    # page structure
    for i, page in enumerate(layout.pages):
        assert page.index == i
        assert page.is_last == (i == len(layout.pages) - 1)
        for line in page.lines:
            assert 0 < line.baseline <= cfg.page_size[1] - cfg.margin_y - FRAME_PADDING_PT + 1e-6
        baselines = [line.baseline for line in page.lines]
        assert baselines == sorted(baselines)
    # every character of a line's span that must be drawn is drawn on that line, and nothing else is,
    # apart from the inline markers of the newlines in the span
    per_marker = visible(NewlineMarker.parse(cfg.newline_markup).text)
    joiners = joiner_positions(text, cfg)
    drawn_total: Counter = Counter()
    for line in lines:
        n_markers = bisect_left(joiners, line.end) - bisect_left(joiners, line.start)
        expected = visible(text[line.start : line.end]) + Counter({c: k * n_markers for c, k in per_marker.items()})
        got = visible(line.text)
        assert got == expected, (line, text[line.start : line.end])
        drawn_total += got
    assert drawn_total == visible(text) + marker_chars(text, cfg)


def check_marker_ranges(text: str, cfg: RenderConfig, layout: Layout) -> None:
    """Characters drawn in the marker colour are marker characters, and all marker characters are."""
    per_marker = visible(NewlineMarker.parse(cfg.newline_markup).text)
    joiners = joiner_positions(text, cfg)
    for line in layout.lines:
        in_marker = [False] * len(line.text)
        for a, b in line.marker:
            for k in range(a, b):
                in_marker[k] = True
        marked = visible("".join(c for c, m in zip(line.text, in_marker) if m))
        n_markers = bisect_left(joiners, line.end) - bisect_left(joiners, line.start)
        assert marked == Counter({c: k * n_markers for c, k in per_marker.items()}), line

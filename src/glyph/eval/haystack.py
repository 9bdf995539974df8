"""Haystacks and fitting them to a token budget.

RULER sizes each haystack so that the whole prompt (plus the tokens the answer may take)
fits the target length, measured with the model's tokenizer. ``fit_size`` does the same
search with interpolation (token counts grow almost linearly with haystack size), so a 1M
token sample costs a handful of tokenizer passes instead of twenty.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Callable

#: RULER's repeated-noise haystack: one sentence, repeated.
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

#: RULER places needles at depths drawn (without replacement) from 40 evenly spaced percentages.
DEPTHS = tuple(round(i * 100 / 39) for i in range(40))


@functools.cache
def essay_words() -> tuple[str, ...]:
    """The Paul Graham essays as one stream of words (whitespace collapsed), RULER's essay haystack."""
    from glyph.data.essays import essay_texts

    return tuple(" ".join(text for _, text in essay_texts()).split())


@functools.cache
def _essay_split(copies: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Sentences of the essay stream repeated ``copies`` times, and cumulative word counts."""
    sentences = tuple(_SENTENCE_END.split(" ".join(essay_words() * copies)))
    return sentences, tuple(itertools.accumulate(len(s.split(" ")) for s in sentences))


def essay_sentences(n_words: int) -> list[str]:
    """The first ``n_words`` essay words (repeating the essays if needed), split into sentences.

    The same as splitting the truncated text (a split only looks at its neighbourhood), but
    the split is cached, so fitting a 1M-token haystack does not re-split it at every step.
    """
    if n_words <= 0:
        return []
    copies = -(-n_words // len(essay_words()))
    sentences, ends = _essay_split(copies)
    i = bisect.bisect_left(ends, n_words)  # the sentence holding word n_words
    before = ends[i - 1] if i else 0
    return [*sentences[:i], " ".join(sentences[i].split(" ")[: n_words - before])]


def insert_at_depths(units: list[str], items: list[str], depths: list[float]) -> list[str]:
    """Insert ``items`` into ``units`` at fractional depths (0 = start, 1 = end), order kept.

    Items at equal depth keep their given order, so a variable chain stays in assignment order.
    """
    if len(items) != len(depths):
        raise ValueError("one depth per item")
    order = sorted(range(len(items)), key=lambda i: (depths[i], i))
    out: list[str] = []
    prev = 0
    for i in order:
        pos = min(len(units), max(0, int(len(units) * depths[i])))
        out.extend(units[prev:pos])
        out.append(items[i])
        prev = max(prev, pos)
    out.extend(units[prev:])
    return out


def fit_size(tokens_at: Callable[[int], int], budget: int, lo: int = 1, max_size: int = 1 << 26) -> int:
    """The largest size ``n >= lo`` with ``tokens_at(n) <= budget`` (``lo`` if even that is over).

    ``tokens_at`` should grow with ``n``. Interpolation between the bracket's ends finds the
    answer in a few evaluations; a bisection step whenever interpolation stalls keeps the
    worst case logarithmic.
    """
    t_lo = tokens_at(lo)
    if t_lo > budget:
        return lo
    # grow an upper bracket from the measured rate
    hi = max(lo + 1, int(lo + (budget - t_lo) / max(t_lo / max(lo, 1), 1e-9) * 1.1) + 1)
    t_hi = tokens_at(hi)
    while t_hi <= budget:
        if hi >= max_size:
            return hi
        lo, t_lo = hi, t_hi
        hi = min(max_size, hi * 2)
        t_hi = tokens_at(hi)
    bisect_next = False
    while hi - lo > 1:
        if bisect_next or t_hi == t_lo:
            mid = (lo + hi) // 2
        else:
            mid = lo + int((budget - t_lo) * (hi - lo) / (t_hi - t_lo))
            mid = min(hi - 1, max(lo + 1, mid))
        t_mid = tokens_at(mid)
        width = hi - lo
        if t_mid <= budget:
            lo, t_lo = mid, t_mid
        else:
            hi, t_hi = mid, t_mid
        # interpolation that shrank the bracket by less than half: bisect next time
        bisect_next = (hi - lo) * 2 > width and not bisect_next
    return lo

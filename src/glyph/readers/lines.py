"""Find text lines from the pixels alone: a reading that is not told where the layout put them.

The line-box readers crop the boxes the renderer knows, so tight or overlapping lines read
as well as airy ones, which a VLM is not told. :func:`find_lines` gets the same boxes from the
image only, from horizontal ink profiles:

1. ink: pixels far from their row's background (the row median, so tinted paragraphs,
   light-on-dark text and coloured ink all work); rules and borders (rows or columns that are
   ink almost end to end) are dropped;
2. pitch: the line spacing, the first peak of the row profile's autocorrelation that behaves as
   a period (:func:`estimate_pitch`);
3. lines: each line's x-height band is a local maximum of the profile smoothed over half the
   pitch; its baseline is the steepest fall of the profile below that band. Strong humps on
   the line lattice are trusted (:func:`_anchors`); weak ones (a line of one narrow glyph) are
   looked for on the lattice itself (:func:`_filled`). The page is padded with blank rows first,
   so a last page cropped right at its last baseline still shows that line;
4. em: the x-height of the lines averaged together (:func:`x_height`), ~0.54 em in the Latin
   faces here;
5. boxes: 0.95 em above the baseline to 0.25 em below, as the renderer draws its own boxes,
   and from the first to the last ink column of the x-height band.

On generated pages (``tests/readers/test_lines.py``: DejaVu Sans/Serif/Mono at 7-14 pt, line
height font size + 0-3 pt, dpi 54-200, any alignment, margins, light or dark pages) the boxes
match the layout's one for one; it was checked on 4,000 draws of that property and 2,000 pages
of a harder variant with many one-glyph lines.

Lines whose x-height bands merge (line height below about two thirds of the font size) are
found as one; that is what the measurement in ``benchmarks/reader_speed.py`` is for.
"""

from __future__ import annotations

import itertools

import numpy as np

from glyph.render.pages import LineBox

#: x-height over em of DejaVu Sans/Serif/Mono and Liberation (0.52-0.56); boxes are set in ems.
X_HEIGHT_EM = 0.54
#: Box geometry of the renderer (glyph.render.raster.line_boxes): ascent and descent in em.
ASCENT, DESCENT = 0.95, 0.25
#: Lowest a glyph reaches under its baseline (DejaVu's descenders: 0.24 em), plus a margin.
DESCENT_MAX = 0.34
#: A hump of the row profile below this share of the page's median hump is a weak line (one
#: narrow glyph); weak lines are found on the line lattice instead (:func:`_filled`).
STRONG = 0.25
#: A pitch candidate must explain this share of what the best one's fold explains
#: (:func:`folded_share`): a page's true line period explains 0.5-0.8 of what folding at 2-3
#: lines does, half the line period (the x-band's two edges) 0.2-0.35.
FOLD_SHARE = 0.4
#: Share of a line's peak row ink that the rows of its x-height band keep (:func:`x_height`).
XBAND_LEVEL = 0.4


def ink_mask(gray: np.ndarray, min_contrast: int = 40) -> np.ndarray:
    """Boolean ink pixels of an 8-bit gray page: far from the row's median level, borders removed."""
    if gray.ndim != 2:
        raise ValueError(f"ink_mask needs a 2-D gray image, got shape {gray.shape}")
    g = gray.astype(np.int16)
    row_bg = np.median(g, axis=1, keepdims=True)
    spread = float(np.percentile(np.abs(g - row_bg), 99.5)) if g.size else 0.0
    threshold = max(min_contrast, 0.4 * spread)
    ink = np.abs(g - row_bg) > threshold
    if ink.size:
        ink[ink.mean(axis=1) > 0.85, :] = False  # horizontal rules / border edges
        ink[:, ink.mean(axis=0) > 0.7] = False  # vertical border edges
    return ink


def _smooth(signal: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return signal.astype(np.float64)
    kernel = np.ones(width) / width
    return np.convolve(signal, kernel, mode="same")


def _autocorrelation(signal: np.ndarray) -> np.ndarray:
    """Normalised (lag 0 = 1) linear autocorrelation of a mean-removed signal, by FFT."""
    n = len(signal)
    acf = np.fft.irfft(np.abs(np.fft.rfft(signal, 2 * n)) ** 2)[:n]
    return acf / acf[0]


def _refine_on_lattice(acf: np.ndarray, pitch: float, lo: int, hi: int) -> float:
    """Sub-row pitch from the autocorrelation peaks at 1, 2, 4, ... pitches (parabola through each)."""
    m = 1
    while True:
        a, b = max(lo, int(np.floor(m * pitch - 1.5))), min(hi - 1, int(np.ceil(m * pitch + 1.5)))
        if b - a < 2:
            return pitch
        i = a + int(np.argmax(acf[a : b + 1]))
        if not a < i < b:  # no peak inside the window: keep what the last one said
            return pitch
        y0, y1, y2 = acf[i - 1], acf[i], acf[i + 1]
        curvature = y0 - 2 * y1 + y2
        pitch = (i + (0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0)) / m
        if 2 * m * pitch + 2 >= hi:
            return pitch
        m *= 2


def _repeats(acf: np.ndarray, pitch: float, hi: int) -> bool:
    """Whether the autocorrelation peaks again at 2 and 3 times ``pitch`` (what lines do).

    The x-height band's own top and bottom rows make a peak at a lag shorter than the line
    spacing; lines repeat at every multiple of the spacing, that band does not: at its
    multiples the autocorrelation is no higher than half a lag before.
    """
    rows = np.arange(len(acf))
    return all(
        np.interp(m * pitch, rows, acf) > np.interp((m - 0.5) * pitch, rows, acf) for m in (2, 3) if m * pitch < hi - 1
    )


def folded_share(profile: np.ndarray, period: float) -> float:
    """Share of the profile's variance that its mean shape over one ``period`` explains, adjusted
    for chance (as adjusted R^2 is): a period a third of the page long has three rows per phase,
    and their mean "explains" a third of any profile; a line period has dozens."""
    p = profile.astype(np.float64) - profile.mean()
    n = len(p)
    bins = max(2, round(period))
    phase = np.minimum(bins - 1, ((np.arange(n) % period) / period * bins).astype(int))
    counts = np.bincount(phase, minlength=bins)
    means = np.bincount(phase, p, minlength=bins) / np.maximum(counts, 1)
    share = float((counts * means**2).sum() / max(float((p**2).sum()), 1e-12))
    return 1.0 - (1.0 - share) * (n - 1) / max(1, n - bins)


def _is_period(p: np.ndarray, acf: np.ndarray, pitch: float, hi: int, multiples: tuple[int, ...] = (2, 3)) -> bool:
    """Whether ``pitch`` is the line period rather than a part of it: the autocorrelation peaks
    again at its multiples (:func:`_repeats`), and folding the profile at it explains at least
    :data:`FOLD_SHARE` of what folding at those multiples does (half a line period, the
    x-band's two edges, loses the difference between a line's body and the gap under it)."""
    folds = [_best_fold(p, m * pitch) for m in multiples if m * pitch < hi]
    return _repeats(acf, pitch, hi) and (not folds or _best_fold(p, pitch) >= FOLD_SHARE * max(folds))


def _best_fold(p: np.ndarray, period: float) -> float:
    """:func:`folded_share` at the best period within half a row's drift over the page of ``period``:
    a fold is so sensitive to the period (0.01 row off on a 1000-row page of 10-row lines
    blurs it by a row) that an estimate's last digit would decide otherwise."""
    span = 0.5 * period / len(p)
    return max(folded_share(p, period + d) for d in np.linspace(-span, span, 9))


def estimate_pitch(profile: np.ndarray, min_pitch: float = 4.0) -> float | None:
    """Line spacing in rows (fractional), or None when the profile is too short or has no ink.

    1. The first strong peak of the profile's autocorrelation: the smallest lag at which the
       page lines up with itself (the strongest spectral peak alone can be the paragraph
       structure: a page of short paragraphs has more power at one cycle per block of lines than
       at one per line). A peak counts when it stands out from the trough before it, is the
       highest within -25%/+30% of its lag (rows of serifs and bars make side peaks two rows
       off) and reaches half the highest such peak; each such peak is refined to sub-row
       precision on its multiples (non-integer spacings, 15.5 px, need it), and the first that
       behaves as a period (:func:`_is_period`) is the pitch: a peak at the x-height (the band's
       top and bottom rows) does not.
    2. Tiny type at a fractional spacing (5.6 px) lands on whole rows unevenly, so its lines
       line up better every few lines than line to line; when the spectrum's strongest line
       frequency is a whole multiple of step 1's and that finer period behaves as a period
       against step 1's, the finer period is the pitch.
    """
    p = profile.astype(np.float64) - profile.mean()
    n = len(p)
    lo, hi = int(np.ceil(min_pitch)), n // 3
    if hi <= lo + 1 or not p.any():
        return None
    acf = _autocorrelation(p)
    lags = np.arange(lo, hi)
    peaks = lags[(acf[lags] > 0) & (acf[lags] >= acf[lags - 1]) & (acf[lags] > acf[lags + 1])]
    if not len(peaks):
        return None
    before = np.concatenate(([0], peaks[:-1]))
    prominence = np.array([acf[k] - acf[a : k + 1].min() for a, k in zip(before, peaks)])
    dominant = np.array([acf[k] >= acf[peaks[(peaks >= 0.75 * k) & (peaks <= 1.3 * k)]].max() for k in peaks])
    strong = (prominence >= 0.1) & dominant & (acf[peaks] >= 0.5 * acf[peaks].max())
    if not strong.any():
        return None
    candidates = [_refine_on_lattice(acf, float(k), lo, hi) for k in peaks[strong]]
    pitch = next((c for c in candidates if _is_period(p, acf, c, hi)), candidates[0])
    size = 8 * n  # zero padding: sub-row frequency resolution
    power = np.abs(np.fft.rfft(p, size)) ** 2
    freqs = np.fft.rfftfreq(size)
    usable = (freqs >= 1.0 / (1.1 * pitch)) & (freqs <= 1.0 / min_pitch)
    if usable.any():
        finer = float(1.0 / freqs[usable][np.argmax(power[usable])])
        k = pitch / finer
        if round(k) >= 2 and abs(k - round(k)) <= 0.03 * k and _is_period(p, acf, finer, hi, (round(k),)):
            return finer
    return pitch


def _local_maxima(signal: np.ndarray, distance: int, floor: float) -> list[int]:
    """Indices of local maxima above ``floor``, at least ``distance`` apart (the higher one wins)."""
    padded = np.concatenate(([-np.inf], signal, [-np.inf]))
    candidates = np.flatnonzero((signal > floor) & (signal >= padded[:-2]) & (signal > padded[2:]))
    kept: list[int] = []
    for i in sorted(candidates, key=lambda i: -signal[i]):
        if all(abs(i - k) >= distance for k in kept):
            kept.append(i)
    return sorted(kept)


def x_height(profile: np.ndarray, baselines: list[int], pitch: float, level: float = XBAND_LEVEL) -> float:
    """The page's x-height in rows: the run of rows right above the baseline that carry the line's body.

    The rows above each baseline, each line scaled to its own peak, are averaged over the lines
    (one line's profile is too ragged, and at low dpi its baseline row outweighs the rest so much
    that the steepest rise is the baseline itself); the x-height is the run of rows up from the
    baseline that stay at ``level`` of the average's peak or more, where the ascender-only rows
    above fall away. On generated pages (DejaVu Sans/Serif/Mono, dpi 54-200) this gives 0.44-0.76
    em against the faces' 0.52-0.56 (the spread is whole rows at 5 px/em).
    """
    reach = max(2, round(0.6 * pitch))
    rows = [profile[b - reach : b] for b in baselines if b >= reach]
    rows = [r / r.max() for r in rows if r.max() > 0]
    if not rows:  # no line has room above it: assume the common 1.2 em line spacing
        return max(1.0, X_HEIGHT_EM * pitch / 1.2)
    mean = np.mean(rows, axis=0)[::-1]  # mean[k]: k + 1 rows above the baseline
    body = mean >= level * mean.max()
    start = int(np.argmax(body))  # a found baseline can sit a row low: skip the empty rows under it
    below = np.flatnonzero(~body[start:])
    return float(start + (below[0] if len(below) else len(mean) - start))


def _anchors(found: list[tuple[float, int]], pitch: float) -> list[int]:
    """The baselines to trust, from (hump strength, baseline) pairs: full lines on the line lattice.

    Humps under :data:`STRONG` of the median are weak lines, left to :func:`_filled`. Strongest
    first, a baseline within 0.75 pitch of a kept one is the shoulder of that line, not a line;
    a half-strength hump (a short line, its smoothed hump pulled towards its neighbour) is kept
    only where it sits a whole number of pitches from the nearest full line.
    """
    typical = float(np.median([s for s, _b in found]))
    kept: list[tuple[float, int]] = []
    for strength, baseline in sorted(found, reverse=True):
        if strength < STRONG * typical or any(abs(baseline - b) < 0.75 * pitch for _s, b in kept):
            continue
        if strength < 2 * STRONG * typical and kept:
            gap = abs(baseline - min((b for _s, b in kept), key=lambda b: abs(b - baseline)))
            if abs(gap - round(gap / pitch) * pitch) > 0.2 * pitch:
                continue
        kept.append((strength, baseline))
    return sorted(b for _s, b in kept)


def _filled(ink: np.ndarray, anchors: list[int], pitch: float, em: float) -> list[int]:
    """Baselines of the weak lines (one ``I``, ``=`` or ``a``) between and around the anchor lines.

    A line of one narrow glyph is too faint a hump in the row profile to be told from the
    shoulder of its neighbour, so weak humps are not trusted; instead every free step of the line
    lattice (``pitch`` from an anchor's baseline, or the gap between two anchors split evenly when
    it is a whole number of pitches) is looked at directly: a line is there when the rows its
    glyphs must cover, from just above the baseline up to where the line above could reach no
    lower, hold ink.
    """
    height = ink.shape[0]
    row_ink = ink.sum(axis=1)
    top_off = min(0.6 * em, pitch - DESCENT_MAX * em)  # clear of the line above's descenders
    bottom_off = 0.1 * em

    def ink_at(y: float) -> int:
        r0, r1 = max(0, round(y - top_off)), min(height, round(y - bottom_off))
        return int(row_ink[r0:r1].sum()) if r1 > r0 else 0

    positions: list[float] = []
    first, last = anchors[0], anchors[-1]
    positions += [first - j * pitch for j in range(1, int((first - bottom_off) // pitch) + 1)]
    positions += [last + j * pitch for j in range(1, int((height + top_off - last) // pitch) + 1)]
    for a, b in itertools.pairwise(anchors):
        gap = b - a
        k = round(gap / pitch)
        if gap < 1.5 * pitch:
            continue
        if abs(gap - k * pitch) <= 0.2 * pitch:  # same lattice on both sides: split the gap evenly
            positions += [a + j * gap / k for j in range(1, k)]
        else:  # paragraph spacing moved the lattice: step in from both sides
            positions += [a + j * pitch for j in range(1, int((gap - 0.75 * pitch) // pitch) + 1)]
            positions += [b - j * pitch for j in range(1, int((gap - 0.75 * pitch) // pitch) + 1)]
    found = sorted(((ink_at(y), y) for y in positions if top_off < y + pitch), reverse=True)
    kept: list[int] = []
    taken = [float(a) for a in anchors]
    for count, y in found:  # most ink first; two steps within 0.6 pitch are one line
        if count >= 2 and all(abs(y - t) >= 0.6 * pitch for t in taken):
            kept.append(round(y))
            taken.append(y)
    return kept


def find_lines(gray: np.ndarray) -> tuple[LineBox, ...]:
    """Boxes of the text lines of a page image (dark or light ink), top to bottom, from pixels alone.

    The boxes carry no text (``text=""``); geometry matches the renderer's own line boxes.
    """
    ink = ink_mask(gray)
    height, width = ink.shape
    profile = ink.sum(axis=1).astype(np.float64)
    if profile.max(initial=0) < 2:
        return ()
    pitch = estimate_pitch(profile)
    rows = np.flatnonzero(profile > 0)
    if pitch is None:  # one line (or no periodicity): the ink's own extent, ~1.2 em
        pitch = max(4.0, float(rows[-1] - rows[0] + 1))
    # blank rows past both edges: a last page cropped right at its last baseline still shows
    # that line's fall (and its hump is not cut in half by the smoothing)
    pad = int(np.ceil(pitch))
    ink, profile = np.pad(ink, ((pad, pad), (0, 0))), np.pad(profile, pad)
    band = _smooth(profile, max(1, round(pitch / 2)))
    centres = _local_maxima(band, max(2, round(0.6 * pitch)), floor=0.5)
    if not centres:
        return ()
    fine = _smooth(profile, max(1, round(pitch / 12)))
    diff = np.diff(fine, append=fine[-1])  # diff[y] = fine[y+1] - fine[y]
    reach = max(2, round(0.6 * pitch))
    found = []
    for c in centres:
        below = slice(c, min(len(profile), c + reach))
        if below.stop - below.start < 1:
            continue
        baseline = below.start + int(np.argmin(diff[below])) + 1  # steepest fall: the row under the x-height
        found.append((float(band[c]), baseline))
    if not found:
        return ()
    anchors = _anchors(found, pitch)
    em = x_height(profile, anchors, pitch) / X_HEIGHT_EM
    baselines = sorted(anchors + _filled(ink, anchors, pitch, em))
    boxes = []
    for baseline in baselines:
        core = ink[max(0, baseline - round(0.55 * em)) : max(0, baseline)]
        cols = np.flatnonzero(core.any(axis=0))
        if not len(cols):
            continue
        baseline = int(baseline) - pad  # back to image rows
        top = max(0, int(np.floor(baseline - ASCENT * em)))
        bottom = min(height, int(np.ceil(baseline + DESCENT * em)) + 1)
        left, right = max(0, int(cols[0]) - 1), min(width, int(cols[-1]) + 2)
        boxes.append(LineBox(left, top, right, bottom, baseline, ""))
    return tuple(boxes)

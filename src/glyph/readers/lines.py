"""Find text lines from the pixels alone: a reading that is not told where the layout put them.

The line-box readers crop the boxes the renderer knows, so tight or overlapping lines read
as well as airy ones, which a VLM is not told. :func:`find_lines` gets the same boxes from the
image only, from horizontal ink profiles:

1. ink: pixels far from their row's background (the row median, so tinted paragraphs,
   light-on-dark text and coloured ink all work); rules and borders (rows or columns that are
   ink almost end to end) are dropped;
2. pitch: the line spacing is the first strong peak of the row profile's autocorrelation;
3. lines: each line's x-height band is a local maximum of the profile smoothed over a third of
   the pitch; its baseline is the steepest fall of the profile below that band and its top the
   steepest rise above, and the page's median x-height gives the em (x-height ~0.53 em in the
   Latin faces here);
4. boxes: 0.95 em above the baseline to 0.25 em below, as the renderer draws its own boxes,
   and from the first to the last ink column of that band.

Lines whose x-height bands merge (line height below about two thirds of the font size) are
found as one; that is what the measurement in ``benchmarks/reader_speed.py`` is for.
"""

from __future__ import annotations

import numpy as np

from glyph.render.pages import LineBox

#: x-height over em of DejaVu Sans/Serif/Mono and Liberation (0.52-0.56); boxes are set in ems.
X_HEIGHT_EM = 0.54
#: Box geometry of the renderer (glyph.render.raster.line_boxes): ascent and descent in em.
ASCENT, DESCENT = 0.95, 0.25


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


def estimate_pitch(profile: np.ndarray, min_pitch: float = 4.0) -> float | None:
    """Line spacing in rows (fractional): the strongest period of the row profile's spectrum.

    A page's lines repeat at one spacing, so the fundamental of the ink profile dominates its
    spectrum; zero padding gives sub-row resolution, which non-integer spacings (15.5 px) need.
    None when the profile is too short or has no ink.
    """
    p = profile.astype(np.float64) - profile.mean()
    n = len(p)
    if n < 3 * min_pitch or not p.any():
        return None
    size = 8 * n
    power = np.abs(np.fft.rfft(p, size)) ** 2
    freqs = np.fft.rfftfreq(size)
    usable = (freqs >= 1.0 / (n / 3)) & (freqs <= 1.0 / min_pitch)
    if not usable.any():
        return None
    f = freqs[usable][np.argmax(power[usable])]
    return float(1.0 / f)


def _local_maxima(signal: np.ndarray, distance: int, floor: float) -> list[int]:
    """Indices of local maxima above ``floor``, at least ``distance`` apart (the higher one wins)."""
    padded = np.concatenate(([-np.inf], signal, [-np.inf]))
    candidates = np.flatnonzero((signal > floor) & (signal >= padded[:-2]) & (signal > padded[2:]))
    kept: list[int] = []
    for i in sorted(candidates, key=lambda i: -signal[i]):
        if all(abs(i - k) >= distance for k in kept):
            kept.append(i)
    return sorted(kept)


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
    band = _smooth(profile, max(1, round(pitch / 2)))
    centres = _local_maxima(band, max(2, round(0.6 * pitch)), floor=max(0.5, 0.02 * float(np.median(band[band > 0]))))
    if not centres:
        return ()
    fine = _smooth(profile, max(1, round(pitch / 12)))
    diff = np.diff(fine, append=fine[-1])  # diff[y] = fine[y+1] - fine[y]
    reach = max(2, round(0.6 * pitch))
    found = []
    for c in centres:
        below = slice(c, min(height, c + reach))
        above = slice(max(0, c - reach), c + 1)
        if below.stop - below.start < 1:
            continue
        baseline = below.start + int(np.argmin(diff[below])) + 1  # steepest fall: the row under the x-height
        x_top = above.start + int(np.argmax(diff[above])) + 1  # steepest rise: first row of the x-height
        found.append((c, baseline, max(1, baseline - x_top)))
    em = float(np.median([x for *_, x in found])) / X_HEIGHT_EM
    boxes = []
    for _c, baseline, _x in found:
        top = max(0, int(np.floor(baseline - ASCENT * em)))
        bottom = min(height, int(np.ceil(baseline + DESCENT * em)) + 1)
        core = ink[max(0, baseline - round(0.55 * em)) : baseline]
        cols = np.flatnonzero(core.any(axis=0))
        if not len(cols):
            continue
        left, right = max(0, int(cols[0]) - 1), min(width, int(cols[-1]) + 2)
        boxes.append(LineBox(left, top, right, bottom, baseline, ""))
    return tuple(boxes)

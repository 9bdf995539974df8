"""The pixel line finder against the layout's own line boxes, on generated pages (a property)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from glyph.readers.lines import estimate_pitch, find_lines, ink_mask
from glyph.render import render_pages
from glyph.render.config import reference_default

WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the of and a to in is you that it he was for on are as with his they I at be this have from or one had by "
    "word but not what all were we when your can said there use an each which she do how their if will up other "
    "about out many then them these so some her would make like him into time has look two more write go see "
    "number no way could people my than first water been call who oil its now find long down day did get come "
    "made may part 2634501 9f1c2e7a-41b2-4c8e-9d3a-07b6f2c1e5aa VAR QXZRT = 48213. Mr. O'Neill, 1999-2024."
).split()

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pages(draw: st.DrawFn) -> tuple[dict, str]:
    size = draw(st.sampled_from([7, 8, 9, 10, 11, 12, 14]))
    changes = {
        "font-size": size,
        "line-height": size + draw(st.sampled_from([0, 0.5, 1, 2, 3])),
        "dpi": draw(st.sampled_from([54, 72, 96, 120, 150, 200])),
        "font-path": draw(st.sampled_from(["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"])),
        "alignment": draw(st.sampled_from(["LEFT", "JUSTIFY", "CENTER", "RIGHT"])),
        "margin-x": draw(st.sampled_from([0, 10, 40])),
        "margin-y": draw(st.sampled_from([0, 10, 40])),
        "horizontal-scale": draw(st.sampled_from([0.75, 0.9, 1.0])),
        "page-size": draw(st.sampled_from(["595,842", "420,595"])),
        **draw(st.sampled_from([
            {},
            {"font-color": "#00008B", "page-bg-color": "#FAF0E6", "para-bg-color": "#FAF0E6"},
            {"font-color": "#E0E0E0", "page-bg-color": "#1E1E1E", "para-bg-color": "#1E1E1E"},
        ])),
    }
    return changes, _text(draw(st.integers(0, 2**32 - 1)))


def _text(seed: int) -> str:
    """900 words of the list with 12 paragraph breaks (short last lines, blank lines)."""
    rng = np.random.default_rng(seed)
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), 900)]
    breaks = set(rng.integers(0, len(words), 12).tolist())
    return " ".join(w + ("\n\n" if i in breaks else "") for i, w in enumerate(words))


TIGHT = {"alignment": "LEFT", "margin-x": 0, "margin-y": 0, "horizontal-scale": 0.75,
         "page-size": "595,842"}


@SETTINGS
@given(case=pages())
# draws the first finder got wrong: line height = font size, so the x-band's two edges repeat at
# half the line spacing (the pitch came out halved), and a last page cropped at its last
# baseline (that line's fall is the image's edge)
@example(case=({**TIGHT, "font-size": 8, "line-height": 8, "dpi": 96, "font-path": "DejaVu Sans"}, _text(2)))
@example(case=({**TIGHT, "font-size": 10, "line-height": 10, "dpi": 200, "font-path": "DejaVu Sans Mono"}, _text(21)))
def test_found_lines_match_layout_boxes(case: tuple[dict, str]) -> None:
    changes, text = case
    page = next(iter(render_pages(text, reference_default().with_updates(**changes))))
    found = find_lines(np.asarray(page.image.convert("L")))
    drawn = page.lines
    assert len(found) == len(drawn), ([int(b.baseline) for b in found], [b.baseline for b in drawn])
    for got, want in zip(found, drawn):
        assert got.top < want.bottom and want.top < got.bottom, (got, want)  # y-ranges overlap
        assert got.left < want.right and want.left < got.right, (got, want)
        assert abs(got.baseline - want.baseline) <= max(2, 0.25 * (want.bottom - want.top)), (got, want)


def test_pitch_of_a_synthetic_profile_is_fractional() -> None:
    rows = np.arange(1000)
    profile = ((rows % 15.5) < 6).astype(float) * 100  # bands every 15.5 rows
    assert estimate_pitch(profile) == pytest.approx(15.5, abs=0.1)
    assert estimate_pitch(np.zeros(100)) is None


def test_blank_and_ruled_pages_have_no_lines() -> None:
    blank = np.full((200, 300), 255, np.uint8)
    assert find_lines(blank) == ()
    ruled = blank.copy()
    ruled[50:52, :] = 0  # a border rule, not text
    ruled[:, 10] = 0
    assert not ink_mask(ruled).any()
    assert find_lines(ruled) == ()
    with pytest.raises(ValueError, match="2-D"):
        ink_mask(np.zeros((4, 4, 3), np.uint8))

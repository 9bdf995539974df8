"""The renderer draws the very same pixels as before the layout split of issue 10.

The hashes in ``fixtures/pixel_hashes.json`` were taken from main before the split (commit b5d9bc2)
with ``python tests/render/pixel_cases.py --write``; the cases (dpi 72/96/120, LEFT, CENTER, RIGHT
and JUSTIFY with indents and paragraph spacing, reflow, an inline newline marker, dark colours with
paragraph background and border, horizontal scale in grayscale, auto-crop on and off, a Python file
with tabs in DejaVu Sans Mono, Chinese through the Noto CJK fallback and in WenQuanYi Zen Hei) are
in ``pixel_cases.py``. A case retaken after a deliberate layout fix carries a ``note`` saying why.
A case is compared only when its font files and FreeType/Pillow are the ones
the hashes were taken with (other bytes draw other pixels); otherwise it is skipped, naming what differs.
"""

from __future__ import annotations

import json

import pytest

from pixel_cases import CASES, HASHES, environment, render_hashes

RECORDED = json.loads(HASHES.read_text(encoding="utf-8"))["cases"]


def test_every_case_is_recorded() -> None:
    assert sorted(RECORDED) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_pixels_unchanged(case: str) -> None:
    try:
        here = environment(case)
    except ValueError as exc:  # a font this machine lacks (resolve_font names it)
        pytest.skip(str(exc))
    recorded = RECORDED[case]
    if here != recorded["environment"]:
        diff = {k: (recorded["environment"].get(k), v) for k, v in here.items() if recorded["environment"].get(k) != v}
        pytest.skip(f"hashes were taken with other fonts or libraries: {diff}")
    got = render_hashes(case)
    assert len(got) == len(recorded["pages"]), f"{case}: {len(got)} pages, recorded {len(recorded['pages'])}"
    changed = [i + 1 for i, (a, b) in enumerate(zip(got, recorded["pages"])) if a != b]
    assert not changed, f"{case}: pages {changed} differ from the recorded pixels"

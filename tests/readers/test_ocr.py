"""Offline readers read our pages back; bad input gives a clear error or a documented empty read."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from glyph.measure import score_pages
from glyph.readers import ReaderUnavailableError, get_reader, reader_names
from glyph.render import RenderedPage, UnreadableImageError, load_image, render_pages
from glyph.render.config import reference_default

PROSE = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
    "it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had "
    "everything before us, we had nothing before us, we were all going direct to Heaven, we were all "
    "going direct the other way. In 1775 there were 2 kings and 2 queens on the thrones of England and France."
)


@pytest.fixture(scope="module")
def page96() -> RenderedPage:
    pages = list(render_pages(PROSE, reference_default().with_updates(dpi=96)))
    assert len(pages) == 1 and len(pages[0].lines) >= 4
    return pages[0]


def test_registry_lists_offline_readers() -> None:
    names = reader_names()
    assert {"ocr", "ocr-pixels", "ppocr", "oracle", "tesseract", "rapidocr-page"} <= set(names)
    with pytest.raises(ValueError, match="unknown reader 'nope'.*ocr"):
        get_reader("nope")


def test_line_reader_reads_rendered_prose(page96: RenderedPage) -> None:
    reads = get_reader("ocr").transcribe([page96])
    fid, _ = score_pages([PROSE], reads)  # the source text itself is the ground truth
    assert fid.char_accuracy >= 0.97, reads[0]
    assert fid.class_accuracy()["digit"] == 1.0


def test_line_reader_reads_light_text_on_dark_pages() -> None:
    cfg = reference_default().with_updates(
        dpi=96, **{"page-bg-color": "#202020", "para-bg-color": "#202020", "font-color": "#F0F0F0"}
    )
    page = next(render_pages(PROSE[:300], cfg))
    fid, _ = score_pages([page.text], get_reader("ocr").transcribe([page]))
    assert fid.char_accuracy >= 0.95


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Debian tesseract-ocr not installed")
def test_tesseract_reads_rendered_prose(page96: RenderedPage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    fid, _ = score_pages([PROSE], get_reader("tesseract").transcribe([page96]))
    assert "OMP_THREAD_LIMIT" not in os.environ  # set for tesseract only, not left for later child processes
    assert fid.char_accuracy >= 0.95


def test_missing_tesseract_binary_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(ReaderUnavailableError, match="apt-get install tesseract-ocr"):
        get_reader("tesseract")


def test_zero_size_page_reads_as_empty() -> None:
    empty = RenderedPage(image=Image.new("L", (0, 0)))
    assert get_reader("ocr").transcribe([empty]) == [""]
    fid, _ = score_pages([""], [""])
    assert fid.char_accuracy == 1.0


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(UnreadableImageError, match="broken.png"):
        load_image(str(bad))
    with pytest.raises(UnreadableImageError, match="missing.png"):
        RenderedPage.from_image(str(tmp_path / "missing.png"))


def test_oracle_refuses_pages_without_ground_truth() -> None:
    page = RenderedPage(image=Image.new("L", (10, 10), 255), start=0, end=5)
    with pytest.raises(ValueError, match="ground truth"):
        get_reader("oracle").transcribe([page])


@pytest.mark.parametrize("name", ["ocr", "ppocr"])
def test_line_cache_and_workers_do_not_change_reads(page96: RenderedPage, name: str) -> None:
    serial = get_reader(name, workers=1)
    first = serial.transcribe([page96])
    n_lines = len(page96.lines)
    assert (serial.hits, serial.misses) == (0, n_lines)
    assert serial.transcribe([page96]) == first  # every line now comes from the cache
    assert (serial.hits, serial.misses) == (n_lines, n_lines)
    parallel = get_reader(name, workers=2, cache_lines=0)
    assert parallel.transcribe([page96, page96]) == first * 2
    assert parallel.misses == 2 * n_lines  # cache disabled: every line recognised


def test_line_cache_is_bounded_and_least_recently_used(page96: RenderedPage) -> None:
    from glyph.readers.ocr import LineOCRReader

    n_lines = len(page96.lines)
    assert n_lines > 3
    unbounded = LineOCRReader().transcribe([page96])
    small = LineOCRReader(cache_lines=2)
    assert small.transcribe([page96]) == unbounded
    assert len(small._cache) == 2  # only the last two lines recognised are kept
    # lines are looked up first, then recognised narrowest first (width-sorted batches), so the two
    # kept are the two widest: read again, exactly those two hit, and every other line is recognised
    assert small.transcribe([page96]) == unbounded
    assert (small.hits, small.misses) == (2, 2 * n_lines - 2)
    widths = sorted(box.right - box.left for box in page96.lines)
    assert widths[-3] < widths[-2]  # the two widest are unambiguous on this page


def test_reader_options_are_checked() -> None:
    with pytest.raises(ValueError, match="lines must be 'layout' or 'pixels', got 'boxes'"):
        get_reader("ocr", lines="boxes")
    with pytest.raises(ValueError, match="fallback must be a confidence in \\[0, 1\\], got 2"):
        get_reader("ocr", fallback=2)
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        get_reader("ppocr", workers=0)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        get_reader("ocr", model_path="/nonexistent/missing.onnx")


NEEDLES = [  # (key, value): fixed UUIDs and 7-digit numbers, as RULER draws them
    ("brave-otter", "3f2b8c1e-9a4d-4e7b-8c21-5d6e7f8a9b0c"), ("quiet-lantern", "8143207"),
    ("golden-harbor", "b7e1c0d2-4f3a-4b6c-9d8e-0a1b2c3d4e5f"), ("rusty-kettle", "2634501"),
    ("windy-meadow", "e09f8a7b-6c5d-4e3f-a2b1-c0d9e8f7a6b5"), ("silent-tower", "9910066"),
    ("tiny-comet", "01d2c3b4-a596-4877-b869-5a4b3c2d1e0f"), ("honest-pilot", "7001458"),
]


def _needle_text() -> str:
    parts = []
    for i, (key, value) in enumerate(NEEDLES):
        kind = "number" if value.isdigit() else "uuid"
        parts.append(PROSE if i % 2 else PROSE.upper()[:200] + ".")
        parts.append(f"The special magic {kind} for {key} is {value}.")
    return " ".join(parts)


@pytest.mark.parametrize("dpi", [72, 96, 120])
def test_default_reader_reads_fixed_pages_and_needles(dpi: int) -> None:
    from glyph.eval.extract import extract_niah

    pages = list(render_pages(_needle_text(), reference_default().with_updates(dpi=dpi)))
    reads = get_reader("ocr").transcribe(pages)
    fid, _ = score_pages([p.text for p in pages], reads)  # the drawn text is the ground truth
    assert fid.char_accuracy >= 0.995, reads
    transcript = "\n".join(reads)
    for key, value in NEEDLES:
        assert extract_niah(transcript, [key], "numbers" if value.isdigit() else "uuids") == value, (key, reads)


def test_pixel_reader_needs_no_layout_and_matches_line_boxes(page96: RenderedPage) -> None:
    image_only = RenderedPage.from_image(page96.image)  # what a VLM gets: pixels, no boxes
    by_pixels = get_reader("ocr-pixels").transcribe([page96])
    assert get_reader("ocr").transcribe([image_only]) == by_pixels  # no boxes: ocr finds the lines itself
    fid, _ = score_pages([PROSE], by_pixels)
    assert fid.char_accuracy >= 0.99, by_pixels


def test_cjk_lines_are_routed_to_ppocr() -> None:
    text = "视觉文本压缩将长文本渲染成图像，视觉语言模型阅读页面而不是文本标记。" * 6
    page = next(render_pages(text, reference_default().with_updates(**{"font-path": "Noto Sans CJK SC", "dpi": 96})))
    read = get_reader("ocr").transcribe([page])[0]
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in read) > 0.8 * sum("\u4e00" <= ch <= "\u9fff" for ch in page.text)
    latin_only = get_reader("ocr", fallback=0.0).transcribe([page])[0]
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in latin_only)  # the Latin model alone cannot write CJK

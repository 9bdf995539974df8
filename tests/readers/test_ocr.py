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
    assert {"ocr", "oracle", "tesseract", "rapidocr-page"} <= set(names)
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


def test_line_cache_and_workers_do_not_change_reads(page96: RenderedPage) -> None:
    from glyph.readers.ocr import LineOCRReader

    serial = LineOCRReader(workers=1)
    first = serial.transcribe([page96])
    n_lines = len(page96.lines)
    assert (serial.hits, serial.misses) == (0, n_lines)
    assert serial.transcribe([page96]) == first  # every line now comes from the cache
    assert (serial.hits, serial.misses) == (n_lines, n_lines)
    parallel = LineOCRReader(workers=2, cache_lines=0)
    assert parallel.transcribe([page96, page96]) == first * 2
    assert parallel.misses == 2 * n_lines  # cache disabled: every line recognised

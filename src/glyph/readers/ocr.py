"""Offline OCR readers: fidelity proxies that need no VLM and no GPU.

``ocr`` (the default, :class:`LineOCRReader`) is layout-aware: our renderer knows where every
line is, so it crops each line box and runs only PP-OCRv4 *recognition* (the ONNX model that
the ``rapidocr-onnxruntime`` wheel ships) on it, one line at a time so no batch padding is
wasted. Measured on reference-default pages (9 pt at 72 dpi, ``benchmarks/compression.py``)
it reads more than 99% of characters, where whole-page RapidOCR (``rapidocr-page``, detector
plus recogniser) reads ~80% and is several times slower, because its detector shrinks or
merges 9-pixel text. Pages without line boxes (images from elsewhere) fall back to the
whole-page pipeline.

Scale matters to the recogniser more than resolution: lines whose em is above ``max_em``
(11 px) are first area-downscaled to it, because PP-OCRv4 drops spaces on sharper, larger
text once it is resized to its 48-px input (measured on essay pages: word accuracy at dpi
120 rises from 82% to 97%, characters from 98.2% to 99.6%; 72-dpi pages, 9 px/em, are
untouched). Fidelity then never gets worse as dpi grows, which a search needs.

``tesseract`` wraps Debian's ``tesseract-ocr`` (``--psm 6``, optional upscaling; at 72 dpi
a 2x upscale takes it from ~92% to >99%). It runs with ``OMP_THREAD_LIMIT=1`` because
Tesseract's OpenMP threads make it ~10x slower on small machines.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from PIL import Image

from glyph.readers.base import Reader, ReaderUnavailableError, register_reader
from glyph.render.pages import RenderedPage

#: Recognition input height of PP-OCR models; crops are scaled to it, aspect kept.
REC_HEIGHT = 48


def _rapidocr_dir() -> Path:
    try:
        import rapidocr_onnxruntime
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ReaderUnavailableError(
            "the default OCR reader needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime"
        ) from exc
    return Path(rapidocr_onnxruntime.__file__).parent


@functools.lru_cache(maxsize=4)
def _recognizer(threads: int) -> Any:
    """PP-OCRv4 recogniser from the rapidocr wheel, one image per run (no padding to a batch)."""
    from rapidocr_onnxruntime.ch_ppocr_rec.text_recognize import TextRecognizer
    from rapidocr_onnxruntime.utils import read_yaml

    root = _rapidocr_dir()
    cfg = dict(read_yaml(str(root / "config.yaml"))["Rec"])
    cfg.update(
        model_path=str(root / cfg["model_path"]),
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
        rec_batch_num=1,
    )
    return TextRecognizer(cfg)


def _gray(image: Image.Image) -> np.ndarray:
    """8-bit gray with dark ink on a light background (light-on-dark pages are inverted)."""
    gray = np.asarray(image.convert("L"))
    if gray.size and np.median(gray) < 128:
        gray = 255 - gray
    return gray


def _empty(image: Image.Image) -> bool:
    return image.width == 0 or image.height == 0


class LineOCRReader(Reader):
    """Crop each known line box, recognise it with PP-OCRv4; whole-page OCR where boxes are unknown.

    ``pad``: white pixels added around each box; ``max_em``: downscale larger text to this many
    pixels per em first (None keeps every crop as drawn); ``workers``: lines recognised in
    parallel (ONNX Runtime releases the GIL; 1 = one core); ``cache_lines``: remember this many
    line crops by their pixels, so text that recurs (a haystack shared by many samples, a
    config seen twice, repeated noise) is recognised once. A cached read is exactly the read
    the model gives those pixels, so caching never changes a score.
    """

    name = "ocr"

    def __init__(
        self,
        pad: int = 1,
        workers: int = 1,
        max_em: float | None = 11.0,
        cache_lines: int = 200_000,
        threads: int | None = None,
    ) -> None:
        if pad < 0:
            raise ValueError(f"pad must be >= 0 pixels, got {pad}")
        if max_em is not None and max_em <= 0:
            raise ValueError(f"max_em must be > 0 pixels, got {max_em}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.pad = pad
        self.max_em = max_em
        self.workers = workers
        self.threads = threads or 1  # ONNX Runtime intra-op threads per recognition
        self._cache: OrderedDict[bytes, str] = OrderedDict()
        self._cache_size = max(0, cache_lines)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        _rapidocr_dir()  # fail now, with the install hint, not at the first page

    def crops(self, page: RenderedPage) -> list[np.ndarray]:
        """The line crops the recogniser sees: BGR, the line box widened by ``pad`` white pixels."""
        import cv2

        gray = _gray(page.image)
        out = []
        for box in page.lines:
            crop = gray[box.top : box.bottom, max(0, box.left - self.pad) : box.right + self.pad]
            if crop.size == 0:
                out.append(None)
                continue
            em = (box.baseline - box.top) / 0.95
            if self.max_em and em > self.max_em:
                factor = self.max_em / em
                size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
                crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            crop = cv2.copyMakeBorder(crop, self.pad, self.pad, 0, 0, cv2.BORDER_CONSTANT, value=255)
            out.append(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR))
        return out

    def _recognise(self, crop: np.ndarray | None) -> str:
        if crop is None:
            return ""
        key = hashlib.blake2b(crop.tobytes(), digest_size=16, person=str(crop.shape).encode()[:16]).digest()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
        text = _recognizer(self.threads)([crop])[0][0][0]
        with self._lock:
            self.misses += 1
            if self._cache_size:
                self._cache[key] = text
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return text

    def read_lines(self, page: RenderedPage) -> list[str]:
        """One recognised string per line box of the page, in order."""
        return self._map(self.crops(page))

    def _map(self, crops: list[np.ndarray | None]) -> list[str]:
        if self.workers == 1 or len(crops) < 2:
            return [self._recognise(c) for c in crops]
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self._recognise, crops))

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        out: list[str | None] = [None] * len(pages)
        crops: list[np.ndarray | None] = []
        owners: list[int] = []
        for i, page in enumerate(pages):
            if _empty(page.image):
                out[i] = ""
            elif page.lines:
                page_crops = self.crops(page)
                crops += page_crops
                owners += [i] * len(page_crops)
            else:
                out[i] = PageOCRReader(threads=self.threads).transcribe([page])[0]
        lines: dict[int, list[str]] = {}
        for owner, text in zip(owners, self._map(crops)):
            lines.setdefault(owner, []).append(text)
        return [o if o is not None else "\n".join(lines.get(i, [])) for i, o in enumerate(out)]


@functools.lru_cache(maxsize=2)
def _rapidocr_engine(threads: int) -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)


def _join_rows(boxes: list[tuple[float, float, float, str]]) -> str:
    """Detected words/lines (top, bottom, left, text) grouped into rows by vertical overlap."""
    rows: list[list[tuple[float, float, float, str]]] = []
    for item in sorted(boxes, key=lambda b: (b[0] + b[1]) / 2):
        mid = (item[0] + item[1]) / 2
        if rows and rows[-1][-1][0] <= mid <= rows[-1][-1][1]:
            rows[-1].append(item)
        else:
            rows.append([item])
    return "\n".join(" ".join(t for *_, t in sorted(row, key=lambda b: b[2])) for row in rows)


class PageOCRReader(Reader):
    """RapidOCR's own whole-page pipeline (detector, classifier, recogniser) with default settings."""

    name = "rapidocr-page"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or 1
        _rapidocr_dir()

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        engine = _rapidocr_engine(self.threads)
        out = []
        for page in pages:
            if _empty(page.image):
                out.append("")
                continue
            gray = _gray(page.image)
            result, _ = engine(np.stack([gray] * 3, axis=-1))
            boxes = []
            for quad, text, _score in result or []:
                ys = [p[1] for p in quad]
                boxes.append((min(ys), max(ys), min(p[0] for p in quad), text))
            out.append(_join_rows(boxes))
        return out


class TesseractReader(Reader):
    """Tesseract via pytesseract, ``--psm 6`` (a uniform block of text), optionally upscaled first."""

    name = "tesseract"

    def __init__(self, upscale: float | None = None, psm: int = 6, lang: str = "eng") -> None:
        try:
            import pytesseract
        except ImportError as exc:
            raise ReaderUnavailableError(
                "the tesseract reader needs pytesseract: pip install 'glyph[tesseract]' "
                "(and Debian's tesseract-ocr: apt-get install tesseract-ocr)"
            ) from exc
        if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
            raise ReaderUnavailableError(
                "tesseract binary not found: apt-get install tesseract-ocr (or set pytesseract's tesseract_cmd)"
            )
        if upscale is not None and upscale <= 0:
            raise ValueError(f"upscale must be > 0, got {upscale}")
        self._tess = pytesseract
        self.upscale = upscale
        self.psm = psm
        self.lang = lang

    def _factor(self, page: RenderedPage) -> float:
        if self.upscale is not None:
            return self.upscale
        # text under ~12 px per em is below what Tesseract's LSTM was trained on: double it
        ems = [box.baseline - box.top for box in page.lines]
        return 2.0 if not ems or float(np.median(ems)) < 12 else 1.0

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        # tesseract reads OMP_THREAD_LIMIT from its environment; set it for these calls only: left in
        # os.environ it reached every later child process (a training worker's torch diverged under it)
        with mock.patch.dict(os.environ, {"OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}):
            return self._transcribe(pages)

    def _transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        out = []
        for page in pages:
            if _empty(page.image):
                out.append("")
                continue
            image = Image.fromarray(_gray(page.image))
            factor = self._factor(page)
            if factor != 1.0:
                image = image.resize((round(image.width * factor), round(image.height * factor)), Image.LANCZOS)
            text = self._tess.image_to_string(image, lang=self.lang, config=f"--psm {self.psm}")
            out.append("\n".join(line for line in text.splitlines() if line.strip()))
        return out


register_reader("ocr", LineOCRReader, "default offline reader: layout-aware PP-OCRv4 line recognition (pip only)")
register_reader("rapidocr-page", PageOCRReader, "RapidOCR whole-page detection + recognition (for comparison)")
register_reader("tesseract", TesseractReader, "Tesseract --psm 6, 2x upscale under 12 px/em (apt tesseract-ocr)")

"""Offline OCR readers: fidelity proxies that need no VLM and no GPU.

``ocr`` (the default, :class:`GlyphLineReader`) crops each line box the layout knows and reads
it with the project's own compact recogniser (:mod:`glyph.readers.glyphrec`: a 0.3 M-parameter
CNN + CTC trained on lines this renderer drew, ONNX, shipped in the package). It is several
times faster than PP-OCRv4 on one core and has none of PP-OCRv4's systematic misreads of
Latin text (``01`` -> ``oi``, ``number`` -> ``numiber``); figures in
``benchmarks/results/reader_speed.md``. Lines whose confidence is low and that PP-OCRv4 reads
as a script the Latin model lacks (CJK) take PP-OCRv4's reading.

``ocr-pixels`` is the same recogniser on lines found from the pixels alone
(:func:`glyph.readers.lines.find_lines`): not told where the layout put the lines, so tight
or overlapping lines cost it what they would cost a model. Pages without line boxes (images
from elsewhere) are read this way by ``ocr`` too.

``ppocr`` (:class:`LineOCRReader`, the previous default) runs PP-OCRv4 *recognition* (the ONNX
model the ``rapidocr-onnxruntime`` wheel ships) on each line box, one line at a time (batches
are slower on one core: padding). Lines whose em is above ``max_em`` (11 px) are first
area-downscaled to it, because PP-OCRv4 drops spaces on larger text once resized to its 48-px
input. ``rapidocr-page`` is RapidOCR's whole-page detector + recogniser.

``tesseract`` wraps Debian's ``tesseract-ocr`` (``--psm 6``, optional upscaling; at 72 dpi
a 2x upscale takes it from ~92% to >99%). It runs with ``OMP_THREAD_LIMIT=1`` because
Tesseract's OpenMP threads make it ~10x slower on small machines.

Both line readers remember recognised lines by their pixels, so text that recurs (a haystack
shared by many samples, a config seen twice) is recognised once; a cached read is exactly the
read the model gives those pixels, so caching never changes a score.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import numpy as np
from cachetools import LRUCache
from PIL import Image

from glyph.readers.base import Reader, ReaderUnavailableError, code_revision, package_version
from glyph.readers.lines import find_lines
from glyph.render.pages import LineBox, RenderedPage

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


Lines = Literal["layout", "pixels"]


class _CachedLineReader(Reader):
    """Shared half of the line readers: which boxes, a pixel-keyed line cache, parallel batches.

    ``lines``: ``"layout"`` crops the boxes the renderer recorded (pages without them are read
    as ``"pixels"`` or by the subclass's fallback), ``"pixels"`` finds them from the image
    alone (:func:`glyph.readers.lines.find_lines`). ``workers``: batches recognised in parallel
    (ONNX Runtime releases the GIL; 1 = one core). ``cache_lines``: remember this many line
    crops by their pixels.
    """

    batch = 1  # lines per recogniser call

    def __init__(self, lines: Lines, workers: int, cache_lines: int, threads: int | None) -> None:
        if lines not in ("layout", "pixels"):
            raise ValueError(f"lines must be 'layout' or 'pixels', got {lines!r}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.lines = lines
        self.workers = workers
        self.threads = threads or 1  # ONNX Runtime intra-op threads per recognition
        # cachetools' LRU is not thread-safe on its own: workers share it under the lock
        self._cache: LRUCache[bytes, str] | None = LRUCache(cache_lines) if cache_lines > 0 else None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    # subclasses: how a box becomes recogniser input, and how a batch of inputs is read
    def _crop(self, gray: np.ndarray, box: LineBox) -> np.ndarray | None:
        raise NotImplementedError

    def _read_batch(self, crops: list[np.ndarray]) -> list[str]:
        raise NotImplementedError

    def _without_boxes(self, page: RenderedPage) -> str | None:
        """Text of a page that has no recorded line boxes; None: find its lines from the pixels."""
        return None

    def boxes(self, page: RenderedPage) -> tuple[LineBox, ...]:
        """The line boxes this reader crops: the layout's, or those found from the pixels."""
        if self.lines == "layout" and page.lines:
            return page.lines
        return find_lines(_gray(page.image))

    def crops(self, page: RenderedPage) -> list[np.ndarray | None]:
        """What the recogniser sees for each line of the page (None for an empty crop)."""
        gray = _gray(page.image)
        return [self._crop(gray, box) for box in self.boxes(page)]

    def read_lines(self, page: RenderedPage) -> list[str]:
        """One recognised string per line the reader finds on the page, in order."""
        return self._map(self.crops(page))

    def _map(self, crops: list[np.ndarray | None]) -> list[str]:
        out = [""] * len(crops)
        keys: dict[int, bytes] = {}
        todo: list[int] = []
        with self._lock:
            for i, crop in enumerate(crops):
                if crop is None:
                    continue
                key = hashlib.blake2b(crop.tobytes(), digest_size=16, person=str(crop.shape).encode()[:16]).digest()
                cached = None if self._cache is None else self._cache.get(key)  # a hit moves it young
                if cached is not None:
                    self.hits += 1
                    out[i] = cached
                else:
                    keys[i] = key
                    todo.append(i)
        todo.sort(key=lambda i: crops[i].shape[1])  # type: ignore[union-attr]  # similar widths batch together
        chunks = [todo[k : k + self.batch] for k in range(0, len(todo), self.batch)]
        if self.workers == 1 or len(chunks) < 2:
            reads = [self._read_batch([crops[i] for i in chunk]) for chunk in chunks]  # type: ignore[misc]
        else:
            with ThreadPoolExecutor(self.workers) as pool:
                reads = list(pool.map(lambda chunk: self._read_batch([crops[i] for i in chunk]), chunks))
        with self._lock:
            for chunk, texts in zip(chunks, reads):
                for i, text in zip(chunk, texts):
                    out[i] = text
                    self.misses += 1
                    if self._cache is not None:
                        self._cache[keys[i]] = text
        return out

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        out: list[str | None] = [None] * len(pages)
        crops: list[np.ndarray | None] = []
        owners: list[int] = []
        for i, page in enumerate(pages):
            if _empty(page.image):
                out[i] = ""
                continue
            if self.lines == "layout" and not page.lines:
                out[i] = self._without_boxes(page)
                if out[i] is not None:
                    continue
            page_crops = self.crops(page)
            crops += page_crops
            owners += [i] * len(page_crops)
        lines: dict[int, list[str]] = {}
        for owner, text in zip(owners, self._map(crops)):
            lines.setdefault(owner, []).append(text)
        return [o if o is not None else "\n".join(lines.get(i, [])) for i, o in enumerate(out)]


class GlyphLineReader(_CachedLineReader):
    """The default ``ocr``: each line read by the compact recogniser trained on this renderer's lines.

    ``lines``: ``"layout"`` (the boxes the renderer knows; ``ocr``) or ``"pixels"`` (found from
    the image; ``ocr-pixels``). ``batch``: lines per ONNX run (width-sorted). ``fallback``: lines
    read with a mean CTC confidence below this are read again by PP-OCRv4, whose reading is
    taken when it is mostly characters the Latin model cannot write (CJK); 0 turns this off.
    ``model_path``: other weights of the same format (``python -m glyph.train.recognizer.train``).
    """

    name = "ocr"

    def __init__(
        self,
        lines: Lines = "layout",
        workers: int = 1,
        batch: int = 8,
        cache_lines: int = 200_000,
        threads: int | None = None,
        fallback: float = 0.75,
        model_path: str | None = None,
    ) -> None:
        super().__init__(lines, workers, cache_lines, threads)
        if not 0.0 <= fallback <= 1.0:
            raise ValueError(f"fallback must be a confidence in [0, 1], got {fallback}")
        from glyph.readers.glyphrec.runtime import GlyphRecognizer

        self.batch = batch
        self.fallback = fallback
        self.recognizer = GlyphRecognizer(model_path, threads=self.threads, batch=batch)
        if lines == "pixels":
            self.name = "ocr-pixels"

    @property
    def revision(self) -> str:
        """The weights' own revision (a digest of the ONNX graph), the code that finds, crops and
        decodes lines, and PP-OCRv4's engine when it reads the doubtful lines."""
        code = code_revision(type(self), "glyph.readers.lines", "glyph.readers.glyphrec.runtime")
        rest = f"; rapidocr-onnxruntime {package_version('rapidocr-onnxruntime')}" if self.fallback else ""
        return f"glyphrec {self.recognizer.revision}; code {code}{rest}"

    def _crop(self, gray: np.ndarray, box: LineBox) -> np.ndarray | None:
        from glyph.readers.glyphrec.runtime import prepare_line

        crop = gray[max(0, box.top) : box.bottom, max(0, box.left - 2) : box.right + 2]
        return prepare_line(crop) if crop.size else None

    def _read_batch(self, crops: list[np.ndarray]) -> list[str]:
        reads = self.recognizer(crops)
        texts = [r.text for r in reads]
        doubtful = [i for i, r in enumerate(reads) if r.confidence < self.fallback]
        if doubtful:
            charset = set(self.recognizer.charset)
            for i in doubtful:
                other = _ppocr_read(crops[i], self.threads)
                foreign = sum(ch not in charset for ch in other if not ch.isspace())
                if foreign and 2 * foreign >= len(other.replace(" ", "")):  # mostly another script
                    texts[i] = other
        return texts


def _ppocr_read(prepared: np.ndarray, threads: int) -> str:
    """PP-OCRv4's reading of a prepared line (ink 1 on 0), drawn back as dark ink on white."""
    import cv2

    gray = (255 - np.clip(prepared, 0, 1) * 255).astype(np.uint8)
    scale = REC_HEIGHT / gray.shape[0]
    gray = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
    return _recognizer(threads)([cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)])[0][0][0]


class PixelLineReader(GlyphLineReader):
    """``ocr-pixels``: the default recogniser on lines found from the pixels alone (not told the layout),
    what a search's fitness should use so a config wins only if its lines can be told apart."""

    name = "ocr-pixels"

    def __init__(self, lines: Lines = "pixels", **options: Any) -> None:
        super().__init__(lines, **options)


class LineOCRReader(_CachedLineReader):
    """``ppocr``: each line box recognised by PP-OCRv4 (the previous default); kept for comparison.

    ``pad``: white pixels added around each box; ``max_em``: downscale larger text to this many
    pixels per em first (None keeps every crop as drawn). Pages without line boxes are read by
    the whole-page pipeline (``rapidocr-page``) unless ``lines="pixels"``.
    """

    name = "ppocr"

    def __init__(
        self,
        pad: int = 1,
        workers: int = 1,
        max_em: float | None = 11.0,
        cache_lines: int = 200_000,
        threads: int | None = None,
        lines: Lines = "layout",
    ) -> None:
        if pad < 0:
            raise ValueError(f"pad must be >= 0 pixels, got {pad}")
        if max_em is not None and max_em <= 0:
            raise ValueError(f"max_em must be > 0 pixels, got {max_em}")
        super().__init__(lines, workers, cache_lines, threads)
        self.pad = pad
        self.max_em = max_em
        _rapidocr_dir()  # fail now, with the install hint, not at the first page

    @property
    def revision(self) -> str:
        """PP-OCRv4 as the ``rapidocr-onnxruntime`` wheel ships it (its version pins the models)."""
        return f"rapidocr-onnxruntime {package_version('rapidocr-onnxruntime')}; code {code_revision(type(self), 'glyph.readers.lines')}"

    def _crop(self, gray: np.ndarray, box: LineBox) -> np.ndarray | None:
        """BGR, the line box widened by ``pad`` white pixels, larger text scaled down to ``max_em``."""
        import cv2

        crop = gray[max(0, box.top) : box.bottom, max(0, box.left - self.pad) : box.right + self.pad]
        if crop.size == 0:
            return None
        em = (box.baseline - box.top) / 0.95
        if self.max_em and em > self.max_em:
            factor = self.max_em / em
            size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        crop = cv2.copyMakeBorder(crop, self.pad, self.pad, 0, 0, cv2.BORDER_CONSTANT, value=255)
        return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)

    def _read_batch(self, crops: list[np.ndarray]) -> list[str]:
        recognise = _recognizer(self.threads)
        return [recognise([crop])[0][0][0] for crop in crops]

    def _without_boxes(self, page: RenderedPage) -> str | None:
        return PageOCRReader(threads=self.threads).transcribe([page])[0]


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

    @property
    def revision(self) -> str:
        """RapidOCR's detector, classifier and recogniser: the wheel's version pins all three."""
        return f"rapidocr-onnxruntime {package_version('rapidocr-onnxruntime')}; code {code_revision(type(self))}"

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
                "the tesseract reader needs pytesseract: pip install 'glyph-vtc[tesseract]' "
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

    @property
    def revision(self) -> str:
        """The tesseract binary's version (its LSTM models come with it) and the wrapper's code."""
        return f"tesseract {_tesseract_version(self._tess.pytesseract.tesseract_cmd)}; code {code_revision(type(self))}"

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



@functools.cache
def _tesseract_version(command: str) -> str:
    import pytesseract

    return str(pytesseract.get_tesseract_version())

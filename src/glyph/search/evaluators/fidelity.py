"""``ocr-fidelity``: render a validation text, read it back with a reader, score what came back.

Accuracy is glyph.measure's fidelity of the transcription against what was drawn (char
accuracy by default); compression is ``measure_compression``'s text/visual token ratio for
one VLM family. Runs on the CPU with the offline OCR reader that finds lines from the pixels
(``ocr-pixels``: a config wins only if its lines can be told apart without the layout's boxes);
the oracle reader makes it a pure compression search (and a fast test double).

Both halves are cached on disk by (text hash, render key): the render's measurements and
the page truths, and each reader's transcriptions (keyed by its name, options and revision
too), so a config seen twice is not rendered or read again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from glyph.measure import measure_compression, score_pages
from glyph.render.config import RenderConfig
from glyph.render.keys import render_key
from glyph.search.cache import DiskCache, key_hash, text_hash
from glyph.search.evaluators.base import Evaluation, Evaluator, EvaluatorUnavailableError
from glyph.search.evaluators.text import validation_text

METRICS = ("char", "word", "rare")


class PageReadBack:
    """Render + transcribe with caching; shared by evaluators that read pages back."""

    def __init__(self, reader: str, reader_options: dict[str, Any] | None, vlm: str, tokenizer: str,
                 cache: DiskCache) -> None:
        self.reader_name = reader
        self.reader_options = dict(reader_options or {})
        self.vlm = vlm
        self.tokenizer = tokenizer
        self.cache = cache
        self._reader: Any = None
        self._reader_key: str | None = None
        self.transcribe_calls = 0

    @property
    def reader_key(self) -> str:
        """The reader's name, options and ``revision`` (weights, engine, code): a new reader
        behind the same name must not be served the old one's reads."""
        if self._reader_key is None:
            self._reader_key = key_hash(self.reader_name, self.reader_options, self.reader.revision)
        return self._reader_key

    @property
    def reader(self) -> Any:
        if self._reader is None:
            from glyph.readers import ReaderUnavailableError, get_reader

            try:
                self._reader = get_reader(self.reader_name, **self.reader_options)
            except (ReaderUnavailableError, ValueError) as exc:
                raise EvaluatorUnavailableError(f"reader {self.reader_name!r}: {exc}") from exc
        return self._reader

    def run(self, text: str, cfg: RenderConfig) -> tuple[dict[str, Any], list[str], list[str], bool]:
        """(compression summary, page truths, page reads, whether both came from the cache)."""
        tkey, ckey = text_hash(text), render_key(cfg)
        measure_key = key_hash(self.vlm, self.tokenizer)
        render = self.cache.get("render", tkey, ckey, measure_key)
        reads = self.cache.get("read", tkey, ckey, self.reader_key)
        if render is not None and reads is not None:
            return render, render["truths"], reads, True
        start = time.perf_counter()
        report, pages = measure_compression(text, cfg, vlms=(self.vlm,), tokenizer=self.tokenizer, keep_pages=True)
        cost = report.cost(self.vlm)
        render = {
            "pages": report.pages,
            "page_sizes": [list(s) for s in report.page_sizes],
            "text_tokens": report.text_tokens,
            "visual_tokens": cost.visual_tokens,
            "compression": cost.ratio,
            "chars_per_visual_token": cost.chars_per_visual_token,
            "missing_glyphs": report.missing_glyphs,
            "render_seconds": round(time.perf_counter() - start, 4),
            "truths": [p.text for p in pages],
        }
        self.cache.put("render", tkey, ckey, render, measure_key)
        start = time.perf_counter()
        self.transcribe_calls += 1
        reads = list(self.reader.transcribe(pages))
        render["read_seconds"] = round(time.perf_counter() - start, 4)
        self.cache.put("read", tkey, ckey, reads, self.reader_key)
        return render, render["truths"], reads, False

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


class OcrFidelityEvaluator(Evaluator):
    name = "ocr-fidelity"

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        *,
        text_file: str | None = None,
        chars: int = 4000,
        seed: int = 0,
        offset: int = 0,
        reader: str = "ocr-pixels",
        reader_options: dict[str, Any] | None = None,
        vlm: str = "glm4v",
        tokenizer: str = "qwen",
        metric: str = "char",
    ) -> None:
        super().__init__(cache_dir, text_file=text_file, chars=chars, seed=seed, offset=offset, reader=reader,
                         reader_options=reader_options or {}, vlm=vlm, tokenizer=tokenizer, metric=metric)
        if metric not in METRICS:
            raise ValueError(f"ocr-fidelity: metric must be one of {', '.join(METRICS)}, got {metric!r}")
        self.metric = metric
        if text_file:
            try:
                self.text = Path(text_file).read_text(encoding="utf-8")[:chars] if chars else Path(text_file).read_text(
                    encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"ocr-fidelity: cannot read validation text {text_file}: {exc}") from None
        else:
            self.text = validation_text(chars, seed, offset)
        self.cache = DiskCache(self.cache_dir)
        self.readback = PageReadBack(reader, reader_options, vlm, tokenizer, self.cache)

    def evaluate(self, cfg: RenderConfig) -> Evaluation:
        render, truths, reads, cached = self.readback.run(self.text, cfg)
        if not render["compression"]:
            raise ValueError("no pages rendered: compression undefined")
        fidelity, _ = score_pages(truths, reads)
        accuracy = {
            "char": fidelity.char_accuracy,
            "word": fidelity.word_accuracy,
            "rare": fidelity.rare_string_accuracy if fidelity.rare_string_accuracy is not None else fidelity.char_accuracy,
        }[self.metric]
        metrics = {k: v for k, v in render.items() if k != "truths"}
        metrics.update(fidelity.to_dict())
        metrics["reader"] = self.readback.reader_name
        return Evaluation(accuracy, float(render["compression"]), metrics, cached)

    def close(self) -> None:
        self.readback.close()

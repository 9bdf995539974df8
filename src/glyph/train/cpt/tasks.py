"""The three CPT task families: text window + drawn config -> a record that fits the context.

* ``ocr``: one or several consecutive pages; the target is all the text drawn on them.
* ``lm`` (interleaved language modelling): the window cut into spans that alternate between
  text and pages; no instruction, no chat template; the text spans are the targets.
* ``gen``: pages with the end missing (write what follows) or the beginning missing (write what
  precedes); the target is the missing text, right next to the pages.

A record's length is counted per VLM family: text tokens with the configured tokenizer, every page
with ``glyph.tokens``' exact visual-token rule, plus an allowance for the template. A sample that
does not fit drops pages (the ones farthest from what the target needs) or shortens its text;
if even one page cannot fit, the builder reports it and the caller redraws the config.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glyph.render.pages import RenderedPage
from glyph.render.raster import png_bytes, render_pages
from glyph.tokens import get_tokenizer, get_vlm_rule
from glyph.train.cpt.sampler import ConfigSampler, Draw
from glyph.train.cpt.spec import CptDataConfig
from glyph.train.records import Record

__all__ = ["DoesNotFit", "SampleSpec", "Timer", "build_record", "build_sample", "ocr_record", "page_png"]

MAX_FIT_DRAWS = 8  # configs drawn for one sample before it is reported as not fitting
_BOUNDARY = re.compile(r"\n\s*\n|\n|(?<=[.!?])\s+|\s+")


class DoesNotFit(ValueError):
    """The sample cannot fit the context with this config (even one page is too many tokens)."""


@dataclass(frozen=True)
class SampleSpec:
    """A planned sample: which text, which task, which theme. Everything else comes from its seed."""

    index: int
    id: str
    source: str
    start: int  # character offset of ``text`` in the source document
    text: str
    task: str
    theme: str


@dataclass
class Timer:
    """Seconds spent per stage of the data engine (for the benchmark's breakdown)."""

    seconds: dict[str, float] = field(default_factory=lambda: {"render": 0.0, "encode": 0.0, "tokenize": 0.0})

    def add(self, stage: str, since: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - since


def snap(text: str, pos: int, forward: bool = True) -> int:
    """The nearest break (paragraph, line, sentence end, space) at or after/before ``pos``."""
    pos = max(0, min(len(text), pos))
    if forward:
        m = _BOUNDARY.search(text, pos)
        return m.end() if m else len(text)
    for m in reversed(list(_BOUNDARY.finditer(text, max(0, pos - 2000), pos))):
        return m.end()
    return pos


class _Costs:
    """Counts tokens for the context check: text with the tokenizer, pages per VLM family."""

    def __init__(self, cfg: CptDataConfig, timer: Timer) -> None:
        self.cfg = cfg
        self.tok = get_tokenizer(cfg.context.tokenizer)
        self.rules = [get_vlm_rule(v) for v in cfg.context.vlms]
        self.timer = timer

    def text(self, text: str) -> int:
        t0 = time.perf_counter()
        n = self.tok.count(text)
        self.timer.add("tokenize", t0)
        return n

    def visual(self, pages: list[RenderedPage]) -> dict[str, int]:
        return {r.name: r.document_tokens(p.image.size for p in pages) for r in self.rules}

    def fits(self, text_tokens: int, pages: list[RenderedPage]) -> tuple[bool, dict[str, int]]:
        base = self.cfg.context.template_tokens + text_tokens
        totals = {k: base + v for k, v in self.visual(pages).items()}
        return max(totals.values()) <= self.cfg.context.max_tokens, totals


def _render(text: str, draw: Draw, timer: Timer, limit: int | None = None) -> list[RenderedPage]:
    out = []
    t0 = time.perf_counter()
    pages: Iterator[RenderedPage] = render_pages(text, draw.config)
    for page in pages:
        if page.text.strip():
            out.append(page)
        if limit is not None and len(out) >= limit:
            break
    timer.add("render", t0)
    return out


def page_png(page: RenderedPage) -> bytes:
    """A rendered page as PNG bytes (one channel when it is black on white: the same pixels, smaller)."""
    img = page.image
    gray = img.info.get("glyph_gray")
    own = gray is not None and img.info.get("glyph_gray_of") == id(img)
    return png_bytes(gray if own else img)


def _encode(pages: list[RenderedPage], timer: Timer) -> list[bytes]:
    t0 = time.perf_counter()
    out = [page_png(p) for p in pages]
    timer.add("encode", t0)
    return out


def _user(pages: int, prompt: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "image"}] * pages + [{"type": "text", "text": prompt}]}


def ocr_record(
    rid: str, pages: list[RenderedPage], prompt: str, *, images: list[bytes] | None = None, theme: str = "",
    meta: dict[str, Any] | None = None,
) -> Record:  # fmt: skip
    """The OCR task's record: the pages and the instruction; the target is exactly the text drawn on them.

    Shared by CPT and the OCR auxiliary records of SFT and GRPO (``glyph.train.sft.data``).
    """
    return Record(
        id=rid,
        task="ocr",
        theme=theme,
        images=images if images is not None else [page_png(p) for p in pages],
        messages=[
            _user(len(pages), prompt),
            {"role": "assistant", "content": "\n".join(p.text for p in pages)},
        ],
        meta=meta or {},
    )


def _meta(
    spec: SampleSpec, draw: Draw, totals: dict[str, int], visual: dict[str, int], **extra: Any
) -> dict[str, Any]:
    return {
        "source": spec.source,
        "start": spec.start,
        **draw.describe(),
        "config": draw.config.to_reference_dict(),
        "visual_tokens": visual,
        "tokens": totals,
        **extra,
    }


def build_ocr(
    spec: SampleSpec, draw: Draw, cfg: CptDataConfig, rng: np.random.Generator, timer: Timer
) -> Record:
    task = cfg.tasks.ocr
    want = int(rng.integers(task.pages[0], task.pages[1] + 1))
    prompt = str(task.prompts[int(rng.integers(len(task.prompts)))])
    costs = _Costs(cfg, timer)
    pages = _render(spec.text, draw, timer, limit=want)
    if not pages:
        raise ValueError("the window draws no text")
    prompt_tokens = costs.text(prompt)
    while True:
        target = "\n".join(p.text for p in pages)
        target_tokens = costs.text(target)
        ok, totals = costs.fits(prompt_tokens + target_tokens, pages)
        if ok:
            break
        if len(pages) == 1:
            raise DoesNotFit(f"one page and its text take {max(totals.values())} tokens")
        pages = pages[:-1]
    visual = costs.visual(pages)
    return ocr_record(
        spec.id, pages, prompt, images=_encode(pages, timer), theme=spec.theme,
        meta=_meta(spec, draw, totals, visual, pages=len(pages), target_tokens=target_tokens,
                   prompt_tokens=prompt_tokens, span=[spec.start + pages[0].start, spec.start + pages[-1].end]),
    )  # fmt: skip


def _cut_spans(text: str, n: int, share: float, image_first: bool) -> list[tuple[str, str]]:
    """``n`` alternating (kind, text) spans covering ``text``; about ``share`` of it in 'image' spans."""
    kinds = [("image" if (k % 2 == 0) == image_first else "text") for k in range(n)]
    n_img = kinds.count("image")
    weights = [share / n_img if k == "image" else (1 - share) / (n - n_img) for k in kinds]
    spans, pos = [], 0
    for k, (kind, w) in enumerate(zip(kinds, weights)):
        end = len(text) if k == n - 1 else snap(text, pos + int(w * len(text)))
        if end > pos:
            spans.append((kind, text[pos:end]))
        pos = end
    return spans


def build_lm(
    spec: SampleSpec, draw: Draw, cfg: CptDataConfig, rng: np.random.Generator, timer: Timer
) -> Record:
    task = cfg.tasks.lm
    n = int(rng.integers(task.spans[0], task.spans[1] + 1))
    share = float(rng.uniform(*task.image_share))
    image_first = bool(rng.random() < 0.5)
    costs = _Costs(cfg, timer)
    text = spec.text
    for attempt in range(6):
        spans = _cut_spans(text, n, share, image_first)
        parts: list[dict[str, Any]] = []
        pages: list[RenderedPage] = []
        text_tokens = 0
        for kind, piece in spans:
            if kind == "text":
                parts.append({"type": "text", "text": piece})
                text_tokens += costs.text(piece)
            else:
                drawn = _render(piece, draw, timer)
                parts += [{"type": "image"}] * len(drawn)
                pages += drawn
        if not pages or text_tokens == 0:
            if attempt:  # shortened to nothing: the pages of this config are too costly
                raise DoesNotFit("no room left for both text and pages")
            raise ValueError("the window is too short to interleave text and pages")
        ok, totals = costs.fits(text_tokens, pages)
        if ok:
            break
        if not costs.fits(0, pages[:1])[0]:
            raise DoesNotFit(f"a single page takes more than {cfg.context.max_tokens} tokens")
        over = max(totals.values()) / cfg.context.max_tokens
        text = text[: snap(text, int(len(text) / over * 0.92), forward=False)]
    else:
        raise DoesNotFit(f"interleaved spans still take {max(totals.values())} tokens after shortening")
    visual = costs.visual(pages)
    return Record(
        id=spec.id,
        task="lm",
        theme=spec.theme,
        template="none",
        images=_encode(pages, timer),
        messages=[{"role": "assistant", "content": parts}],
        meta=_meta(spec, draw, totals, visual, pages=len(pages), target_tokens=text_tokens, prompt_tokens=0,
                   spans=[k for k, _ in spans], span=[spec.start, spec.start + len(text)]),
    )  # fmt: skip


def build_gen(
    spec: SampleSpec, draw: Draw, cfg: CptDataConfig, rng: np.random.Generator, timer: Timer
) -> Record:
    task = cfg.tasks.gen
    cont = bool(rng.random() < task.continue_share)
    budget = int(rng.integers(task.target_tokens[0], task.target_tokens[1] + 1))
    prompts = task.prompts_continue if cont else task.prompts_prefix
    prompt = str(prompts[int(rng.integers(len(prompts)))])
    costs = _Costs(cfg, timer)
    text = spec.text
    want = int(budget * cfg.context.chars_per_token)
    if len(text) < 2 * want:
        want = len(text) // 3
    if cont:
        cut = snap(text, len(text) - want, forward=False)
        visible, target = text[:cut], text[cut:]
    else:
        cut = snap(text, want)
        visible, target = text[cut:], text[:cut]
    # only the text next to the gap can be on the kept pages: at most a context's worth of characters
    reach = int(cfg.context.max_tokens * cfg.context.chars_per_token)
    if len(visible) > reach:
        if cont:
            start = snap(visible, len(visible) - reach)
            visible, cut_shift = visible[start:], start
        else:
            visible, cut_shift = visible[: snap(visible, reach, forward=False) or reach], 0
    else:
        cut_shift = 0
    target_tokens = costs.text(target)
    while target_tokens > budget and len(target) > 1:  # trim the far end of the target to its budget
        keep = int(len(target) * budget / target_tokens * 0.97)
        target = (
            target[: snap(target, keep, forward=False) or keep]
            if cont
            else target[snap(target, len(target) - keep) :]
        )
        target_tokens = costs.text(target)
    pages = _render(visible, draw, timer)
    if not pages or not target.strip():
        raise ValueError("the window is too short to split into pages and a missing part")
    prompt_tokens = costs.text(prompt)
    while True:
        ok, totals = costs.fits(prompt_tokens + target_tokens, pages)
        if ok:
            break
        if len(pages) == 1:
            raise DoesNotFit(f"one page and the missing text take {max(totals.values())} tokens")
        pages = pages[1:] if cont else pages[:-1]  # keep the pages next to the missing part
    visual = costs.visual(pages)
    base = spec.start + (cut_shift if cont else cut)
    return Record(
        id=spec.id,
        task="gen",
        theme=spec.theme,
        images=_encode(pages, timer),
        messages=[_user(len(pages), prompt), {"role": "assistant", "content": target}],
        meta=_meta(spec, draw, totals, visual, pages=len(pages), target_tokens=target_tokens,
                   prompt_tokens=prompt_tokens, mode="continue" if cont else "prefix",
                   span=[base + pages[0].start, base + pages[-1].end]),
    )  # fmt: skip


BUILDERS = {"ocr": build_ocr, "lm": build_lm, "gen": build_gen}


def build_record(
    spec: SampleSpec, draw: Draw, cfg: CptDataConfig, rng: np.random.Generator, timer: Timer
) -> Record:
    """The record of a planned sample under one drawn config (:class:`DoesNotFit` if it cannot fit)."""
    return BUILDERS[spec.task](spec, draw, cfg, rng, timer)


def build_sample(
    spec: SampleSpec, cfg: CptDataConfig, sampler: ConfigSampler, rng: np.random.Generator, timer: Timer,
    max_draws: int = MAX_FIT_DRAWS,
) -> Record:  # fmt: skip
    """Draw configs for the sample until its record fits the context (at most ``max_draws``)."""
    last: DoesNotFit | None = None
    for misfits in range(max_draws):
        draw = sampler.draw(rng, spec.theme, spec.text)
        try:
            record = build_record(spec, draw, cfg, rng, timer)
        except DoesNotFit as exc:
            last = exc
            continue
        if misfits:
            record.meta["redraws"]["does_not_fit"] = misfits
        return record
    raise DoesNotFit(
        f"does not fit {cfg.context.max_tokens} tokens in {max_draws} config draws (last: {last})"
    )

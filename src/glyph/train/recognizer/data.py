"""Training and held-out lines for the compact recogniser, drawn by the project's own renderer.

Every example is a line the renderer drew, labelled with the exact text the layout put there,
so labels are free and exact and the supply is unlimited. A page is drawn under a random
config (:func:`sample_config`: the installed Latin fonts, 7-14 pt, dpi 45-300, horizontal
scale 0.75-1.0, tight to airy line heights, four alignments, colours and tinted or dark
paper; a fifth of pages at the reference default config) from a random mix of texts
(:func:`page_text`): essay prose, RULER needles (7-digit numbers, UUIDs, adjective-noun keys),
variable-tracking assignments, numbered word lists, coded words, random strings of the whole
charset, numbers, and Python source.

The split is by source, so held-out figures are on text the model never saw: essays whose
index is a multiple of 5, Debian's licence texts (another author's prose), and the standard
library files whose name hashes to 0 mod 5 are held out (``split="heldout"``); random strings,
needles and configs come from a different seed.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
import string
import sysconfig
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from glyph.readers.glyphrec.runtime import CHARSET, prepare_line
from glyph.render import RenderConfig, render_pages
from glyph.render.config import reference_default
from glyph.render.fonts import resolve_font
from glyph.render.pages import LineBox, RenderedPage

Split = Literal["train", "heldout"]

#: Latin fonts a page may be set in (those installed are used), with how often.
FONTS = {
    "DejaVu Sans": 0.40, "DejaVu Serif": 0.12, "DejaVu Sans Mono": 0.12, "DejaVu Sans Condensed": 0.10,
    "DejaVu Serif Condensed": 0.08, "Liberation Sans": 0.05, "Liberation Serif": 0.05, "Liberation Mono": 0.04,
    "Noto Sans": 0.04,
}
INKS = ("#000000", "#1A1A1A", "#333333", "#00008B", "#8B0000", "#006400")
PAPERS = ("#FFFFFF", "#F5F5F5", "#FFFFF0", "#FAF0E6", "#E8E8E8")
DARK_PAPERS = ("#1E1E1E", "#000000")
LIGHT_INKS = ("#FFFFFF", "#E0E0E0")
PAGE_SIZES = ("595,842", "842,595", "420,595", "612,792", "800,600")
#: Licence texts Debian ships: held-out prose by other authors.
OTHER_PROSE = ("/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
               "/usr/share/common-licenses/MPL-2.0")
MAX_WIDTH = 2000  # prepared-line columns; longer lines are skipped (none at the configs sampled)


@functools.cache
def installed_fonts() -> dict[str, float]:
    out = {}
    for name, weight in FONTS.items():
        try:
            resolve_font(name)
        except (FileNotFoundError, ValueError):
            continue
        out[name] = weight
    return out


def sample_config(rng: random.Random) -> RenderConfig:
    """A random rendering config from the distribution the model is trained (and tested) on."""
    base = reference_default()
    roll = rng.random()
    if roll < 0.15:
        return base  # the reference default, 9 pt at 72 dpi: the search's starting point
    if roll < 0.22:
        return base.with_updates(dpi=rng.choice((60, 96, 120, 150, 200)))
    fonts = installed_fonts()
    size = rng.randint(14, 28) / 2  # 7 .. 14 pt
    dpi = 72 if rng.random() < 0.2 else round(float(np.exp(rng.uniform(np.log(45), np.log(300)))))
    changes: dict[str, object] = {
        "font-path": rng.choices(list(fonts), weights=list(fonts.values()))[0],
        "font-size": size,
        "dpi": dpi,
        "line-height": round(size * rng.uniform(0.9, 1.6) * 2) / 2,
        "horizontal-scale": 1.0 if rng.random() < 0.25 else round(rng.uniform(0.75, 1.0), 2),
        "alignment": rng.choices(("LEFT", "JUSTIFY", "CENTER", "RIGHT"), weights=(6, 3, 0.5, 0.5))[0],
        "page-size": rng.choice(PAGE_SIZES),
        "margin-x": rng.choice((0, 4, 10, 20)),
        "margin-y": rng.choice((0, 4, 10, 20)),
        "reflow": rng.random() < 0.5,
    }
    colour = rng.random()
    if colour < 0.15:
        changes |= {"font-color": rng.choice(INKS), "page-bg-color": (p := rng.choice(PAPERS)), "para-bg-color": p}
    elif colour < 0.22:
        changes |= {"font-color": rng.choice(LIGHT_INKS), "page-bg-color": (p := rng.choice(DARK_PAPERS)),
                    "para-bg-color": p}
    return base.with_updates(**changes)


# ----------------------------------------------------------------------------- texts
def _in_split(name: str, split: Split) -> bool:
    bucket = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5
    return (bucket == 0) == (split == "heldout")


@functools.cache
def prose(split: Split) -> tuple[str, ...]:
    """Essays of the split (held out: every fifth essay, plus Debian's licence texts)."""
    from glyph.data.essays import essay_texts

    texts = [t for i, (_, t) in enumerate(essay_texts()) if (i % 5 == 0) == (split == "heldout")]
    if split == "heldout":
        texts += [Path(p).read_text(encoding="utf-8") for p in OTHER_PROSE if Path(p).is_file()]
    return tuple(texts)


@functools.cache
def code_files(split: Split) -> tuple[Path, ...]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return tuple(p for p in sorted(root.glob("*.py")) if _in_split(p.name, split))


def _slice(rng: random.Random, text: str, lo: int, hi: int) -> str:
    start = rng.randrange(max(1, len(text) - hi))
    start = text.find(" ", start) + 1
    return text[start : start + rng.randint(lo, hi)]


def _needle(rng: random.Random) -> str:
    from glyph.eval.ruler import random_value

    kind = rng.choice(("numbers", "uuids", "uuids", "words"))
    key = random_value("words", rng)
    name = {"numbers": "number", "uuids": "uuid", "words": "word"}[kind]
    return f"The special magic {name} for {key} is {random_value(kind, rng)}."


def _vt(rng: random.Random) -> str:
    names = ["".join(rng.choices(string.ascii_uppercase, k=5)) for _ in range(rng.randint(2, 6))]
    parts = [f"VAR {names[0]} = {rng.randint(10000, 99999)}."]
    parts += [f"VAR {b} = VAR {a}." for a, b in itertools.pairwise(names)]
    return " ".join(parts)


def _cwe(rng: random.Random) -> str:
    from glyph.eval.words import word_pool

    pool = word_pool(400, rng)
    return " ".join(f"{i + 1}. {rng.choice(pool)}" for i in range(rng.randint(5, 40)))


def _coded(rng: random.Random) -> str:
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 8))) for _ in range(rng.randint(5, 30)))


_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation, CHARSET[95:])


def _random_string(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(3, 20)):
        pool = rng.choices(_CLASSES, weights=(4, 3, 3, 2, 0.4))[0] if rng.random() < 0.6 else CHARSET[1:]
        words.append("".join(rng.choices(pool, k=rng.randint(1, 12))))
    return " ".join(words)


def _numbers(rng: random.Random) -> str:
    forms = (
        lambda: str(rng.randint(0, 10 ** rng.randint(1, 9))),
        lambda: f"{rng.uniform(0, 1e5):,.2f}",
        lambda: f"{rng.randint(1900, 2099)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.uniform(-50, 50):+.1f}%",
        lambda: f"${rng.randint(1, 9999)}",
        lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        lambda: f"0x{rng.getrandbits(32):08x}",
    )
    return " ".join(rng.choice(forms)() for _ in range(rng.randint(3, 15)))


def _dashes(rng: random.Random) -> str:
    """Hyphens beside en and em dashes: hyphenated keys and UUIDs, number ranges, dashed clauses."""
    from glyph.eval.ruler import random_value

    forms = (
        lambda: random_value("words", rng),
        lambda: random_value("uuids", rng),
        lambda: f"{rng.randint(1, 999)}–{rng.randint(1, 999)}",
        lambda: f"{random_value('words', rng)} — {random_value('words', rng)}",
        lambda: f"{rng.randint(1900, 2099)}-{rng.randint(1, 12):02d}",
        lambda: rng.choice(("-", "–", "—", "--", " - ")),
    )
    return " ".join(rng.choice(forms)() for _ in range(rng.randint(4, 14)))


def _code(rng: random.Random, split: Split) -> str:
    files = code_files(split)
    text = rng.choice(files).read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    start = rng.randrange(max(1, len(lines) - 30))
    return "\n".join(lines[start : start + rng.randint(5, 30)])


def page_text(rng: random.Random, split: Split, chars: int = 6000, dashes: bool = False) -> str:
    """A page's worth of mixed text: prose with needles, RULER-like pieces, strings, numbers, code.

    ``dashes`` adds hyphen / en dash / em dash contrasts (the shipped weights' last 500 steps).
    """
    texts = prose(split)
    pieces: list[str] = []
    size = 0
    while size < chars:
        kind = rng.choices(
            ("prose", "needle", "vt", "cwe", "coded", "random", "numbers", "code", "dashes"),
            weights=(30, 14, 8, 5, 4, 14, 10, 8, 4 if dashes else 0),
        )[0]
        if kind == "prose":
            piece = _slice(rng, rng.choice(texts), 100, 800)
        elif kind == "code":
            piece = _code(rng, split)
        else:
            piece = {"needle": _needle, "vt": _vt, "cwe": _cwe, "coded": _coded, "random": _random_string,
                     "numbers": _numbers, "dashes": _dashes}[kind](rng)
        pieces.append(piece)
        pieces.append(rng.choice((" ", " ", "\n", "\n\n")))
        size += len(piece) + 1
    return "".join(pieces)


# ----------------------------------------------------------------------------- lines
@dataclass(frozen=True)
class Example:
    image: np.ndarray  # prepared line (HEIGHT, W), ink 1
    text: str  # whitespace-collapsed label


def label_of(box: LineBox) -> str | None:
    """The line's text as the model is taught to write it, or None if it has a foreign character."""
    text = " ".join(box.text.split())
    if not text or any(ch not in CHARSET for ch in text):
        return None
    return text


def page_gray(page: RenderedPage) -> np.ndarray:
    return np.asarray(page.image.convert("L"))


def crop_box(gray: np.ndarray, box: LineBox, rng: random.Random | None = None, jitter: float = 0.12) -> np.ndarray:
    """The pixels of a line box (2 px of slack at the sides); ``rng`` jitters its edges for training."""
    top, bottom, left, right = box.top, box.bottom, box.left - 2, box.right + 2
    if rng is not None:
        em = max(1.0, (box.baseline - box.top) / 0.95)
        top += round(rng.uniform(-jitter, jitter) * em)
        bottom += round(rng.uniform(-jitter, jitter) * em)
        left -= rng.randint(0, 3)
        right += rng.randint(0, 3)
    h, w = gray.shape
    top, bottom = max(0, top), min(h, max(bottom, top + 2))
    return gray[top:bottom, max(0, left) : min(w, right)]


def page_examples(page: RenderedPage, rng: random.Random | None = None) -> list[Example]:
    gray = page_gray(page)
    out = []
    for box in page.lines:
        text = label_of(box)
        if text is None:
            continue
        crop = crop_box(gray, box, rng)
        if crop.size == 0:
            continue
        image = prepare_line(crop)
        if image.shape[1] <= MAX_WIDTH and 2 * len(text) < image.shape[1]:
            out.append(Example(image, text))
    return out


def random_page(rng: random.Random, split: Split, dashes: bool = False) -> RenderedPage:
    """The first page of a random text under a random config."""
    while True:
        cfg = sample_config(rng)
        page = next(iter(render_pages(page_text(rng, split, dashes=dashes), cfg)), None)
        if page is not None and page.lines:
            return page


def examples(seed: int, split: Split = "train", jitter: bool = True, dashes: bool = False) -> Iterator[Example]:
    """An endless stream of labelled lines, one random page at a time, deterministic for ``seed``."""
    rng = random.Random(f"glyphrec:{split}:{seed}" + (":dashes" if dashes else ""))
    while True:
        page = random_page(rng, split, dashes)
        yield from page_examples(page, rng if jitter else None)

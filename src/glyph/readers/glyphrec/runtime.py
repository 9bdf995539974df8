"""Run the compact line recogniser: one shared line preparation, ONNX inference, CTC decoding.

The model reads one text line scaled to ``HEIGHT`` pixels (the line box the layout knows, or a
strip the pixel line finder found: both span ~0.95 em above the baseline and ~0.25 em below).
:func:`prepare_line` is the only place a crop becomes model input, used by training and
inference alike, so what the model learnt on is what it is given.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Model input height in pixels: a 1.2-em line box becomes ~20 px per em, CTC steps are 2 px.
HEIGHT = 24
#: Columns per CTC time step (the network pools width once by 2).
STRIDE = 2
#: Crops with less contrast than this (8-bit levels between background and ink) are blank.
MIN_CONTRAST = 40
#: The shipped model, trained by ``python -m glyph.train.recognizer.train`` (see its model card).
MODEL_PATH = Path(__file__).with_name("glyphrec_latin.onnx")
CARD_PATH = Path(__file__).with_name("glyphrec_latin.json")

#: What the Latin model writes: printable ASCII (space first) and the typographic marks of prose.
CHARSET = "".join(chr(c) for c in range(32, 127)) + "—–‘’“”…•€£°×é"


def encode(text: str, charset: str = CHARSET) -> list[int]:
    """Class ids of ``text`` (0 is the CTC blank, so ids start at 1); raises on a foreign character."""
    index = {ch: i + 1 for i, ch in enumerate(charset)}
    try:
        return [index[ch] for ch in text]
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} of {text!r} is not in the recogniser's charset") from None


def prepare_line(gray: np.ndarray, height: int = HEIGHT) -> np.ndarray:
    """An 8-bit gray line crop as model input: ink 1, background 0, ``height`` rows, aspect kept.

    Polarity and contrast are taken from the crop itself (background = its median level, ink =
    the level farthest from it), so coloured text, tinted paper and light-on-dark paragraphs all
    look alike to the model. A crop without ink comes back as zeros.
    """
    import cv2

    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"prepare_line needs a non-empty 2-D gray crop, got shape {gray.shape}")
    g = gray.astype(np.float32)
    bg = float(np.median(g))
    lo, hi = float(g.min()), float(g.max())
    ink = lo if bg - lo >= hi - bg else hi
    h, w = gray.shape
    width = max(STRIDE * 4, round(w * height / h))
    if abs(bg - ink) < MIN_CONTRAST:
        return np.zeros((height, width), np.float32)
    x = np.clip((g - bg) / (ink - bg), 0.0, 1.0)
    interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    return cv2.resize(x, (width, height), interpolation=interp)


def batch_lines(lines: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Prepared lines padded with background to one width: (N, 1, H, W) float32 and their widths."""
    widths = np.array([line.shape[1] for line in lines], np.int64)
    out = np.zeros((len(lines), 1, lines[0].shape[0], int(widths.max())), np.float32)
    for i, line in enumerate(lines):
        out[i, 0, :, : line.shape[1]] = line
    return out, widths


@dataclass(frozen=True)
class Read:
    """One line read back: the text and the mean probability of its kept CTC steps (1.0 if empty)."""

    text: str
    confidence: float


def ctc_greedy(logits: np.ndarray, steps: int, charset: str = CHARSET) -> Read:
    """Best-path CTC decoding of one line's (T, C) scores over its first ``steps`` time steps."""
    scores = logits[:steps]
    ids = scores.argmax(-1)
    keep = np.ones(len(ids), bool)
    keep[1:] = ids[1:] != ids[:-1]
    keep &= ids != 0
    if not keep.any():
        return Read("", 1.0)
    z = scores[keep]
    probs = 1.0 / np.exp(z - z.max(-1, keepdims=True)).sum(-1)  # softmax probability of each kept id
    text = "".join(charset[i - 1] for i in ids[keep])
    return Read(" ".join(text.split()), float(probs.mean()))


class GlyphRecognizer:
    """The shipped compact recogniser on ONNX Runtime; ``threads`` intra-op threads (1 = one core).

    ``batch`` lines are run together after sorting by width (padding wasted is small because
    neighbours in width order are alike); on one core batches of a few lines are measured to be
    slightly faster than single lines, see ``benchmarks/results/reader_speed.md``.
    """

    def __init__(self, model_path: str | Path | None = None, threads: int = 1, batch: int = 8) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model_path = Path(model_path) if model_path else MODEL_PATH
        if not self.model_path.is_file():
            raise FileNotFoundError(
                f"recogniser weights {self.model_path} are missing; train them with "
                "python -m glyph.train.recognizer.train (see the glyph.readers.glyphrec docstring)"
            )
        self.session = _session(str(self.model_path), threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.charset = json.loads(meta["charset"]) if "charset" in meta else CHARSET
        self.height = int(meta.get("height", HEIGHT))
        self.revision = meta.get("revision", "unknown")
        self.batch = batch

    def __call__(self, lines: Sequence[np.ndarray]) -> list[Read]:
        """Read prepared lines (from :func:`prepare_line`), in order."""
        out: list[Read | None] = [None] * len(lines)
        order = np.argsort([line.shape[1] for line in lines], kind="stable")
        name = self.session.get_inputs()[0].name
        for start in range(0, len(order), self.batch):
            ids = order[start : start + self.batch]
            x, widths = batch_lines([lines[i] for i in ids])
            logits = self.session.run(None, {name: x})[0]
            for row, i in enumerate(ids):
                out[i] = ctc_greedy(logits[row], int(widths[row]) // STRIDE, self.charset)
        return [r for r in out if r is not None]


@functools.lru_cache(maxsize=4)
def _session(path: str, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

"""``synthetic``: an analytic stand-in for a reader, for dry runs and tests of the search itself.

No rendering, no reader: accuracy is a smooth function of the glyph height in pixels
(font size x dpi / 72, squeezed by horizontal scale) and of the leading; compression is
what the page geometry implies (characters per visual-token patch). It has the real
trade-off's shape (small type compresses more and reads worse) and a known optimum, which
lets tests check that the search improves and converges, in milliseconds per config.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from glyph.render.config import RenderConfig
from glyph.search.evaluators.base import Evaluation, Evaluator

PATCH_PX = 28  # a visual token covers about 28 x 28 pixels (Qwen2.5-VL, GLM-4.1V after merging)
CHARS_PER_TEXT_TOKEN = 4.0
CHAR_WIDTH_EM = 0.55


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def synthetic_objectives(cfg: RenderConfig, legible_px: float = 6.0) -> tuple[float, float, dict[str, Any]]:
    """(accuracy, compression, details) of a config under the analytic model."""
    px = cfg.font_size * cfg.dpi / 72.0
    width_px = px * math.sqrt(cfg.horizontal_scale)
    spacing = cfg.leading / cfg.font_size
    accuracy = _sigmoid((width_px - legible_px) * 1.5) * (0.9 + 0.1 * min(1.0, max(0.0, (spacing - 1.0) / 0.2)))
    w, h = cfg.page_size
    fill = max(cfg.text_width, 1e-6) * max(cfg.frame_height, 1e-6) / (w * h)
    char_area = CHAR_WIDTH_EM * px * cfg.horizontal_scale * cfg.leading * cfg.dpi / 72.0
    compression = PATCH_PX * PATCH_PX / CHARS_PER_TEXT_TOKEN * fill / char_area
    return accuracy, compression, {"glyph_px": round(px, 3), "fill": round(fill, 4)}


class SyntheticEvaluator(Evaluator):
    name = "synthetic"

    def __init__(self, cache_dir: str | Path | None = None, *, legible_px: float = 6.0) -> None:
        super().__init__(cache_dir, legible_px=legible_px)
        self.legible_px = legible_px

    def evaluate(self, cfg: RenderConfig) -> Evaluation:
        accuracy, compression, details = synthetic_objectives(cfg, self.legible_px)
        return Evaluation(accuracy, compression, details)

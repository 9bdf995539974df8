"""Visual-side token accounting: how many LLM tokens a rendered page costs a given VLM.

Each family resizes an image with its own ``smart_resize`` (aspect kept, sides snapped to
``patch_size * merge_size``, area clamped to a pixel budget), cuts it into ``patch_size``
patches and merges ``merge_size x merge_size`` patches into one LLM token. The arithmetic
below mirrors transformers' image processors step for step, float operations included,
because off-by-one snapping changes the count; ``tests/tokens`` checks it against the real
processors on hundreds of sizes.

Defaults are those of the released checkpoints' ``preprocessor_config.json`` (not the
processor classes' own defaults, which differ):

* ``glm4v`` (GLM-4.1V-9B, base of zai-org/Glyph): ``size = {shortest_edge: 12544,
  longest_edge: 9633792}``, patch 14, merge 2, temporal patch 2. GLM's rule differs from
  Qwen's: sides below 28 px are first scaled up to 28, and the budget is checked on
  ``temporal_patch_size * h * w`` (a still image counts as 2 frames), so the effective
  per-image area range is 6,272 .. 4,816,896 px.
* ``qwen2vl`` / ``qwen2.5vl``: ``min_pixels 3136, max_pixels 12845056`` (4 .. 16,384 tokens),
  patch 14, merge 2.
* ``qwen3vl``: ``size = {shortest_edge: 65536, longest_edge: 16777216}``, patch 16, merge 2,
  same resize rule as Qwen2-VL.
* ``generic``: Qwen2-VL's rule with the processor-class defaults (56*56 .. 28*28*1280 px);
  override any field, e.g. ``get_vlm_rule("generic", patch_size=16, max_pixels=...)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["VLM_RULES", "VisualTokenRule", "get_vlm_rule", "rule_from_image_processor", "vlm_rule_names"]

ResizeStyle = Literal["qwen2vl", "glm4v"]

#: Both processors refuse images whose long/short side ratio exceeds this.
MAX_ASPECT_RATIO = 200


@dataclass(frozen=True)
class VisualTokenRule:
    """How one VLM family turns an image of ``width x height`` pixels into LLM tokens."""

    name: str
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    min_pixels: int
    max_pixels: int
    #: Wrapper tokens the chat template puts around each image's placeholder run,
    #: e.g. ``<|vision_start|>...<|vision_end|>`` (Qwen) or
    #: ``<|begin_of_image|>...<|end_of_image|>`` (GLM-4.1V).
    special_tokens_per_image: int = 2
    resize_style: ResizeStyle = "qwen2vl"

    def __post_init__(self) -> None:
        for field in ("patch_size", "merge_size", "temporal_patch_size", "min_pixels", "max_pixels"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{self.name}: {field} must be a positive int, got {value!r}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(
                f"{self.name}: min_pixels ({self.min_pixels}) must not exceed max_pixels ({self.max_pixels})"
            )
        if not isinstance(self.special_tokens_per_image, int) or self.special_tokens_per_image < 0:
            raise ValueError(
                f"{self.name}: special_tokens_per_image must be an int >= 0, got {self.special_tokens_per_image!r}"
            )
        if self.resize_style not in ("qwen2vl", "glm4v"):
            raise ValueError(
                f"{self.name}: resize_style must be 'qwen2vl' or 'glm4v', got {self.resize_style!r}"
            )

    @property
    def factor(self) -> int:
        """Side lengths are multiples of this (one merged token covers factor x factor px)."""
        return self.patch_size * self.merge_size

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` the model's processor resizes an image of this size to."""
        _check_size(width, height)
        if self.resize_style == "glm4v":
            h, w = self._glm4v_resize(height, width)
        else:
            h, w = self._qwen2vl_resize(height, width)
        return w, h

    def grid(self, width: int, height: int) -> tuple[int, int, int]:
        """``image_grid_thw`` the processor reports: (1, patches down, patches across)."""
        w, h = self.resized_size(width, height)
        return 1, h // self.patch_size, w // self.patch_size

    def tokens_for_image(self, width: int, height: int) -> int:
        """Placeholder (image-pad) tokens for one image: grid_t * grid_h * grid_w / merge**2."""
        t, gh, gw = self.grid(width, height)
        return t * gh * gw // self.merge_size**2

    def tokens_with_wrappers(self, width: int, height: int) -> int:
        """Tokens one image costs in the prompt, including its start/end wrapper tokens."""
        return self.tokens_for_image(width, height) + self.special_tokens_per_image

    def document_tokens(self, sizes: Iterable[tuple[int, int]]) -> int:
        """Total prompt tokens for a document rendered as images of ``(width, height)`` each."""
        return sum(self.tokens_with_wrappers(w, h) for w, h in sizes)

    # -- the two resize rules, transcribed from transformers (keep the float order) --------

    def _check_aspect(self, height: float, width: float, original: tuple[int, int]) -> None:
        ratio = max(height, width) / min(height, width)
        if ratio > MAX_ASPECT_RATIO:
            w, h = original
            raise ValueError(
                f"{self.name}: image {w}x{h} has aspect ratio {ratio:g}; the processor accepts at most "
                f"{MAX_ASPECT_RATIO}"
            )

    def _qwen2vl_resize(self, height: int, width: int) -> tuple[int, int]:
        """``transformers.models.qwen2_vl.image_processing_qwen2_vl.smart_resize``."""
        factor, min_pixels, max_pixels = self.factor, self.min_pixels, self.max_pixels
        self._check_aspect(height, width, (width, height))
        h_bar = round(height / factor) * factor
        w_bar = round(width / factor) * factor
        if h_bar * w_bar > max_pixels:
            beta = math.sqrt((height * width) / max_pixels)
            h_bar = max(factor, math.floor(height / beta / factor) * factor)
            w_bar = max(factor, math.floor(width / beta / factor) * factor)
        elif h_bar * w_bar < min_pixels:
            beta = math.sqrt(min_pixels / (height * width))
            h_bar = math.ceil(height * beta / factor) * factor
            w_bar = math.ceil(width * beta / factor) * factor
        return h_bar, w_bar

    def _glm4v_resize(self, height: int, width: int) -> tuple[int, int]:
        """``transformers.models.glm4v.image_processing_glm4v.smart_resize`` for a still image.

        The image processor calls it with ``num_frames = temporal_factor = temporal_patch_size``.
        """
        factor, min_pixels, max_pixels = self.factor, self.min_pixels, self.max_pixels
        num_frames = temporal_factor = self.temporal_patch_size
        original = (width, height)
        if height < factor or width < factor:
            scale = max(factor / height, factor / width)
            height = int(height * scale)
            width = int(width * scale)
        self._check_aspect(height, width, original)
        h_bar = round(height / factor) * factor
        w_bar = round(width / factor) * factor
        t_bar = round(num_frames / temporal_factor) * temporal_factor
        if t_bar * h_bar * w_bar > max_pixels:
            beta = math.sqrt((num_frames * height * width) / max_pixels)
            h_bar = max(factor, math.floor(height / beta / factor) * factor)
            w_bar = max(factor, math.floor(width / beta / factor) * factor)
        elif t_bar * h_bar * w_bar < min_pixels:
            beta = math.sqrt(min_pixels / (num_frames * height * width))
            h_bar = math.ceil(height * beta / factor) * factor
            w_bar = math.ceil(width * beta / factor) * factor
        return h_bar, w_bar


def _check_size(width: Any, height: Any) -> None:
    for label, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"image {label} must be a positive int, got {value!r}")


_GLM4V = VisualTokenRule(
    name="glm4v",
    patch_size=14,
    merge_size=2,
    temporal_patch_size=2,
    min_pixels=112 * 112,  # 12544
    max_pixels=9633792,  # = 28*28*12288, GLM-4.1V-9B preprocessor_config "longest_edge"
    special_tokens_per_image=2,  # <|begin_of_image|> ... <|end_of_image|>
    resize_style="glm4v",
)
_QWEN2VL = VisualTokenRule(
    name="qwen2vl",
    patch_size=14,
    merge_size=2,
    temporal_patch_size=2,
    min_pixels=56 * 56,  # 3136
    max_pixels=28 * 28 * 16384,  # 12845056
    special_tokens_per_image=2,  # <|vision_start|> ... <|vision_end|>
)

#: Canonical rules by name.
VLM_RULES: dict[str, VisualTokenRule] = {
    "glm4v": _GLM4V,
    "qwen2vl": _QWEN2VL,
    "qwen2.5vl": dataclasses.replace(_QWEN2VL, name="qwen2.5vl"),
    "qwen3vl": VisualTokenRule(
        name="qwen3vl",
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=256 * 256,  # 65536
        max_pixels=4096 * 4096,  # 16777216
        special_tokens_per_image=2,  # <|vision_start|> ... <|vision_end|>
    ),
    "generic": VisualTokenRule(
        name="generic",
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=56 * 56,
        max_pixels=28 * 28 * 1280,
        special_tokens_per_image=2,
    ),
}

_ALIASES = {
    "glm-4.1v": "glm4v",
    "glm4.1v": "glm4v",
    "glyph": "glm4v",  # zai-org/Glyph is GLM-4.1V-9B-Base fine-tuned; same processor assumed
    "qwen2-vl": "qwen2vl",
    "qwen2.5-vl": "qwen2.5vl",
    "qwen2_5vl": "qwen2.5vl",
    "qwen2_5_vl": "qwen2.5vl",
    "qwen2_vl": "qwen2vl",
    "qwen3-vl": "qwen3vl",
    "qwen3_vl": "qwen3vl",
}


def vlm_rule_names() -> list[str]:
    """Every accepted name (canonical names first, then aliases)."""
    return [*VLM_RULES, *_ALIASES]


def get_vlm_rule(name: str, **overrides: Any) -> VisualTokenRule:
    """Rule for a VLM family by name; keyword overrides (e.g. ``max_pixels=...``) are validated."""
    normalized = name.strip().lower() if isinstance(name, str) else ""
    key = _ALIASES.get(normalized, normalized)
    if key not in VLM_RULES:
        raise ValueError(f"unknown VLM family {name!r}; valid names: {', '.join(vlm_rule_names())}")
    rule = VLM_RULES[key]
    if not overrides:
        return rule
    unknown = set(overrides) - {f.name for f in dataclasses.fields(VisualTokenRule)}
    if unknown:
        raise ValueError(f"unknown VisualTokenRule field(s) {sorted(unknown)} for {name!r}")
    return dataclasses.replace(rule, **overrides)


def rule_from_image_processor(image_processor: Any, name: str | None = None) -> VisualTokenRule:
    """The rule a loaded transformers image processor applies (GLM-4.1V, Qwen2/2.5/3-VL), from its settings.

    Training counts a record's length without running the processor, so it reads the checkpoint's own
    settings (patch, merge, temporal patch, pixel budget) instead of assuming the released ones.
    """
    size = getattr(image_processor, "size", None) or {}

    def setting(*keys: str) -> Any:
        for key in keys:
            value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
            if value:
                return value
        return None

    min_pixels = getattr(image_processor, "min_pixels", None) or setting("shortest_edge", "min_pixels")
    max_pixels = getattr(image_processor, "max_pixels", None) or setting("longest_edge", "max_pixels")
    if not (min_pixels and max_pixels):
        name_ = type(image_processor).__name__
        raise ValueError(f"{name_}: no pixel budget (size / min_pixels / max_pixels) to count visual tokens with")
    style: ResizeStyle = "glm4v" if "glm4v" in type(image_processor).__name__.lower() else "qwen2vl"
    return VisualTokenRule(
        name=name or type(image_processor).__name__,
        patch_size=int(image_processor.patch_size),
        merge_size=int(image_processor.merge_size),
        temporal_patch_size=int(getattr(image_processor, "temporal_patch_size", 2) or 2),
        min_pixels=int(min_pixels),
        max_pixels=int(max_pixels),
        resize_style=style,
    )

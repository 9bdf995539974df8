"""Visual token counts must equal what each model's own transformers image processor produces.

The processors are built locally, without any download, from the values in the released
checkpoints' ``preprocessor_config.json`` (pasted below as literals). transformers 5.x maps
the plain class names (``Glm4vImageProcessor``, ``Qwen2VLImageProcessor``) to torchvision
backends, which cannot be installed here, so we use the PIL/numpy backends
``Glm4vImageProcessorPil`` and ``Qwen2VLImageProcessorPil`` (same ``smart_resize``).
Qwen3-VL has no image processor of its own: its checkpoints use ``Qwen2VLImageProcessor``
with patch 16.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from glyph.tokens import VisualTokenRule, get_vlm_rule, vlm_rule_names

pytest.importorskip("transformers")
np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

# Released preprocessor_config.json values (GLM-4.1V-9B, Qwen2-VL-7B-Instruct /
# Qwen2.5-VL-7B-Instruct, Qwen3-VL-8B-Instruct); "generic" is an arbitrary user setting.
RELEASED: dict[str, dict[str, Any]] = {
    "glm4v": {"size": {"shortest_edge": 12544, "longest_edge": 9633792}, "patch_size": 14, "merge_size": 2},
    "qwen2vl": {"size": {"shortest_edge": 3136, "longest_edge": 12845056}, "patch_size": 14, "merge_size": 2},
    "qwen2.5vl": {
        "size": {"shortest_edge": 3136, "longest_edge": 12845056},
        "patch_size": 14,
        "merge_size": 2,
    },
    "qwen3vl": {
        "size": {"shortest_edge": 65536, "longest_edge": 16777216},
        "patch_size": 16,
        "merge_size": 2,
    },
    "generic": {"size": {"shortest_edge": 5000, "longest_edge": 700000}, "patch_size": 10, "merge_size": 3},
}
PROCESSOR_CLASS: dict[str, Callable[..., Any]] = {
    "glm4v": Glm4vImageProcessorPil,
    "qwen2vl": Qwen2VLImageProcessorPil,
    "qwen2.5vl": Qwen2VLImageProcessorPil,
    "qwen3vl": Qwen2VLImageProcessorPil,
    "generic": Qwen2VLImageProcessorPil,
}
FAMILIES = list(RELEASED)

# Hand-picked: tiny, around the snapping factor, at the 200:1 aspect limit (accepted and not,
# and for GLM tiny images whose ratio only crosses 200 after its upscale), and huge.
EDGE_SIZES: list[tuple[int, int]] = [
    (1, 1), (1, 2), (2, 1), (3, 3), (7, 5), (13, 13), (14, 14), (15, 16), (27, 27), (28, 28),
    (29, 29), (31, 33), (32, 32), (55, 57), (56, 56), (111, 113), (112, 112), (255, 257),
    (1, 150), (150, 1), (1, 199), (199, 1), (1, 200), (200, 1), (1, 201), (201, 1), (3, 500),
    (3, 601), (10, 2000), (10, 2001), (2000, 10), (14, 2800), (28, 5600), (28, 5601), (60, 11999),
    (27, 5401), (1000, 1), (9, 1800), (5000, 8000),
]  # fmt: skip
# More huge sizes, checked through the processor's patch-count helper only (full runs take ~1 s each).
HUGE_SIZES: list[tuple[int, int]] = [
    (8000, 5000), (2500, 2500), (4096, 4096), (4097, 4095), (3000, 7000), (20000, 30000), (99999, 500),
]  # fmt: skip


def _random_sizes(seed: int, n: int, max_log10_side: float = 3.2) -> list[tuple[int, int]]:
    """Seeded mix: log-uniform sides, near-multiples of common factors, extreme aspect ratios."""
    rng = random.Random(seed)
    sizes: list[tuple[int, int]] = []
    while len(sizes) < n:
        kind = rng.random()
        if kind < 0.6:
            w, h = (round(10 ** rng.uniform(0, max_log10_side)) for _ in range(2))
        elif kind < 0.8:
            w, h = (rng.choice((28, 32, 30)) * rng.randint(1, 60) + rng.randint(-2, 2) for _ in range(2))
        else:
            short = rng.randint(1, 40)
            long = round(short * rng.uniform(150, 260))
            w, h = (short, long) if rng.random() < 0.5 else (long, short)
        sizes.append((max(1, w), max(1, h)))
    return sizes


def _build_processor(family: str) -> Any:
    cfg = RELEASED[family]
    kwargs: dict[str, Any] = {
        "size": dict(cfg["size"]),
        "patch_size": cfg["patch_size"],
        "merge_size": cfg["merge_size"],
        "temporal_patch_size": 2,
        # Pixel values do not affect the grid; skipping them keeps 1000 runs fast.
        "do_rescale": False,
        "do_normalize": False,
    }
    return PROCESSOR_CLASS[family](**kwargs)


def _processor_tokens(processor: Any, width: int, height: int) -> int | None:
    """The processor's own token count for a blank image, or None if it rejects the size."""
    image = Image.new("RGB", (width, height))
    try:
        out = processor(image, return_tensors=None, input_data_format="channels_last")
    except ValueError:
        return None
    t, gh, gw = (int(v) for v in out["image_grid_thw"][0])
    return t * gh * gw // processor.merge_size**2


def _rule(family: str) -> VisualTokenRule:
    rule = get_vlm_rule(family)
    if family == "generic":
        cfg = RELEASED["generic"]
        rule = get_vlm_rule(
            "generic",
            patch_size=cfg["patch_size"],
            merge_size=cfg["merge_size"],
            min_pixels=cfg["size"]["shortest_edge"],
            max_pixels=cfg["size"]["longest_edge"],
        )
    return rule


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "generic"])
def test_rule_defaults_are_the_released_preprocessor_configs(family: str) -> None:
    rule = get_vlm_rule(family)
    cfg = RELEASED[family]
    assert (rule.min_pixels, rule.max_pixels) == (cfg["size"]["shortest_edge"], cfg["size"]["longest_edge"])
    assert (rule.patch_size, rule.merge_size, rule.temporal_patch_size) == (
        cfg["patch_size"],
        cfg["merge_size"],
        2,
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_token_count_matches_image_processor(family: str) -> None:
    processor = _build_processor(family)
    rule = _rule(family)
    sizes = EDGE_SIZES + _random_sizes(seed=1234 + FAMILIES.index(family), n=240)
    accepted = rejected = 0
    mismatches = []
    for width, height in sizes:
        expected = _processor_tokens(processor, width, height)
        if expected is None:
            rejected += 1
            with pytest.raises(ValueError, match="aspect ratio"):
                rule.tokens_for_image(width, height)
            continue
        accepted += 1
        ours = rule.tokens_for_image(width, height)
        if ours != expected:
            mismatches.append(((width, height), ours, expected))
    assert not mismatches, f"{family}: (size, ours, processor): {mismatches[:10]}"
    assert accepted >= 200 and rejected >= 5, (accepted, rejected)


@pytest.mark.parametrize("family", FAMILIES)
def test_grid_matches_get_number_of_image_patches_on_many_sizes(family: str) -> None:
    """Second check on 3000 more sizes, up to 20000 px a side, via the processor's patch-count helper.

    ``get_number_of_image_patches`` runs the same ``smart_resize`` as preprocessing, without
    touching pixels, so it can cover the max-pixels branch on many huge sizes cheaply.
    """
    processor = _build_processor(family)
    rule = _rule(family)
    for width, height in (
        EDGE_SIZES + HUGE_SIZES + _random_sizes(seed=99 + FAMILIES.index(family), n=3000, max_log10_side=4.3)
    ):
        try:
            expected = processor.get_number_of_image_patches(height, width)
        except ValueError:
            with pytest.raises(ValueError):
                rule.grid(width, height)
            continue
        t, gh, gw = rule.grid(width, height)
        assert t * gh * gw == expected, (width, height)


def test_resized_size_is_width_height_and_snapped() -> None:
    rule = get_vlm_rule("qwen2vl")
    processor = _build_processor("qwen2vl")
    out = processor(Image.new("RGB", (1000, 300)), return_tensors=None, input_data_format="channels_last")
    _, gh, gw = (int(v) for v in out["image_grid_thw"][0])
    assert rule.resized_size(1000, 300) == (gw * 14, gh * 14)
    assert rule.grid(1000, 300) == (1, gh, gw)


def test_document_tokens_adds_wrappers_per_image() -> None:
    # GLM-4.1V's template wraps each image as <|begin_of_image|>{<|image|> x N}<|end_of_image|>;
    # Qwen2/2.5/3-VL as <|vision_start|>{<|image_pad|> x N}<|vision_end|>: 2 extra tokens each.
    sizes = [(1240, 1754), (1240, 1754), (800, 600)]
    for family in ("glm4v", "qwen2vl", "qwen2.5vl", "qwen3vl"):
        rule = get_vlm_rule(family)
        processor = _build_processor(family)
        expected = sum(_processor_tokens(processor, w, h) + 2 for w, h in sizes)  # type: ignore[operator]
        assert rule.special_tokens_per_image == 2
        assert rule.document_tokens(sizes) == expected
        assert rule.document_tokens([]) == 0


@pytest.mark.parametrize("bad", [0, -1, -28, 1.5, "28", None, True])
def test_bad_image_size_names_the_value(bad: Any) -> None:
    rule = get_vlm_rule("glm4v")
    with pytest.raises(ValueError, match=f"width must be a positive int, got {bad!r}"):
        rule.tokens_for_image(bad, 100)
    with pytest.raises(ValueError, match=f"height must be a positive int, got {bad!r}"):
        rule.resized_size(100, bad)


def test_aspect_ratio_error_names_the_size() -> None:
    with pytest.raises(ValueError, match=r"1000x1 .*aspect ratio 1000"):
        get_vlm_rule("qwen3vl").tokens_for_image(1000, 1)


def test_unknown_family_lists_valid_names() -> None:
    with pytest.raises(
        ValueError, match=r"unknown VLM family 'llava'.*glm4v.*qwen2vl.*qwen2\.5vl.*qwen3vl.*generic"
    ):
        get_vlm_rule("llava")
    with pytest.raises(ValueError, match="unknown VLM family"):
        get_vlm_rule(None)  # type: ignore[arg-type]


def test_aliases_and_names() -> None:
    assert get_vlm_rule("GLM-4.1V") is get_vlm_rule("glm4v")
    assert get_vlm_rule("qwen2.5-vl") is get_vlm_rule("qwen2.5vl")
    assert {"glm4v", "qwen2vl", "qwen2.5vl", "qwen3vl", "generic"} <= set(vlm_rule_names())


def test_overrides_are_validated() -> None:
    rule = get_vlm_rule("generic", patch_size=16, max_pixels=1024 * 1024)
    assert (rule.patch_size, rule.max_pixels, rule.factor) == (16, 1024 * 1024, 32)
    with pytest.raises(ValueError, match="min_pixels .*must not exceed max_pixels"):
        get_vlm_rule("generic", min_pixels=10_000, max_pixels=100)
    with pytest.raises(ValueError, match="patch_size must be a positive int, got 0"):
        get_vlm_rule("generic", patch_size=0)
    with pytest.raises(ValueError, match=r"unknown VisualTokenRule field\(s\) \['patch'\]"):
        get_vlm_rule("generic", patch=16)

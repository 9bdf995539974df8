"""The model sizes of ``glyph.readers.tiny``: the full-size GLM-4.1V-9B is the released architecture,
and the in-memory builder gives the same model and processor as a saved checkpoint.

Expected values are literals from the released GLM-4.1V-9B ``config.json`` (see ``GLM4V_9B_DIMS``),
parameter counts worked out by hand from those dimensions, and the real image processor's counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # shared tiny-model helpers
from serve_helpers import processor_image_tokens

from glyph.readers.tiny import (
    DIMS,
    GLM4V_9B_DIMS,
    MID_DIMS,
    TEST_DIMS,
    build_config,
    build_tiny_vlm,
    save_tiny_vlm,
)


def lm_parameters(vocab: int, hidden: int, mlp: int, layers: int, heads: int, kv_heads: int) -> int:
    """GLM-4's decoder by hand: q/k/v with bias, o without, gated MLP, 4 RMSNorms a layer (GLM-4's
    post-attention and post-MLP norms included), final norm, untied embedding and LM head."""
    head_dim = hidden // heads
    attention = (hidden * hidden + hidden) + 2 * (hidden * kv_heads * head_dim + kv_heads * head_dim)
    attention += hidden * hidden
    per_layer = attention + 3 * hidden * mlp + 4 * hidden
    return layers * per_layer + hidden + 2 * vocab * hidden


def test_9b_dims_are_the_released_glm41v_config() -> None:
    config = build_config("glm4v", GLM4V_9B_DIMS)
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (4096, 13696, 40)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (32, 2, 151552)
    assert text.rope_parameters["mrope_section"] == [8, 12, 12]
    assert text.rope_parameters["partial_rotary_factor"] == 0.5
    assert text.rope_parameters["rope_theta"] == 10000.0
    assert (vision.depth, vision.hidden_size, vision.num_heads) == (24, 1536, 12)
    assert (vision.intermediate_size, vision.out_hidden_size, vision.image_size) == (13696, 4096, 336)
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size) == (14, 2, 2)
    assert config.image_token_id == 151343  # the released id, from the config class's defaults
    assert config.tie_word_embeddings is False


def test_9b_parameter_count_matches_the_published_size_without_allocating_it() -> None:
    from transformers import Glm4vForConditionalGeneration

    with torch.device("meta"):
        model = Glm4vForConditionalGeneration(build_config("glm4v", GLM4V_9B_DIMS))
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    assert total - vision == lm_parameters(151552, 4096, 13696, 40, 32, 2) == 9_400_279_040
    # The Hub lists the GLM-4.1V-9B checkpoints at 10.3B parameters ("9B" is the LM's class).
    assert 10.25e9 < total < 10.35e9
    assert 0.85e9 < vision < 0.95e9


def test_mid_dims_keep_the_9b_head_layout_at_a_size_one_cpu_runs() -> None:
    from transformers import Glm4vForConditionalGeneration

    config = build_config("glm4v", MID_DIMS)
    assert config.text_config.hidden_size // config.text_config.num_attention_heads == 128
    assert config.text_config.num_key_value_heads == 2
    with torch.device("meta"):
        model = Glm4vForConditionalGeneration(config)
    lm = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in model.model.visual.parameters())
    assert lm == lm_parameters(151552, 1024, 3424, 6, 8, 2)
    assert set(DIMS) == {"test", "bench", "mid", "9b"}


@pytest.mark.parametrize("arch", ["glm4v", "qwen2.5vl"])
def test_in_memory_model_equals_the_saved_checkpoint(arch: str, tmp_path: Path) -> None:
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    built = build_tiny_vlm(arch, dims=TEST_DIMS)
    saved = AutoModelForImageTextToText.from_pretrained(save_tiny_vlm(arch, tmp_path / arch))
    a, b = built.model.state_dict(), saved.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same weights
    half = build_tiny_vlm(arch, dims=TEST_DIMS, dtype=torch.bfloat16)
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16}
    page = Image.new("RGB", (595, 842), "white")
    inputs = built.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": page}, {"type": "text", "text": "page ?"}]}],
        tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt",
    )  # fmt: skip
    image_tokens = int((inputs["input_ids"] == built.model.config.image_token_id).sum())
    assert image_tokens == processor_image_tokens(arch, [page])[0] == 630

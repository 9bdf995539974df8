"""Tiny random-weight VLM checkpoints of the real architectures, built locally (no download).

``save_tiny_vlm("glm4v", out)`` writes a directory laid out like a released checkpoint
(config, safetensors weights, tokenizer, ``preprocessor_config.json``, chat template,
``processor_config.json``) that ``AutoModelForImageTextToText``, :func:`~glyph.readers.local_hf.load_processor`
and :class:`~glyph.readers.local_hf.TransformersReader` load like the real thing:

* the model: ``Glm4vForConditionalGeneration`` (GLM-4.1V, Glyph's base) or
  ``Qwen2_5_VLForConditionalGeneration`` from a small config (:class:`TinyDims`), random
  weights from a fixed seed. Its answers are gibberish; shapes, the image-token expansion,
  M-RoPE and the cost structure (vision tower + causal LM) are the real ones.
* the image processor: the real class with the released checkpoints'
  ``preprocessor_config.json`` values, so a page costs exactly the visual tokens it would.
* the chat template: a string modelled on each family's (role tags, image placeholders).
* the tokenizer, one of two:

  - ``"wordlevel"`` (tests): a word-level vocabulary trained on a few strings plus the
    special tokens the template needs; tiny and instant, unknown words become ``[UNK]``.
  - ``"qwen"`` (benchmarks): Qwen's real byte-level BPE (the 151,643 ranks of
    ``dashscope``'s ``qwen.tiktoken``, as :func:`glyph.tokens.get_tokenizer` counts them)
    converted to a Hugging Face tokenizer, plus the family's special tokens. Text then costs
    the model exactly as many tokens as glyph's ``qwen`` counter says.

Needs torch and transformers >= 5 (``pip install 'glyph-vtc[local]'``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ARCHES",
    "BENCH_DIMS",
    "CORPUS",
    "GLM_SPECIALS",
    "GLM_TEMPLATE",
    "QWEN_SPECIALS",
    "QWEN_TEMPLATE",
    "RELEASED_IMAGE_PROCESSOR",
    "TEMPLATES",
    "TEST_DIMS",
    "TinyDims",
    "build_tokenizer",
    "image_processor",
    "save_tiny_vlm",
]

ARCHES = ("glm4v", "qwen2.5vl")

# Released preprocessor_config.json values (GLM-4.1V-9B-Base / zai-org/Glyph; Qwen2.5-VL-7B-Instruct).
RELEASED_IMAGE_PROCESSOR: dict[str, dict[str, Any]] = {
    "glm4v": {
        "size": {"shortest_edge": 12544, "longest_edge": 9633792},
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    },
    "qwen2.5vl": {
        "size": {"shortest_edge": 3136, "longest_edge": 12845056},
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    },
}

GLM_SPECIALS = [
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>",
    "<|end_of_video|>", "<|image|>", "<|video|>",
]  # fmt: skip
QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip

# Modelled on GLM-4.1V's template: [gMASK]<sop>, role tags, each image as begin/placeholder/end.
GLM_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}"
    "{% if m.role == 'system' %}<|system|>\n{{ m.content }}"
    "{% elif m.role == 'user' %}<|user|>\n{% if m.content is string %}{{ m.content }}{% else %}"
    "{% for item in m.content %}{% if item.type == 'image' or 'image' in item %}"
    "<|begin_of_image|><|image|><|end_of_image|>{% elif item.type == 'text' %}{{ item.text }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% elif m.role == 'assistant' %}<|assistant|>\n{{ m.content }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# Modelled on Qwen2.5-VL's template: default system turn, <|vision_start|><|image_pad|><|vision_end|>.
QWEN_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and m.role != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m.role }}\n{% if m.content is string %}{{ m.content }}{% else %}"
    "{% for item in m.content %}{% if item.type == 'image' or 'image' in item %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif item.type == 'text' %}{{ item.text }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEMPLATES = {"glm4v": GLM_TEMPLATE, "qwen2.5vl": QWEN_TEMPLATE}

#: What the word-level test tokenizer is trained on (its whole vocabulary).
CORPUS = [
    "What is written on the page ? Answer the question about the document .",
    "Transcribe all text in this image exactly as written , line by line . Output only the text .",
    "You are a helpful assistant . system user assistant the a of to and is in it that",
    "Hello world . How to Do Great Work Paul Graham essay page number one two three",
]


@dataclass(frozen=True)
class TinyDims:
    """Sizes of the tiny model: the causal LM (``text_*``) and the vision tower (``vision_*``)."""

    text_hidden: int = 32
    text_intermediate: int = 64
    text_layers: int = 1
    text_heads: int = 2
    text_kv_heads: int = 1
    vision_hidden: int = 32
    vision_intermediate: int = 64
    vision_heads: int = 2
    vision_depth: int | None = None  # None: 1 for GLM-4.1V, 2 for Qwen2.5-VL (one windowed, one full)
    max_positions: int = 8192


#: What the tests use: as small as the architectures allow, instant to build and run.
TEST_DIMS = TinyDims()

#: What ``benchmarks/prefill.py`` uses: big enough that cost grows with the prompt the way a
#: real model's does. Per token the LM's dense layers cost ~8 MFLOP; one visual token's
#: vision-tower work (4 patches, attention over a ~2.5K-patch page, the merger) ~4 MFLOP,
#: about the balance of GLM-4.1V-9B (~16 and ~7 GFLOP). Causal attention overtakes the LM's
#: dense layers near 4K tokens here (hidden 256) as it does near 50K on the 9B model (hidden
#: 4096, 13.7K MLP), so the tiny model at 8K stands in for the real one at ~100K.
BENCH_DIMS = TinyDims(
    text_hidden=256,
    text_intermediate=1024,
    text_layers=4,
    text_heads=4,
    text_kv_heads=2,
    vision_hidden=64,
    vision_intermediate=256,  # GLM-4.1V: the merger's width (its blocks' MLP is as wide as the LM)
    vision_heads=2,
    vision_depth=1,
    max_positions=262144,
)


def build_tokenizer(specials: list[str], eos: str, kind: str = "wordlevel") -> Any:
    """A transformers fast tokenizer with ``specials`` as special tokens (see module doc for ``kind``)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["[UNK]", *specials]))
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token="[UNK]", pad_token="<|endoftext|>", eos_token=eos,
            additional_special_tokens=specials,
        )  # fmt: skip
    if kind == "qwen":
        from transformers.convert_slow_tokenizer import TikTokenConverter

        from glyph.tokens.text import QWEN_PATTERN, qwen_vocab_path

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tok = TikTokenConverter(str(qwen_vocab_path()), pattern=QWEN_PATTERN).converted()
        tok.normalizer = normalizers.NFC()  # as Qwen2's tokenizer (and glyph's counter) do
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<|endoftext|>", eos_token=eos, additional_special_tokens=specials
        )
    raise ValueError(f"tokenizer must be 'wordlevel' or 'qwen', got {kind!r}")


def image_processor(arch: str) -> Any:
    """The real (PIL) image processor class of ``arch`` with the released checkpoint's settings."""
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    _check_arch(arch)
    cls = Glm4vImageProcessorPil if arch == "glm4v" else Qwen2VLImageProcessorPil
    return cls(**RELEASED_IMAGE_PROCESSOR[arch])


def save_tiny_vlm(
    arch: str, out: str | Path, *, dims: TinyDims = TEST_DIMS, tokenizer: str = "wordlevel", seed: int = 0
) -> Path:
    """Build the tiny ``arch`` checkpoint (``glm4v`` or ``qwen2.5vl``) and save it under ``out``."""
    import torch

    _check_arch(arch)
    out = Path(out)
    if arch == "glm4v":
        tok = build_tokenizer(GLM_SPECIALS, eos="<|endoftext|>", kind=tokenizer)
        ids = {t: tok.convert_tokens_to_ids(t) for t in GLM_SPECIALS}
        config, model_cls, processor_class = _glm_config(dims, len(tok), ids)
        eos_ids = [ids["<|endoftext|>"], ids["<|user|>"]]
    else:
        tok = build_tokenizer(QWEN_SPECIALS, eos="<|im_end|>", kind=tokenizer)
        ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
        config, model_cls, processor_class = _qwen_config(dims, len(tok), ids)
        eos_ids = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config.eos_token_id = eos_ids
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(out)
        tok.save_pretrained(out)
        image_processor(arch).save_pretrained(out)
    (out / "chat_template.jinja").write_text(TEMPLATES[arch], encoding="utf-8")
    (out / "processor_config.json").write_text(
        json.dumps({"processor_class": processor_class}), encoding="utf-8"
    )
    (out / "tiny_vlm.json").write_text(  # how it was made, for reports
        json.dumps({"arch": arch, "tokenizer": tokenizer, "seed": seed, "dims": asdict(dims)}, indent=2),
        encoding="utf-8",
    )
    return out


def _check_arch(arch: str) -> None:
    if arch not in ARCHES:
        raise ValueError(f"arch must be one of {', '.join(ARCHES)}; got {arch!r}")


def _text_config(dims: TinyDims, vocab: int) -> dict[str, Any]:
    return {
        "vocab_size": vocab,
        "hidden_size": dims.text_hidden,
        "intermediate_size": dims.text_intermediate,
        "num_hidden_layers": dims.text_layers,
        "num_attention_heads": dims.text_heads,
        "num_key_value_heads": dims.text_kv_heads,
        "max_position_embeddings": dims.max_positions,
    }


def _mrope_section(head_dim: int, rotary_fraction: float) -> list[int]:
    """Temporal/height/width split of the rotary half-dimension (real models: 1:1.5:1.5, t gets the rest)."""
    half = int(head_dim * rotary_fraction) // 2
    hw = max(1, (3 * half) // 8)
    return [half - 2 * hw, hw, hw]


def _glm_config(dims: TinyDims, vocab: int, ids: dict[str, int]) -> tuple[Any, type, str]:
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration

    head_dim = dims.text_hidden // dims.text_heads
    section = [1, 1, 2] if dims == TEST_DIMS else _mrope_section(head_dim, 0.5)  # the tests' split, kept
    config = Glm4vConfig(
        text_config={
            **_text_config(dims, vocab),
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": section,
                "partial_rotary_factor": 0.5,
            },
        },
        vision_config={
            "depth": dims.vision_depth or 1,
            "hidden_size": dims.vision_hidden,
            "num_heads": dims.vision_heads,
            "intermediate_size": dims.vision_intermediate,
            "out_hidden_size": dims.text_hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "image_size": 28,
        },
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
    )
    return config, Glm4vForConditionalGeneration, "Glm4vProcessor"


def _qwen_config(dims: TinyDims, vocab: int, ids: dict[str, int]) -> tuple[Any, type, str]:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    head_dim = dims.text_hidden // dims.text_heads
    section = _mrope_section(head_dim, 1.0)  # TEST_DIMS: [2, 3, 3]
    depth = dims.vision_depth or 2
    config = Qwen2_5_VLConfig(
        text_config={
            **_text_config(dims, vocab),
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
        },
        vision_config={
            "depth": depth,
            "hidden_size": dims.vision_hidden,
            "num_heads": dims.vision_heads,
            "intermediate_size": dims.vision_intermediate,
            "out_hidden_size": dims.text_hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [depth - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    return config, Qwen2_5_VLForConditionalGeneration, "Qwen2_5_VLProcessor"

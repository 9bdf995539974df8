"""Random-weight VLMs of the real architectures, built locally (no download): tiny ones for tests
and CPU benchmarks, and the full-size GLM-4.1V-9B (:data:`GLM4V_9B_DIMS`) for GPU benchmarks.

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

:func:`build_tiny_vlm` makes the same model and processor in memory, straight onto a device in
a dtype (a 9B model in bf16 on a GPU in seconds, nothing written to disk);
:func:`build_config` gives the bare config (e.g. to count parameters on the meta device).

Needs torch and transformers >= 5 (``pip install 'glyph-vtc[local]'``).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ARCHES",
    "BENCH_DIMS",
    "CORPUS",
    "DIMS",
    "GLM4V_9B_DIMS",
    "GLM_SPECIALS",
    "GLM_TEMPLATE",
    "MID_DIMS",
    "QWEN_SPECIALS",
    "QWEN_TEMPLATE",
    "RELEASED_IMAGE_PROCESSOR",
    "TEMPLATES",
    "TEST_DIMS",
    "TinyDims",
    "TinyVLM",
    "build_config",
    "build_tiny_vlm",
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
    """Sizes of a random-weight model: the causal LM (``text_*``) and the vision tower (``vision_*``).

    Tiny by default; :data:`GLM4V_9B_DIMS` is the full-size GLM-4.1V-9B. The vocabulary is the
    tokenizer's (see :func:`build_config` for a given size).
    """

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
    vision_image_size: int = 28  # GLM-4.1V: the grid its learned position embedding is stored at

    @property
    def head_dim(self) -> int:
        """Per-head width of the LM's attention (what each KV-cache entry holds per head)."""
        return self.text_hidden // self.text_heads


#: What the tests use: as small as the architectures allow, instant to build and run.
TEST_DIMS = TinyDims()

#: What ``benchmarks/efficiency.py`` uses for its tiny models: big enough that cost grows with the prompt the way a
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

#: A mid-size model that still runs on one CPU core: GLM-4.1V-9B's LM scaled down 4x in width
#: (hidden 1024, MLP 3,424, 8 heads of 128 and 2 KV heads as in the 9B) and ~7x in depth (6
#: layers); a 2-layer vision tower of width 384 with a merger of width 1024. Per token the LM's
#: dense layers cost ~0.16 GFLOP and a visual token's vision-tower work ~0.04 (plus attention
#: over its page's ~2.5K patches, which weighs more at this width), about the 9B's balance (~16
#: and ~6 GFLOP); causal attention overtakes the LM's dense layers near 13K tokens (9B: ~50K).
MID_DIMS = TinyDims(
    text_hidden=1024,
    text_intermediate=3424,
    text_layers=6,
    text_heads=8,
    text_kv_heads=2,
    vision_hidden=384,
    vision_intermediate=1024,
    vision_heads=3,
    vision_depth=2,
    max_positions=262144,
    vision_image_size=336,
)

#: The full-size GLM-4.1V-9B architecture (GLM-4.1V-9B-Base, the base of zai-org/Glyph), from the
#: released ``config.json`` values. Sources, checked against each other: the defaults of
#: transformers' ``Glm4vTextConfig`` / ``Glm4vVisionConfig`` (documented as the
#: zai-org/GLM-4.1V-9B-Thinking configuration, which shares Base's architecture), transformers'
#: GLM-4.1V model doc, and the released config as reproduced by independent ports (mlx-vlm's
#: ``glm4v`` config, mlxcel's GLM-4V tests):
#:
#: * LM (``text_config``, the GLM-4-9B-0414 backbone): hidden_size 4096, intermediate_size 13696,
#:   num_hidden_layers 40, num_attention_heads 32 (head_dim 128), num_key_value_heads 2,
#:   partial_rotary_factor 0.5, rope_theta 10000, mrope_section [8, 12, 12] (what
#:   ``_mrope_section`` derives for head_dim 128), rms_norm_eps 1e-5, q/k/v bias (transformers
#:   hard-codes it), vocab_size 151,552, untied embeddings.
#: * vision tower (``vision_config``): depth 24, hidden_size 1536, num_heads 12,
#:   intermediate_size 13696 (the merger's width; the blocks' MLP is out_hidden_size wide),
#:   out_hidden_size 4096, image_size 336, patch_size 14, spatial_merge_size 2,
#:   temporal_patch_size 2, no attention bias.
#:
#: Two values differ on purpose, neither changes a cost: the vocabulary is the tokenizer's
#: (Qwen's BPE plus GLM's specials: 151,659 rows instead of 151,552, +0.9M parameters), and
#: max_position_embeddings is 131,072 (the release says 65,536; default RoPE computes positions
#: on the fly, so this only keeps 128K prompts within the declared range). With the released
#: vocabulary the model has 10.29B parameters (9.40B LM, 0.89B vision), the ~10.3B the Hub
#: lists for the GLM-4.1V-9B checkpoints; 20.6 GB in bf16.
GLM4V_9B_DIMS = TinyDims(
    text_hidden=4096,
    text_intermediate=13696,
    text_layers=40,
    text_heads=32,
    text_kv_heads=2,
    vision_hidden=1536,
    vision_intermediate=13696,
    vision_heads=12,
    vision_depth=24,
    max_positions=131072,
    vision_image_size=336,
)

#: The named sizes, for command lines (``--dims mid``).
DIMS: dict[str, TinyDims] = {"test": TEST_DIMS, "bench": BENCH_DIMS, "mid": MID_DIMS, "9b": GLM4V_9B_DIMS}


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


@dataclass
class TinyVLM:
    """A random-weight model with its processor, in memory (what :func:`build_tiny_vlm` returns)."""

    arch: str
    dims: TinyDims
    model: Any
    processor: Any


def build_config(
    arch: str,
    dims: TinyDims = TEST_DIMS,
    *,
    vocab_size: int | None = None,
    token_ids: dict[str, int] | None = None,
) -> Any:
    """The transformers config of ``arch`` at ``dims``, without weights or tokenizer.

    ``vocab_size`` defaults to the released checkpoint's (151,552 for GLM-4.1V, 151,936 for
    Qwen2.5-VL) and ``token_ids`` (special token -> id) to the config class's defaults; a model
    built with a tokenizer (:func:`build_tiny_vlm`) passes its own. Count parameters without
    allocating them: ``with torch.device("meta"): Glm4vForConditionalGeneration(config)``.
    """
    _check_arch(arch)
    if arch == "glm4v":
        return _glm_config(dims, vocab_size or 151552, token_ids)[0]
    return _qwen_config(dims, vocab_size or 151936, token_ids)[0]


def build_tiny_vlm(
    arch: str,
    *,
    dims: TinyDims = TEST_DIMS,
    tokenizer: str = "wordlevel",
    seed: int = 0,
    device: str = "cpu",
    dtype: Any = None,
    attn_implementation: str | None = None,
) -> TinyVLM:
    """The ``arch`` model at ``dims`` with random weights (fixed ``seed``) and its processor, in memory.

    The weights are created directly on ``device`` in ``dtype`` (default float32), so the
    full-size model costs its bf16 size on the GPU and nothing on the host or the disk. The
    processor is the one :func:`save_tiny_vlm` would save, loaded the way a checkpoint's is.
    """
    from glyph.readers.local_hf import load_processor

    tok, config, model_cls, processor_class, eos_ids, ids = _parts(arch, dims, tokenizer)
    model = _random_model(model_cls, config, seed, device, dtype, attn_implementation)
    _set_generation_ids(model, eos_ids, ids)
    with tempfile.TemporaryDirectory(prefix="glyph-tiny-processor-") as tmp:
        config.save_pretrained(tmp)  # the processor is looked up by the config's model type
        _save_processor_files(Path(tmp), arch, tok, processor_class)
        processor = load_processor(tmp)
    return TinyVLM(arch, dims, model, processor)


def save_tiny_vlm(
    arch: str,
    out: str | Path,
    *,
    dims: TinyDims = TEST_DIMS,
    tokenizer: str = "wordlevel",
    seed: int = 0,
    device: str = "cpu",
    dtype: Any = None,
) -> Path:
    """Build the ``arch`` checkpoint (``glm4v`` or ``qwen2.5vl``) at ``dims`` and save it under ``out``.

    The weights are made on ``device`` in ``dtype`` (default float32): for the full-size model
    pass ``device="cuda", dtype=torch.bfloat16`` (20.6 GB written) rather than 41 GB of float32.
    """
    out = Path(out)
    tok, config, model_cls, processor_class, eos_ids, ids = _parts(arch, dims, tokenizer)
    model = _random_model(model_cls, config, seed, device, dtype, None)
    _set_generation_ids(model, eos_ids, ids)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(out)
    _save_processor_files(out, arch, tok, processor_class)
    (out / "tiny_vlm.json").write_text(  # how it was made, for reports
        json.dumps({"arch": arch, "tokenizer": tokenizer, "seed": seed, "dims": asdict(dims)}, indent=2),
        encoding="utf-8",
    )
    return out


def _parts(
    arch: str, dims: TinyDims, tokenizer: str
) -> tuple[Any, Any, type, str, list[int], dict[str, int]]:
    """Tokenizer, config, model class, processor class name, EOS ids and special-token ids of ``arch``."""
    _check_arch(arch)
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
    return tok, config, model_cls, processor_class, eos_ids, ids


def _random_model(
    model_cls: type, config: Any, seed: int, device: str, dtype: Any, attn_implementation: str | None
) -> Any:
    """``model_cls`` with weights drawn from ``seed``, created directly on ``device`` in ``dtype``."""
    import torch

    torch.manual_seed(seed)
    options = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with torch.device(device):
        return model_cls._from_config(config, dtype=dtype or torch.float32, **options).eval()


def _set_generation_ids(model: Any, eos_ids: list[int], ids: dict[str, int]) -> None:
    model.generation_config.eos_token_id = eos_ids
    model.generation_config.pad_token_id = ids["<|endoftext|>"]


def _save_processor_files(out: Path, arch: str, tok: Any, processor_class: str) -> None:
    """Tokenizer, image processor, chat template and processor class: what ``load_processor`` reads."""
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok.save_pretrained(out)
        image_processor(arch).save_pretrained(out)
    (out / "chat_template.jinja").write_text(TEMPLATES[arch], encoding="utf-8")
    (out / "processor_config.json").write_text(
        json.dumps({"processor_class": processor_class}), encoding="utf-8"
    )


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


def _token_kwargs(ids: dict[str, int] | None, names: dict[str, str]) -> dict[str, int]:
    """Config keyword -> id of its special token; none (the config class's defaults) without ``ids``."""
    return {key: ids[token] for key, token in names.items()} if ids is not None else {}


_GLM_TOKEN_KEYS = {
    "image_token_id": "<|image|>",
    "video_token_id": "<|video|>",
    "image_start_token_id": "<|begin_of_image|>",
    "image_end_token_id": "<|end_of_image|>",
    "video_start_token_id": "<|begin_of_video|>",
    "video_end_token_id": "<|end_of_video|>",
}
_QWEN_TOKEN_KEYS = {
    "image_token_id": "<|image_pad|>",
    "video_token_id": "<|video_pad|>",
    "vision_start_token_id": "<|vision_start|>",
    "vision_end_token_id": "<|vision_end|>",
}


def _glm_config(dims: TinyDims, vocab: int, ids: dict[str, int] | None) -> tuple[Any, type, str]:
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration

    section = [1, 1, 2] if dims == TEST_DIMS else _mrope_section(dims.head_dim, 0.5)  # the tests' split, kept
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
            "image_size": dims.vision_image_size,
        },
        **_token_kwargs(ids, _GLM_TOKEN_KEYS),
    )
    return config, Glm4vForConditionalGeneration, "Glm4vProcessor"


def _qwen_config(dims: TinyDims, vocab: int, ids: dict[str, int] | None) -> tuple[Any, type, str]:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    section = _mrope_section(dims.head_dim, 1.0)  # TEST_DIMS: [2, 3, 3]
    depth = dims.vision_depth or 2
    config = Qwen2_5_VLConfig(
        text_config={
            **_text_config(dims, vocab),
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section},
            **({"bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]} if ids else {}),
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
        **_token_kwargs(ids, _QWEN_TOKEN_KEYS),
    )
    return config, Qwen2_5_VLForConditionalGeneration, "Qwen2_5_VLProcessor"

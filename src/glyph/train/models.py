"""Loading a VLM checkpoint for training: model, processor, and what the collator must know about it.

One function per concern, all driven by the checkpoint directory (or hub id):

* :func:`load_model`: ``AutoModelForImageTextToText`` in the requested dtype, optionally with the
  vision tower frozen, gradient checkpointing, and LoRA adapters (peft) on the language model.
* :func:`load_processor`: the checkpoint's processor (``glyph.readers.local_hf``'s loader, which
  also works without torchvision).
* :func:`model_facts`: the token strings and ids a label mask depends on (the image placeholder
  with its wrappers, the stop tokens, the document prefix), read from the checkpoint's config
  files, not assumed per family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from glyph.readers.local_hf import load_processor, pick_dtype

__all__ = ["LoraSpec", "ModelFacts", "ModelSpec", "load_model", "load_processor", "model_facts"]

#: Text that starts every sequence of a family when no chat template is applied (GLM's prefix tokens,
#: which its template writes first; Qwen models start bare).
DOCUMENT_PREFIX = {"glm4v": "[gMASK]<sop>", "glm4v_moe": "[gMASK]<sop>"}
#: LoRA on the language model's projections only (the regex keeps adapters out of the vision tower).
LM_PROJECTIONS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj|gate_up_proj)"


class LoraSpec(BaseModel):
    """peft ``LoraConfig`` settings; ``target_modules`` is a regex or a list of module names."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, le=1024)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = LM_PROJECTIONS
    modules_to_save: list[str] | None = None


class ModelSpec(BaseModel):
    """What to load and how (the ``model:`` section of a recipe)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="checkpoint directory or hub id, e.g. zai-org/GLM-4.1V-9B-Base")
    dtype: str = Field("auto", description="auto (bf16 on GPUs, fp32 on CPU), bf16, fp16 or fp32")
    attn_implementation: str | None = Field(None, description="sdpa, flash_attention_2, eager; None: default")
    gradient_checkpointing: bool = False
    freeze_vision: bool = Field(False, description="train the language model (and merger) only")
    lora: LoraSpec | None = None
    trust_remote_code: bool = False


@dataclass(frozen=True)
class ModelFacts:
    """What a label mask depends on, for one checkpoint."""

    model_type: str
    image_token: str  # the placeholder the processor expands, e.g. <|image|> or <|image_pad|>
    image_placeholder: str  # one image in a template-free sequence, wrappers included
    stop_ids: frozenset[int] = field(default_factory=frozenset)  # tokens that end an assistant turn
    document_prefix: str = ""
    wrapper_ids: frozenset[int] = field(default_factory=frozenset)  # image start/end tokens


def model_facts(path: str, processor: Any, trust_remote_code: bool = False) -> ModelFacts:
    """Read the facts from the checkpoint's ``config.json`` / ``generation_config.json`` and tokenizer."""
    from transformers import AutoConfig, GenerationConfig

    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    tok = processor.tokenizer
    image_token = processor.image_token
    wrappers: list[int] = []
    for start, end in (
        ("image_start_token_id", "image_end_token_id"),
        ("vision_start_token_id", "vision_end_token_id"),
    ):
        a, b = getattr(config, start, None), getattr(config, end, None)
        if a is not None and b is not None:
            wrappers = [int(a), int(b)]
            break
    if wrappers:
        begin, finish = tok.convert_ids_to_tokens(wrappers)
        placeholder = f"{begin}{image_token}{finish}"
    else:
        placeholder = image_token
    stop: set[int] = set()
    try:
        gen = GenerationConfig.from_pretrained(path)
        eos = gen.eos_token_id
        stop |= set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    except OSError:
        pass
    if tok.eos_token_id is not None:
        stop.add(int(tok.eos_token_id))
    model_type = str(config.model_type)
    prefix = DOCUMENT_PREFIX.get(model_type, tok.bos_token or "")
    return ModelFacts(model_type, image_token, placeholder, frozenset(stop), prefix, frozenset(wrappers))


def respect_omp_thread_limit() -> int | None:
    """Shrink torch's CPU thread pool to ``OMP_THREAD_LIMIT`` when that is lower; returns the new size.

    torch sizes its pool from the core count, OpenMP honours the limit, and when they disagree some
    CPU kernels silently skip work: on torch 2.13 the Conv3d weight gradient of the VLMs' patch
    embedding comes out wrong (a third smaller on the tiny GLM-4.1V) and training stalls. The limit is
    inherited from any process that set it (``glyph.readers.ocr`` does, for Tesseract).
    """
    import ctypes
    import os
    import warnings

    import torch

    try:  # the limit the OpenMP runtime actually applies (read when it started, not os.environ now)
        limit = int(ctypes.CDLL(None).omp_get_thread_limit())
    except (AttributeError, OSError):
        raw = os.environ.get("OMP_THREAD_LIMIT", "").strip()
        limit = int(raw) if raw.isdigit() else 0
    if limit < 1 or limit >= torch.get_num_threads():
        return None
    warnings.warn(
        f"OMP_THREAD_LIMIT={limit} is below torch's {torch.get_num_threads()} CPU threads: using {limit} "
        "thread(s) so CPU kernels compute correctly (unset OMP_THREAD_LIMIT to use every core)",
        RuntimeWarning,
        stacklevel=2,
    )
    torch.set_num_threads(limit)
    return limit


def load_model(spec: ModelSpec, device: str | None = None) -> Any:
    """The model, ready for ``Trainer``: dtype, frozen vision tower, gradient checkpointing, LoRA."""
    import torch
    from transformers import AutoModelForImageTextToText

    respect_omp_thread_limit()
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = pick_dtype(want, spec.dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": spec.trust_remote_code}
    if spec.attn_implementation:
        kwargs["attn_implementation"] = spec.attn_implementation
    try:
        model = AutoModelForImageTextToText.from_pretrained(spec.path, **kwargs)
    except OSError as exc:
        raise ValueError(f"model.path: cannot load checkpoint {spec.path!r}: {exc}") from exc
    if spec.freeze_vision:
        visual = _vision_tower(model)
        for name, param in visual.named_parameters():
            if "merger" not in name:  # the merger maps vision features into the LM: keep it trainable
                param.requires_grad_(False)
    if spec.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if spec.lora is not None:
        from peft import LoraConfig, get_peft_model

        if spec.gradient_checkpointing:
            model.enable_input_require_grads()
        lora = LoraConfig(
            r=spec.lora.r,
            lora_alpha=spec.lora.alpha,
            lora_dropout=spec.lora.dropout,
            target_modules=spec.lora.target_modules,
            modules_to_save=spec.lora.modules_to_save,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    return model


def _vision_tower(model: Any) -> Any:
    for owner in (model, getattr(model, "model", None)):
        visual = getattr(owner, "visual", None)
        if visual is not None:
            return visual
    raise ValueError(f"{type(model).__name__} has no 'visual' vision tower to freeze (model.freeze_vision)")


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total

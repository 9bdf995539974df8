"""VLM reader running a Hugging Face checkpoint in-process (``AutoModelForImageTextToText``).

The checkpoint's own processor does everything model-specific: chat template, image
resizing and the image-token expansion, so the prompt is exactly what the model was trained
on (Glyph: GLM-4.1V's template, pages then question). Pages are handed over as PIL images,
never written to disk. Prompts are generated in batches with left padding.

Without torchvision, transformers cannot build any *video* processor, and VLM processors
require one even for still images; we then load the same processor class without its video
half (``_image_only``), which changes nothing for images.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from glyph.readers.base import (
    OCR_PROMPT,
    Reader,
    ReaderAnswer,
    ReaderUnavailableError,
    Usage,
    code_revision,
    package_version,
)
from glyph.render.pages import RenderedPage

if TYPE_CHECKING:
    import torch

_DTYPES = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
}


@dataclass(frozen=True)
class Generation:
    """One generated reply with the token counts an OpenAI ``usage`` needs."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end-of-sequence token) or "length" (max_new_tokens reached)


def pick_device(requested: str | None = None) -> str:
    """``cuda`` > ``mps`` > ``cpu`` unless one is named."""
    import torch

    if requested and requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, requested: str | None = None) -> torch.dtype:
    """bf16 on CUDA (fp16 where the GPU lacks bf16), fp16 on MPS, fp32 on CPU (bf16 matmuls on
    CPU are slow and fp16 ones inaccurate)."""
    import torch

    if requested and requested != "auto":
        name = _DTYPES.get(requested.lower())
        if name is None:
            raise ValueError(f"dtype must be one of auto, {', '.join(sorted(_DTYPES))}; got {requested!r}")
        return getattr(torch, name)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.startswith("mps"):
        return torch.float16
    return torch.float32


def load_processor(path: str, **kwargs: Any) -> Any:
    """The checkpoint's processor; without torchvision, its image-only variant (see module doc)."""
    from transformers import AutoConfig, AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return AutoProcessor.from_pretrained(path, **kwargs)
    model_type = AutoConfig.from_pretrained(path, **kwargs).model_type
    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    cls = processor_class_from_name(name) if name else None
    if cls is None or "video_processor" not in cls.get_attributes():
        return AutoProcessor.from_pretrained(path, **kwargs)
    return _image_only(cls).from_pretrained(path, **kwargs)


def _image_only(cls: type) -> type:
    """``cls`` with ``video_processor`` dropped from its constructor (transformers derives the
    sub-processors it loads and checks from that signature)."""

    def __init__(
        self: Any, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kw: Any
    ):
        cls.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kw)

    return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__})


class TransformersReader(Reader):
    """A local VLM checkpoint (directory or hub id) answering about pages, one lock per model."""

    name = "transformers"
    answers = True

    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 4,
        trust_remote_code: bool = False,
        ocr_prompt: str = OCR_PROMPT,
    ) -> None:
        try:
            import torch  # noqa: F401
            from transformers import AutoModelForImageTextToText
        except ImportError as exc:
            raise ReaderUnavailableError(
                "the transformers reader needs torch and transformers: pip install 'glyph-vtc[local]' "
                "(install the torch build for your accelerator first)"
            ) from exc
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.path = model
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self.batch_size = batch_size
        self.ocr_prompt = ocr_prompt
        try:
            self.processor = load_processor(model, trust_remote_code=trust_remote_code)
            self.model = AutoModelForImageTextToText.from_pretrained(
                model, dtype=self.dtype, trust_remote_code=trust_remote_code
            )
        except OSError as exc:
            raise ReaderUnavailableError(f"cannot load VLM checkpoint {model!r}: {exc}") from exc
        self.model.to(self.device).eval()
        self.processor.tokenizer.padding_side = "left"  # batched generation continues every row at the end
        self._lock = threading.Lock()

    @property
    def revision(self) -> str:
        """The checkpoint's hub commit (a local folder: its path), dtype and transformers' version."""
        commit = getattr(self.model.config, "_commit_hash", None) or "local"
        return (f"{self.path}@{commit}; {self.dtype}; transformers {package_version('transformers')}; "
                f"code {code_revision(type(self))}")

    @property
    def model_type(self) -> str:
        """``config.model_type``, e.g. ``glm4v`` or ``qwen2_5_vl``."""
        return str(self.model.config.model_type)

    def conversation(
        self, pages: Sequence[RenderedPage], question: str, system: str | None = None
    ) -> list[dict[str, Any]]:
        """Chat messages in transformers' format: the page images (in memory), then the question."""
        content: list[dict[str, Any]] = [{"type": "image", "image": p.image.convert("RGB")} for p in pages]
        content.append({"type": "text", "text": question})
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        return [*messages, {"role": "user", "content": content}]

    def generate(
        self,
        conversations: Sequence[list[dict[str, Any]]],
        max_new_tokens: int = 512,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: threading.Event | None = None,
        streamer: Any = None,
        min_new_tokens: int | None = None,
    ) -> list[Generation]:
        """Generate a reply to each conversation, ``batch_size`` at a time (greedy unless
        ``temperature > 0``). ``stop`` ends generation early (timeouts, gone clients);
        ``streamer`` (one conversation only) receives tokens as they come; ``min_new_tokens``
        holds end-of-sequence back until that many tokens (fixed-length runs, benchmarks)."""
        if streamer is not None and len(conversations) != 1:
            raise ValueError("streaming needs exactly one conversation")
        results: list[Generation] = []
        for i in range(0, len(conversations), self.batch_size):
            results += self._generate_batch(
                list(conversations[i : i + self.batch_size]),
                max_new_tokens,
                temperature,
                top_p,
                stop,
                streamer,
                min_new_tokens,
            )
        return results

    def _generate_batch(
        self,
        batch: list[list[dict[str, Any]]],
        max_new_tokens: int,
        temperature: float | None,
        top_p: float | None,
        stop: threading.Event | None,
        streamer: Any,
        min_new_tokens: int | None = None,
    ) -> list[Generation]:
        import torch
        from transformers import StoppingCriteriaList

        inputs = self.processor.apply_chat_template(
            batch,
            tokenize=True,
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
            processor_kwargs={"padding": True},
        ).to(self.device, dtype=self.dtype)
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False}
        if temperature:
            options.update(do_sample=True, temperature=temperature, top_p=top_p or 1.0)
        if min_new_tokens:
            options["min_new_tokens"] = min(min_new_tokens, max_new_tokens)
        if stop is not None:
            options["stopping_criteria"] = StoppingCriteriaList([_StopOnEvent(stop)])
        if streamer is not None:
            options["streamer"] = streamer
        with self._lock, torch.inference_mode():
            if stop is not None and stop.is_set():
                raise TimeoutError("generation cancelled before it started")
            output = self.model.generate(**inputs, **options)
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = output[:, prompt_len:].tolist()
        prompt_counts = inputs["attention_mask"].sum(dim=1).tolist()
        eos = self._eos_ids()
        results = []
        for row, prompt_tokens in zip(new_tokens, prompt_counts):
            end = next((j + 1 for j, t in enumerate(row) if t in eos), None)
            kept = row if end is None else row[:end]
            text = self.processor.decode(kept, skip_special_tokens=True).strip()
            finish = "stop" if end is not None else "length"
            results.append(Generation(text, int(prompt_tokens), len(kept), finish))
        return results

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        found = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
        tok_eos = self.processor.tokenizer.eos_token_id
        return found | ({tok_eos} if tok_eos is not None else set())

    def answer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        import time

        start = time.perf_counter()
        (gen,) = self.generate([self.conversation(pages, question, system)], max_tokens)
        return ReaderAnswer(
            text=gen.text,
            usage=Usage(gen.prompt_tokens, gen.completion_tokens, gen.prompt_tokens + gen.completion_tokens),
            seconds=time.perf_counter() - start,
        )

    def transcribe(self, pages: Sequence[RenderedPage], max_tokens: int = 4096) -> list[str]:
        """Each page read on its own, in batches of ``batch_size``."""
        gens = self.generate([self.conversation([p], self.ocr_prompt) for p in pages], max_tokens)
        return [g.text for g in gens]

    def close(self) -> None:
        """Drop the model so its memory can be freed."""
        self.__dict__.pop("model", None)


class _StopOnEvent:
    """Stopping criterion: end every row once ``event`` is set (checked after each token)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )

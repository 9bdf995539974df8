"""Readers running a Hugging Face checkpoint in-process: a VLM on pages (``AutoModelForImageTextToText``),
and the text baseline on a causal LM or a VLM given no images (:class:`TransformersTextReader`).

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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from glyph.readers.base import (
    CHAT,
    OCR_PROMPT,
    Consumes,
    PromptFormat,
    Reader,
    ReaderAnswer,
    ReaderUnavailableError,
    Usage,
    code_revision,
    no_system_in_raw_prompt,
    package_version,
    pages_text,
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

    def answer(self, seconds: float) -> ReaderAnswer:
        """As a reader's answer, with the OpenAI-style usage of its token counts."""
        usage = Usage(self.prompt_tokens, self.completion_tokens, self.prompt_tokens + self.completion_tokens)
        return ReaderAnswer(text=self.text, usage=usage, seconds=seconds)


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
    checkpoint_kind = "VLM"  # for error messages

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
            import transformers  # noqa: F401
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
            self.processor, self.model = self._load(model, trust_remote_code)
        except OSError as exc:
            raise ReaderUnavailableError(f"cannot load {self.checkpoint_kind} checkpoint {model!r}: {exc}") from exc
        self.model.to(self.device).eval()
        self.tokenizer.padding_side = "left"  # batched generation continues every row at the end
        self._lock = threading.Lock()

    def _load(self, path: str, trust_remote_code: bool) -> tuple[Any, Any]:
        """(processor, model) of a VLM checkpoint."""
        from transformers import AutoModelForImageTextToText

        processor = load_processor(path, trust_remote_code=trust_remote_code)
        model = AutoModelForImageTextToText.from_pretrained(
            path, dtype=self.dtype, trust_remote_code=trust_remote_code
        )
        return processor, model

    @property
    def tokenizer(self) -> Any:
        """The text tokenizer (a VLM processor's own, or the processor when it is one)."""
        return getattr(self.processor, "tokenizer", self.processor)

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
            inputs = self.processor.apply_chat_template(
                list(conversations[i : i + self.batch_size]),
                tokenize=True,
                add_generation_prompt=True,
                return_dict=True,
                return_tensors="pt",
                processor_kwargs={"padding": True},
            )
            options = self._options(max_new_tokens, temperature, top_p, stop, streamer, min_new_tokens)
            results += self._generate_inputs(inputs, options, stop, self._eos_ids())
        return results

    def _options(
        self,
        max_new_tokens: int,
        temperature: float | None,
        top_p: float | None,
        stop: threading.Event | None,
        streamer: Any,
        min_new_tokens: int | None,
    ) -> dict[str, Any]:
        """``generate`` keyword arguments: greedy unless sampling, the stop event, the streamer."""
        from transformers import StoppingCriteriaList

        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False}
        if temperature:
            options.update(do_sample=True, temperature=temperature, top_p=top_p or 1.0)
        if min_new_tokens:
            options["min_new_tokens"] = min(min_new_tokens, max_new_tokens)
        if stop is not None:
            options["stopping_criteria"] = StoppingCriteriaList([_StopOnEvent(stop)])
        if streamer is not None:
            options["streamer"] = streamer
        return options

    def _generate_inputs(
        self, inputs: Any, options: dict[str, Any], stop: threading.Event | None, eos: set[int]
    ) -> list[Generation]:
        """Generate from tokenized, left-padded ``inputs``; each reply ends at its first ``eos`` id."""
        import torch

        floats = "pixel_values" in inputs  # only images are cast to the model's dtype
        inputs = inputs.to(self.device, dtype=self.dtype) if floats else inputs.to(self.device)
        with self._lock, torch.inference_mode():
            if stop is not None and stop.is_set():
                raise TimeoutError("generation cancelled before it started")
            output = self.model.generate(**inputs, **options)
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = output[:, prompt_len:].tolist()
        prompt_counts = inputs["attention_mask"].sum(dim=1).tolist()
        results = []
        for row, prompt_tokens in zip(new_tokens, prompt_counts):
            end = next((j + 1 for j, t in enumerate(row) if t in eos), None)
            kept = row if end is None else row[:end]
            text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
            finish = "stop" if end is not None else "length"
            results.append(Generation(text, int(prompt_tokens), len(kept), finish))
        return results

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        found = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
        tok_eos = self.tokenizer.eos_token_id
        return found | ({tok_eos} if tok_eos is not None else set())

    def answer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        start = time.perf_counter()
        (gen,) = self.generate([self.conversation(pages, question, system)], max_tokens)
        return gen.answer(time.perf_counter() - start)

    def transcribe(self, pages: Sequence[RenderedPage], max_tokens: int = 4096) -> list[str]:
        """Each page read on its own, in batches of ``batch_size``."""
        gens = self.generate([self.conversation([p], self.ocr_prompt) for p in pages], max_tokens)
        return [g.text for g in gens]

    def close(self) -> None:
        """Drop the model so its memory can be freed."""
        self.__dict__.pop("model", None)


class TransformersTextReader(TransformersReader):
    """The text baseline on a local checkpoint: a causal LM (``AutoModelForCausalLM``) or a VLM
    given no images, answering from the document text itself.

    The prompt is :class:`~glyph.readers.base.PromptFormat`'s: a chat turn through the
    checkpoint's chat template, or, where a benchmark sends its task without one (LongBench's
    trec, triviaqa, samsum, lsht, lcc, repobench-p), the prompt tokenized as it is, as
    LongBench's ``pred.py`` does (``tokenizer(prompt)``, special tokens included). A stop string
    whose encoding ends in a token that is the string itself ends generation as LongBench's
    samsum newline does (that token added to the end-of-sequence ids, not allowed as the first
    new token: ``pred.py``'s ``min_length``); other stop strings through transformers'
    stop-string criterion, the reply cut before them.
    """

    name = "transformers-text"
    consumes = Consumes.TEXT
    checkpoint_kind = "text model"

    def _load(self, path: str, trust_remote_code: bool) -> tuple[Any, Any]:
        """A causal LM and its tokenizer; a checkpoint that is not one (a VLM) as a VLM."""
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        custom = "AutoModelForCausalLM" in (getattr(config, "auto_map", None) or {})
        if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not custom:
            return super()._load(path, trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=self.dtype, trust_remote_code=trust_remote_code
        )
        return tokenizer, model

    def text_inputs(
        self, prompts: Sequence[str], prompt_format: PromptFormat, system: str | None = None
    ) -> Any:
        """Token ids of each prompt: through the chat template, or as they are (no template)."""
        if not prompt_format.chat_template:
            no_system_in_raw_prompt(system, prompt_format)
            return self.tokenizer(list(prompts), return_tensors="pt", padding=True)
        vlm = self.tokenizer is not self.processor
        turns = []
        for prompt in prompts:
            content: Any = [{"type": "text", "text": prompt}] if vlm else prompt
            turns.append([*([{"role": "system", "content": system}] if system else []),
                          {"role": "user", "content": content}])  # fmt: skip
        options: dict[str, Any] = {"processor_kwargs": {"padding": True}} if vlm else {"padding": True}
        return self.processor.apply_chat_template(
            turns, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt", **options
        )

    def generate_text(
        self,
        prompts: Sequence[str],
        prompt_format: PromptFormat = CHAT,
        max_new_tokens: int = 512,
        *,
        system: str | None = None,
    ) -> list[Generation]:
        """A greedy reply to each prompt, ``batch_size`` at a time, ended by the format's stop strings."""
        eos = self._eos_ids()
        options = self._options(max_new_tokens, None, None, None, None, None)
        one_token: set[int] = set()
        longer: list[str] = []
        for text in prompt_format.stop:  # pred.py: tokenizer.encode("\n", add_special_tokens=False)[-1]
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            if ids and self.tokenizer.decode(ids[-1:]) == text:
                one_token.add(ids[-1])
            else:
                longer.append(text)
        if one_token:  # pred.py: eos_token_id=[eos, newline], min_length=prompt + 1
            eos |= one_token
            options.update(eos_token_id=sorted(eos), min_new_tokens=1)
        if longer:
            options.update(stop_strings=longer, tokenizer=self.tokenizer)
        results: list[Generation] = []
        for i in range(0, len(prompts), self.batch_size):
            inputs = self.text_inputs(prompts[i : i + self.batch_size], prompt_format, system)
            results += [_cut_at(g, longer) for g in self._generate_inputs(inputs, options, None, eos)]
        return results

    def answer_text(
        self,
        text: str,
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
        prompt_format: PromptFormat = CHAT,
    ) -> ReaderAnswer:
        start = time.perf_counter()
        prompt = prompt_format.join(text, question)
        (gen,) = self.generate_text([prompt], prompt_format, max_tokens, system=system)
        return gen.answer(time.perf_counter() - start)

    def answer(
        self,
        pages: Sequence[RenderedPage],
        question: str,
        *,
        system: str | None = None,
        max_tokens: int = 512,
    ) -> ReaderAnswer:
        """From the pages' ground-truth text, as the HTTP text baseline does."""
        return self.answer_text(pages_text(pages), question, system=system, max_tokens=max_tokens)

    def transcribe(self, pages: Sequence[RenderedPage], max_tokens: int = 4096) -> list[str]:
        """A text reader reads the text itself: its "transcription" is the ground truth."""
        return [p.text for p in pages]


def _cut_at(gen: Generation, stops: Sequence[str]) -> Generation:
    """The reply up to its first stop string (transformers stops after it; the stop is not the answer)."""
    cut = min((k for s in stops if (k := gen.text.find(s)) >= 0), default=None)
    if cut is None:
        return gen
    return Generation(gen.text[:cut].strip(), gen.prompt_tokens, gen.completion_tokens, "stop")


class _StopOnEvent:
    """Stopping criterion: end every row once ``event`` is set (checked after each token)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )

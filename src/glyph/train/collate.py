"""Records -> model batches whose labels mark exactly the target text tokens.

Why not TRL's ``DataCollatorForVisionLanguageModeling``: for conversational data it labels every
non-padding token (images and prompt included) unless the chat template carries
``{% generation %}`` markers, which the GLM-4.1V and Qwen-VL templates do not; its
prompt-completion path labels the completion but cannot express interleaved documents. So the
mask is computed here, the same way for every stage (``tests/train`` shows TRL's labels on GLM-4.1V):

1. the record becomes one string: the chat template applied to its messages (``template:
   "chat"``) or its parts concatenated with the model's image placeholder (``"none"``), plus the
   character spans of its targets (the text of assistant messages, found after the template's
   rendering of the preceding turns, so a user turn repeating the answer cannot be mistaken for it);
2. the tokenizer tokenizes that string with offsets: a token is a target iff it overlaps a target
   span, or it is the stop token that ends an assistant turn (``<|im_end|>``, GLM's ``<|user|>``;
   the tokenizer's EOS is appended when the template writes none and ``eos_loss`` is on);
3. the processor processes the same string with the images (pixel values, grids, the expanded
   image placeholders); each placeholder becomes its image's run of ``-100`` labels, and the
   expanded ids are checked against the processor's ``input_ids`` token for token.

The length of a record is known without running the image processor (:meth:`VisionCollator.length`):
text tokens plus each image's visual tokens from ``glyph.tokens``' rule for the checkpoint's settings.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from glyph.tokens.visual import VisualTokenRule, rule_from_image_processor
from glyph.train.models import ModelFacts, model_facts
from glyph.train.records import ImagePart, Record, RecordError, TextPart, record_from_row

__all__ = ["IGNORE_INDEX", "TARGET_TAGS", "Encoded", "RenderedRecord", "VisionCollator"]

IGNORE_INDEX = -100
#: Added tokens that assistant text may hold (thinking-style SFT targets); any other special token
#: in record text is refused, since the tokenizer would read it as a control token.
TARGET_TAGS = frozenset({"<think>", "</think>", "<answer>", "</answer>"})


@dataclass(frozen=True)
class RenderedRecord:
    """A record as the one string the model reads, and where its targets are in it."""

    text: str
    spans: tuple[tuple[int, int], ...]  # target character spans, sorted, disjoint
    stop_after: tuple[int, ...]  # span ends after which the next token, if a stop token, is a target


@dataclass
class Encoded:
    """One record, tokenized: ids, labels and the processor's other outputs (pixel values, grids, ...)."""

    record_id: str
    input_ids: list[int]
    labels: list[int]
    per_token: dict[str, list[int]]  # other per-token outputs, e.g. mm_token_type_ids
    per_image: dict[str, Any]  # tensors concatenated across a batch: pixel_values, image_grid_thw

    @property
    def n_targets(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


class VisionCollator:
    """Turns records into padded batches for GLM-4.1V, Qwen2.5-VL and Qwen3-VL (and kin) checkpoints.

    Use :meth:`from_pretrained`; ``Trainer`` calls the instance with a list of records (``Record``,
    shard rows or TRL-style dicts). ``max_length`` bounds a record's tokens: a longer record raises
    :class:`~glyph.train.records.RecordError` naming it (datasets filter with :meth:`length` first,
    because truncating inside an image's placeholder run would break the model).
    """

    def __init__(
        self,
        processor: Any,
        facts: ModelFacts,
        *,
        max_length: int | None = None,
        eos_loss: bool = True,
        pad_to_multiple_of: int | None = None,
        return_record_ids: bool = False,
    ) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.facts = facts
        self.max_length = max_length
        self.eos_loss = eos_loss
        self.pad_to_multiple_of = pad_to_multiple_of
        self.return_record_ids = return_record_ids
        self.image_token_id = int(self.tokenizer.convert_tokens_to_ids(facts.image_token))
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.merge = int(processor.image_processor.merge_size)
        self.rule: VisualTokenRule = rule_from_image_processor(processor.image_processor)
        self.eos_token = self.tokenizer.eos_token or ""
        added = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
        specials = {str(t) for t in added.values() if getattr(t, "special", True)}
        specials |= set(self.tokenizer.all_special_tokens)
        specials.discard("")
        # a control token's string inside record text would be read as that control token: refuse it
        # (non-special added tokens -- digits, Qwen3's <think> -- are ordinary vocabulary)
        self._special = re.compile("|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)))

    @classmethod
    def from_pretrained(cls, path: str, processor: Any | None = None, **kwargs: Any) -> VisionCollator:
        """The collator for a checkpoint (its processor is loaded unless given)."""
        from glyph.train.models import load_processor

        processor = processor or load_processor(path)
        return cls(processor, model_facts(path, processor), **kwargs)

    # ------------------------------------------------------------------ one record
    def render(self, record: Record) -> RenderedRecord:
        """The record's full text and its target spans (see the module doc)."""
        for m in record.messages:
            allowed = TARGET_TAGS if m.role == "assistant" else frozenset()
            for part in m.content:
                if not isinstance(part, TextPart):
                    continue
                for hit in self._special.finditer(part.text):
                    if hit.group() not in allowed:
                        raise RecordError(record.id, f"text contains the special token {hit.group()!r}")
        if record.template == "none":
            return self._render_plain(record)
        return self._render_chat(record)

    def _render_plain(self, record: Record) -> RenderedRecord:
        pieces = [self.facts.document_prefix]
        pos = len(self.facts.document_prefix)
        spans = []
        for m in record.messages:
            for part in m.content:
                piece = part.text if isinstance(part, TextPart) else self.facts.image_placeholder
                if isinstance(part, TextPart) and m.role == "assistant" and piece:
                    spans.append((pos, pos + len(piece)))
                pieces.append(piece)
                pos += len(piece)
        return RenderedRecord("".join(pieces), tuple(spans), ())

    def _render_chat(self, record: Record) -> RenderedRecord:
        messages = [_template_message(m) for m in record.messages]
        full = self._apply(record, messages, generation_prompt=False)
        spans: list[tuple[int, int]] = []
        stops: list[int] = []
        for i, m in enumerate(record.messages):
            if m.role != "assistant" or not m.text:
                continue
            prefix = self._apply(record, messages[:i], generation_prompt=True)
            if not full.startswith(prefix):
                raise RecordError(
                    record.id,
                    f"the chat template renders messages[:{i}] differently inside the whole conversation; "
                    f"cannot tell where assistant turn {i} starts",
                )
            start = full.find(m.text, max(len(prefix), spans[-1][1] if spans else 0))
            if start < 0:
                raise RecordError(
                    record.id, f"the chat template changed the text of messages[{i}] (assistant)"
                )
            spans.append((start, start + len(m.text)))
            stops.append(start + len(m.text))
        if self.eos_loss and spans and spans[-1][1] == len(full) and self.eos_token:
            full += self.eos_token  # the template ends on the answer: teach the model to stop anyway
        return RenderedRecord(full, tuple(spans), tuple(stops) if self.eos_loss else ())

    def _apply(self, record: Record, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        try:
            return self.processor.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt
            )
        except Exception as exc:
            raise RecordError(record.id, f"chat template failed: {type(exc).__name__}: {exc}") from exc

    def _token_labels(self, record: Record, rendered: RenderedRecord) -> tuple[list[int], list[int]]:
        enc = self.tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = enc["input_ids"]
        offsets: list[tuple[int, int]] = enc["offset_mapping"]
        labels = [IGNORE_INDEX] * len(ids)
        spans = rendered.spans
        k = 0
        for t, (a, b) in enumerate(offsets):
            while k < len(spans) and spans[k][1] <= a:
                k += 1
            if k < len(spans) and a < spans[k][1] and b > spans[k][0] and b > a:
                labels[t] = ids[t]
        starts = [a for a, _ in offsets]
        for end in rendered.stop_after:
            t = bisect_left(starts, end)
            if t < len(ids) and ids[t] in self.facts.stop_ids:
                labels[t] = ids[t]
        return ids, labels

    def encode(self, record: Record | dict[str, Any]) -> Encoded:
        """Tokenize one record and process its images; labels mark exactly its target tokens."""
        record = record_from_row(record)
        rendered = self.render(record)
        ids, labels = self._token_labels(record, rendered)
        images = record.pil_images()
        positions = [t for t, i in enumerate(ids) if i == self.image_token_id]
        if len(positions) != len(images):
            raise RecordError(
                record.id, f"{len(positions)} image placeholders in the text for {len(images)} images"
            )
        try:
            out = self.processor(
                text=[rendered.text], images=images or None, return_tensors="pt", add_special_tokens=False
            )
        except Exception as exc:
            raise RecordError(record.id, f"processor failed: {type(exc).__name__}: {exc}") from exc
        runs = []
        if images:
            grid = out["image_grid_thw"]
            runs = [int(g.prod()) // self.merge**2 for g in grid]
        full_ids: list[int] = []
        full_labels: list[int] = []
        last = 0
        for pos, run in zip(positions, runs):
            full_ids += ids[last:pos] + [self.image_token_id] * run
            full_labels += labels[last:pos] + [IGNORE_INDEX] * run
            last = pos + 1
        full_ids += ids[last:]
        full_labels += labels[last:]
        processed = out["input_ids"][0].tolist()
        if processed != full_ids:
            at = next(
                (i for i, (a, b) in enumerate(zip(processed, full_ids)) if a != b),
                min(len(processed), len(full_ids)),
            )
            raise RuntimeError(
                f"record {record.id!r}: the processor's input_ids differ from the tokenizer's at position "
                f"{at} ({len(processed)} vs {len(full_ids)} tokens); the label mask would be misaligned"
            )
        if self.max_length is not None and len(full_ids) > self.max_length:
            raise RecordError(record.id, f"{len(full_ids)} tokens exceed max_length {self.max_length}")
        length = len(full_ids)
        per_token = {
            k: v[0].tolist() for k, v in out.items()
            if k not in ("input_ids", "attention_mask") and v.ndim == 2 and v.shape == (1, length)
        }  # fmt: skip
        per_image = {
            k: v for k, v in out.items() if k not in per_token and k not in ("input_ids", "attention_mask")
        }
        return Encoded(record.id, full_ids, full_labels, per_token, per_image)

    def length(self, record: Record) -> int:
        """Tokens the record takes, without processing its images (exact: the processor's own rule)."""
        rendered = self.render(record)
        n = len(self.tokenizer(rendered.text, add_special_tokens=False)["input_ids"])
        return n + sum(self.rule.tokens_for_image(w, h) - 1 for w, h in record.image_sizes())

    def prompt_length(self, record: Record) -> int:
        """Tokens of the prompt a generation starts from (exact, images included, no processing).

        The messages before the last assistant turn, rendered by the chat template with its
        generation prompt, as GRPO generates from them; the assistant text is the reference.
        """
        if record.template != "chat":
            raise RecordError(record.id, "a generation prompt needs a chat record (template 'chat')")
        self.render(record)  # the same checks as training on it
        last = max(i for i, m in enumerate(record.messages) if m.role == "assistant")
        messages = [_template_message(m) for m in record.messages[:last]]
        prefix = self._apply(record, messages, generation_prompt=True)
        n = len(self.tokenizer(prefix, add_special_tokens=False)["input_ids"])
        n_images = sum(m.n_images for m in record.messages[:last])
        return n + sum(self.rule.tokens_for_image(w, h) - 1 for w, h in record.image_sizes()[:n_images])

    # ------------------------------------------------------------------ batches
    def __call__(self, records: Sequence[Record | dict[str, Any]]) -> dict[str, Any]:
        return self.collate([self.encode(r) for r in records])

    def collate(self, encoded: Sequence[Encoded]) -> dict[str, Any]:
        """Right-pad to the longest record (labels -100, attention 0); image tensors concatenated."""
        import torch

        width = max(len(e.input_ids) for e in encoded)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        n = len(encoded)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        keys = sorted({k for e in encoded for k in e.per_token})
        per_token = {k: torch.zeros((n, width), dtype=torch.long) for k in keys}
        for row, e in enumerate(encoded):
            length = len(e.input_ids)
            input_ids[row, :length] = torch.tensor(e.input_ids)
            labels[row, :length] = torch.tensor(e.labels)
            attention[row, :length] = 1
            for k in keys:
                if k in e.per_token:
                    per_token[k][row, :length] = torch.tensor(e.per_token[k])
        batch: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "labels": labels,
            **per_token,
        }
        for k in sorted({k for e in encoded for k in e.per_image}):
            parts = [e.per_image[k] for e in encoded if k in e.per_image]
            batch[k] = torch.cat(parts, dim=0)
        if self.return_record_ids:
            batch["record_ids"] = [e.record_id for e in encoded]
        return batch


def _template_message(message: Any) -> dict[str, Any]:
    """A message as templates take it: text-only content as one string (what every template accepts)."""
    if not any(isinstance(p, ImagePart) for p in message.content):
        return {"role": message.role, "content": message.text}
    return {"role": message.role, "content": [p.model_dump() for p in message.content]}

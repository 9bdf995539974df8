"""Bundled corpora: texts that ship inside the package, so demos and tests need no download.

The playground's examples (each text with a question) are built on them in :mod:`glyph.ui.examples`.
"""

from glyph.data.conversation import synthetic_conversation
from glyph.data.essays import demo_text, essay_texts, essays_dir, text_of_tokens

__all__ = ["demo_text", "essay_texts", "essays_dir", "synthetic_conversation", "text_of_tokens"]

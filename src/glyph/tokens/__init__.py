"""Exact token accounting for both sides of visual-text compression.

``text``: how many LLM tokens the plain text costs (default: Qwen's BPE, offline).
``visual``: how many LLM tokens the rendered page images cost a given VLM family.
The ratio of the two is the compression Glyph buys.
"""

from glyph.tokens.text import (
    HFTokenizer,
    TextTokenizer,
    TiktokenTokenizer,
    TokenizerUnavailableError,
    get_tokenizer,
)
from glyph.tokens.visual import VLM_RULES, VisualTokenRule, get_vlm_rule, vlm_rule_names

__all__ = [
    "VLM_RULES",
    "HFTokenizer",
    "TextTokenizer",
    "TiktokenTokenizer",
    "TokenizerUnavailableError",
    "VisualTokenRule",
    "get_tokenizer",
    "get_vlm_rule",
    "vlm_rule_names",
]

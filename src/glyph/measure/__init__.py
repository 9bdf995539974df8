"""Both sides of the trade: compression (tokens) and fidelity (what can be read back)."""

from glyph.measure.compression import (
    DEFAULT_VLMS,
    CompressionReport,
    VisualCost,
    compression_from_sizes,
    measure_compression,
)
from glyph.measure.fidelity import CHAR_CLASSES, Fidelity, confusions, normalize, score_pages, score_text

__all__ = [
    "CHAR_CLASSES",
    "DEFAULT_VLMS",
    "CompressionReport",
    "Fidelity",
    "VisualCost",
    "compression_from_sizes",
    "confusions",
    "measure_compression",
    "normalize",
    "score_pages",
    "score_text",
]

"""Both sides of the trade: compression (tokens) and fidelity (what can be read back)."""

from glyph.measure.compression import (
    DEFAULT_VLMS,
    CompressionReport,
    VisualCost,
    compression_from_sizes,
    measure_compression,
)
from glyph.measure.fidelity import (
    CHAR_CLASSES,
    Fidelity,
    Segment,
    align,
    confusions,
    normalize,
    score_pages,
    score_text,
)
from glyph.measure.pareto import dominates, pareto_front

__all__ = [
    "CHAR_CLASSES",
    "DEFAULT_VLMS",
    "CompressionReport",
    "Fidelity",
    "Segment",
    "VisualCost",
    "align",
    "compression_from_sizes",
    "confusions",
    "dominates",
    "measure_compression",
    "normalize",
    "pareto_front",
    "score_pages",
    "score_text",
]

"""glyph: visual-text compression for long-context models (render long text to pages a VLM reads)."""

__version__ = "0.1.0"

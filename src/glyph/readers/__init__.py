"""Readers: turn rendered pages back into text (OCR) or answers (VLMs), behind one interface."""

from glyph.readers.base import (
    READERS,
    Consumes,
    Reader,
    ReaderAnswer,
    ReaderUnavailableError,
    Usage,
    get_reader,
    reader_names,
    register_reader,
)

__all__ = [
    "READERS",
    "Consumes",
    "Reader",
    "ReaderAnswer",
    "ReaderUnavailableError",
    "Usage",
    "get_reader",
    "reader_names",
    "register_reader",
]

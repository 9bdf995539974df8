"""Readers: turn rendered pages back into text (OCR) or answers (VLMs), behind one interface."""

from glyph.readers.base import (
    CHAT,
    READERS,
    Consumes,
    PromptFormat,
    Reader,
    ReaderAnswer,
    ReaderUnavailableError,
    Usage,
    get_reader,
    reader_names,
    register_reader,
)

__all__ = [
    "CHAT",
    "READERS",
    "Consumes",
    "PromptFormat",
    "Reader",
    "ReaderAnswer",
    "ReaderUnavailableError",
    "Usage",
    "get_reader",
    "reader_names",
    "register_reader",
]

"""Uploaded files -> text, or an error that says what the file is and what to do instead.

People drop PDFs, Word files and images on a text box; "invalid start byte" helps nobody. The
first bytes name the common binary formats; otherwise the file must be UTF-8 (a BOM is
dropped) or UTF-16 with a BOM.
"""

from __future__ import annotations

import codecs

from starlette.requests import Request

from glyph.ui.errors import UIError

#: Leading bytes of binary formats people mistake for text, and what to call them.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (.docx, .xlsx, .epub and .odt files are ZIP archives)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document (.doc, .xls)"),
    (b"\x7fELF", "a Linux executable"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"{\\rtf", "an RTF document"),
)
_FIX = "paste its text, or save it as a UTF-8 .txt file"


def decode_upload(data: bytes, name: str, max_chars: int) -> str:
    """The text of an uploaded file; a :class:`UIError` (400/413) naming the file otherwise."""
    label = repr(name or "the file")
    if not data:
        raise UIError(400, f"{label} is empty: nothing to render", field="upload")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise UIError(400, f"{label} is not a text file: it is {what}; {_FIX}", field="upload")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UIError(400, f"{label} starts like UTF-16 text but byte {exc.start} is not: {_FIX}", field="upload") from None
    else:
        if b"\x00" in data[:8192]:
            raise UIError(400, f"{label} is not a text file (it has NUL bytes, so it is binary); {_FIX}", field="upload")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.start + 1].hex()
            raise UIError(
                400, f"{label} is not UTF-8 text (byte 0x{bad} at offset {exc.start:,}); {_FIX}", field="upload"
            ) from None
    check_length(text, max_chars, label)
    return text


def check_length(text: str, max_chars: int, label: str = "the text") -> None:
    if len(text) > max_chars:
        raise UIError(
            413,
            f"{label} has {len(text):,} characters; this playground takes at most {max_chars:,} "
            "(glyph ui --max-chars)",
            type="limit",
            field="text",
        )


async def read_body(request: Request, limit: int, flag: str) -> bytes:
    """The request body, refused with a 413 naming ``flag`` past ``limit`` bytes (declared or streamed),
    before more than ``limit`` bytes are held."""
    message = f"the request is larger than the limit of {limit:,} bytes ({flag})"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UIError(413, message, type="limit", field="upload")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UIError(413, message, type="limit", field="upload")
        chunks.append(chunk)
    return b"".join(chunks)

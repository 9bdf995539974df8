"""`glyph readers`: the names `--reader` accepts, from the reader registry (imports no reader)."""

from __future__ import annotations

from rich.table import Table

from glyph.cli.common import app, out


@app.command("readers")
def readers_cmd() -> None:
    """List the readers --reader accepts (built-in ones and installed plugins), one line each.

    Any of them followed by -extract (e.g. ocr-extract) answers evaluation questions by its transcription plus rule-based extraction: a legibility bound, not a language model.
    """
    from glyph.readers import reader_names

    table = Table(
        "reader", "what it is, its options", title="readers (glyph eval/measure/search --reader NAME)"
    )
    for name, help_line in reader_names().items():
        table.add_row(name, help_line)
    out.print(table)
    out.print(
        "Add <name>-extract for the offline extractor; register your own with "
        "glyph.readers.register_reader or a 'glyph.readers' entry point."
    )

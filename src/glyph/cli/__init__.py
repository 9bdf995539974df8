"""The `glyph` command line: a thin layer over the capability packages.

Each module registers its commands on the one typer ``app``: ``render`` (render, batch,
config, demo), and one module per capability as it lands.
"""

from glyph.cli import ask as _ask  # noqa: F401
from glyph.cli import eval as _eval  # noqa: F401
from glyph.cli import measure as _measure  # noqa: F401  (registers commands)
from glyph.cli import render as _render  # noqa: F401
from glyph.cli import search as _search  # noqa: F401
from glyph.cli import serve as _serve  # noqa: F401
from glyph.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()

"""The `glyph` command line: a thin layer over the capability packages.

Each module registers its commands on the one typer ``app``, in the order ``--help`` lists
them: rendering (demo, render, batch, config), measurement (measure, sweep), inference (ask,
serve), evaluation (eval), search (search) and training (data, train).
"""

from importlib import import_module

from glyph.cli.common import app

for _module in ("render", "measure", "ask", "serve", "eval", "search", "data", "train"):
    import_module(f"glyph.cli.{_module}")

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()

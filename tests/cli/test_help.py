"""``--help`` reads as written: every command's help is paragraphs rich can wrap, and no option's
help loses text to rich markup (``glyph-vtc[local]`` would be eaten as a markup tag)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from glyph.cli import app


def commands(command: Any = None, path: tuple[str, ...] = ("glyph",)) -> Iterator[tuple[tuple[str, ...], Any]]:
    command = command or typer.main.get_command(app)
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from commands(sub, (*path, name))


ALL = list(commands())


def test_every_command_is_listed() -> None:
    names = {path[1] for path, _ in ALL if len(path) == 2}
    assert {"demo", "render", "ui", "eval", "serve", "search", "train", "data"} <= names


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=" ".join)
def test_help_paragraphs_have_no_hard_line_breaks(path: tuple[str, ...]) -> None:
    command = dict(ALL)[path]
    text = inspect.cleandoc(command.help or "")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    # rich keeps a newline inside a paragraph, so a docstring wrapped at 100 columns breaks mid-sentence
    assert not [p for p in paragraphs if "\n" in p.strip()], f"{' '.join(path)}: one paragraph per line"
    if paragraphs and len(path) > 1:
        assert len(paragraphs[0]) <= 120, f"{' '.join(path)}: the summary shown in the command list is one short line"


@pytest.mark.parametrize("path", [p for p, _ in ALL if not getattr(dict(ALL)[p], "commands", None)], ids=" ".join)
def test_option_help_survives_rich_markup(path: tuple[str, ...]) -> None:
    command = dict(ALL)[path]
    result = CliRunner().invoke(app, [*path[1:], "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.replace("│", " ").split())
    for param in command.params:
        help_text = getattr(param, "help", None) or ""
        for bracketed in re.findall(r"\\?\[[^\]]*\]", help_text):
            literal = bracketed.replace("\\[", "[")
            assert literal in shown, f"{' '.join(path)} {param.name}: {literal!r} lost from --help"


def test_ui_help_names_the_local_extra() -> None:
    result = CliRunner().invoke(app, ["ui", "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert "glyph-vtc[local]" in " ".join(result.output.split())

"""Shared pieces of the command line: consoles, config loading, errors, progress bars."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from glyph.render.config import RenderConfig, reference_default

app = typer.Typer(
    help="Visual-text compression: render long text into pages a vision-language model reads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Render config JSON (the reference's hyphenated keys). Default: built-in."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Override a config key, e.g. --set dpi=96 --set reflow=true (repeatable)."
    ),
]


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def load_config(path: Path | None, overrides: list[str] | None = None) -> RenderConfig:
    """Config file (or the built-in default) plus ``key=value`` overrides, validated."""
    try:
        cfg = RenderConfig.from_json(path) if path else reference_default()
        changes: dict[str, object] = {}
        for item in overrides or []:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--set expects key=value, got {item!r}")
            try:
                changes[key.strip()] = json.loads(raw)
            except json.JSONDecodeError:
                changes[key.strip()] = raw
        return cfg.with_updates(**changes) if changes else cfg
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        fail(str(exc))
        raise  # unreachable


def read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"no such file: {path}")
    except UnicodeDecodeError as exc:
        fail(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    raise AssertionError


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )

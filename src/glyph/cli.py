"""The `glyph` command line: a thin layer over glyph.render, glyph.tokens and friends."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from glyph.render.config import RenderConfig

app = typer.Typer(
    help="Visual-text compression: render long text into pages a vision-language model reads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="Render config JSON (the reference's hyphenated keys). Default: built-in."),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config key, e.g. --set dpi=96 --set reflow=true (repeatable)."),
]


def _fail(message: str) -> None:
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
        _fail(str(exc))
        raise  # unreachable


def reference_default() -> RenderConfig:
    """The reference's config_en.json, with the bundled DejaVu Sans in place of Verdana."""
    return RenderConfig.from_dict(
        {
            "page-size": "595,842",
            "dpi": 72,
            "margin-x": 10,
            "margin-y": 10,
            "font-path": "DejaVu Sans",
            "font-size": 9,
            "line-height": 10,
            "font-color": "#000000",
            "alignment": "LEFT",
            "horizontal-scale": 1.0,
            "page-bg-color": "#FFFFFF",
            "para-bg-color": "#FFFFFF",
            "auto-crop-width": True,
            "auto-crop-last-page": True,
        }
    )


def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(f"no such file: {path}")
    except UnicodeDecodeError as exc:
        _fail(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    raise AssertionError


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command()
def render(
    file: Annotated[Path, typer.Argument(help="UTF-8 text file to render ('-' reads stdin).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for page_001.png, page_002.png, ...")] = Path(
        "pages"
    ),
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Render a text file into page images (PNG), one page in memory at a time."""
    from glyph.render.layout import MissingGlyphs
    from glyph.render.raster import iter_page_images, save_png

    cfg = load_config(config, set_)
    text = _read_text(file)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = MissingGlyphs()
    start = time.perf_counter()
    n = 0
    with _progress() as progress:
        task = progress.add_task("rendering", total=None)
        for page, image in iter_page_images(text, cfg, missing):
            save_png(image, out_dir / f"page_{page.index + 1:03d}.png")
            n += 1
            progress.advance(task)
    seconds = time.perf_counter() - start
    out.print(f"{n} pages from {len(text):,} characters -> {out_dir}/ in {seconds:.2f} s ({n / max(seconds, 1e-9):.0f} pages/s)")
    if missing.total:
        console.print(f"[yellow]warning:[/] {missing}")


@app.command()
def batch(
    source: Annotated[Path, typer.Argument(help="JSONL of {id, text, config?} records, or a saved HF dataset.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (pages + manifest.jsonl).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="png (a folder per id) or parquet (page bytes).")] = "png",
    workers: Annotated[Optional[int], typer.Option(help="Processes (default: all cores).")] = None,
    resume: Annotated[bool, typer.Option(help="Skip ids already in the manifest.")] = True,
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field holding the document id.")] = "id",
) -> None:
    """Render many documents on all cores; resumable after a crash."""
    from glyph.render.batch import render_batch

    if fmt not in ("png", "parquet"):
        _fail(f"--format must be png or parquet, got {fmt!r}")
    cfg = load_config(config, set_)
    summary = render_batch(
        source, out_dir, cfg, fmt=fmt, workers=workers, resume=resume, text_field=text_field, id_field=id_field
    )
    out.print(summary)


@app.command("config")
def show_config(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    reference_only: Annotated[bool, typer.Option(help="Only the keys the reference pipeline knows.")] = False,
) -> None:
    """Print a config as reference-compatible JSON (the default one, or a file with --set overrides)."""
    cfg = load_config(config, set_)
    out.print_json(cfg.to_json(include_extensions=not reference_only))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where the pages of the default config go.")] = Path(
        "glyph_demo"
    ),
    max_chars: Annotated[Optional[int], typer.Option(help="Use only the first N characters of the essays.")] = None,
) -> None:
    """Render the bundled essays under several configs and print what each costs a VLM."""
    from glyph.data import demo_text
    from glyph.render.raster import iter_page_images, save_png

    try:
        text = demo_text(max_chars)
    except FileNotFoundError as exc:
        _fail(str(exc))
    base = reference_default()
    variants = [
        (f"{dpi} dpi, keep", base.with_updates(dpi=dpi)) for dpi in (72, 96, 120)
    ] + [(f"{dpi} dpi, reflow", base.with_updates(dpi=dpi, reflow=True)) for dpi in (72, 96, 120)]
    counter, rules = _token_counters()
    text_tokens = counter.count(text) if counter else None
    table = Table(title=f"Glyph demo: {len(text):,} characters of Paul Graham essays", title_justify="left")
    table.add_column("config (newlines)", no_wrap=True)
    table.add_column("pages", justify="right")
    table.add_column("secs", justify="right")
    for rule in rules:
        table.add_column(f"{rule.name} tok", justify="right")
        table.add_column("ratio", justify="right")
    out_dir.mkdir(parents=True, exist_ok=True)
    with _progress() as progress:
        for i, (label, cfg) in enumerate(variants):
            task = progress.add_task(label, total=None)
            sizes: list[tuple[int, int]] = []
            start = time.perf_counter()
            for page, image in iter_page_images(text, cfg):
                sizes.append(image.size)
                if i == 0:
                    save_png(image, out_dir / f"page_{page.index + 1:03d}.png")
                progress.advance(task)
            seconds = time.perf_counter() - start
            row = [label, str(len(sizes)), f"{seconds:.2f}"]
            for rule in rules:
                visual = rule.document_tokens(sizes)
                row += [f"{visual:,}", f"{text_tokens / visual:.2f}x" if text_tokens else "n/a"]
            table.add_row(*row)
            progress.remove_task(task)
    out.print(table)
    if text_tokens:
        out.print(f"text tokens ({counter!r}): {text_tokens:,}; ratio = text tokens / visual tokens")
    out.print(f"pages of '{variants[0][0]}' (the reference default) written to {out_dir}/")


def _token_counters():  # noqa: ANN202
    """The Qwen text tokenizer and the GLM-4.1V / Qwen2.5-VL rules, when glyph.tokens can load them."""
    from glyph.tokens import TokenizerUnavailableError, get_tokenizer, get_vlm_rule

    rules = [get_vlm_rule("glm4v"), get_vlm_rule("qwen2.5vl")]
    try:
        return get_tokenizer("qwen"), rules
    except (TokenizerUnavailableError, ImportError) as exc:
        console.print(f"[yellow]text tokens unavailable:[/] {exc}")
        return None, rules


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

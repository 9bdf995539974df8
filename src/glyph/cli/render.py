"""Rendering commands: render, batch, config, demo."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from glyph.cli.common import (
    ConfigOpt,
    SetOpt,
    app,
    console,
    fail,
    load_config,
    out,
    progress_bar,
    read_text,
    reference_default,
)


@app.command()
def render(
    file: Annotated[Path, typer.Argument(help="UTF-8 text file to render ('-' reads stdin).")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for page_001.png, page_002.png, ...")
    ] = Path("pages"),
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Render a text file into page images (PNG), one page in memory at a time."""
    from glyph.render.layout import MissingGlyphs
    from glyph.render.raster import iter_page_images, save_png

    cfg = load_config(config, set_)
    text = read_text(file)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = MissingGlyphs()
    start = time.perf_counter()
    n = 0
    with progress_bar() as progress:
        task = progress.add_task("rendering", total=None)
        for page, image in iter_page_images(text, cfg, missing):
            save_png(image, out_dir / f"page_{page.index + 1:03d}.png")
            n += 1
            progress.advance(task)
    seconds = time.perf_counter() - start
    out.print(
        f"{n} pages from {len(text):,} characters -> {out_dir}/ in {seconds:.2f} s ({n / max(seconds, 1e-9):.0f} pages/s)"
    )
    if missing.total:
        console.print(f"[yellow]warning:[/] {missing}")


@app.command()
def batch(
    source: Annotated[
        Path, typer.Argument(help="JSONL of {id, text, config?} records, or a saved HF dataset.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (pages + manifest.jsonl).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="png (a folder per id) or parquet (page bytes).")
    ] = "png",
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    resume: Annotated[bool, typer.Option(help="Skip ids already in the manifest.")] = True,
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field holding the document id.")] = "id",
) -> None:
    """Render many documents on all cores; resumable after a crash."""
    from glyph.render.batch import render_batch

    if fmt not in ("png", "parquet"):
        fail(f"--format must be png or parquet, got {fmt!r}")
    cfg = load_config(config, set_)
    summary = render_batch(
        source,
        out_dir,
        cfg,
        fmt=fmt,
        workers=workers,
        resume=resume,
        text_field=text_field,
        id_field=id_field,
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
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Where the pages of the default config go.")
    ] = Path("glyph_demo"),
    max_chars: Annotated[
        int | None, typer.Option(help="Use only the first N characters of the essays.")
    ] = None,
) -> None:
    """Render the bundled essays under several configs and print what each costs a VLM."""
    from glyph.data import demo_text
    from glyph.render.raster import iter_page_images, save_png

    try:
        text = demo_text(max_chars)
    except FileNotFoundError as exc:
        fail(str(exc))
    base = reference_default()
    variants = [(f"{dpi} dpi, keep", base.with_updates(dpi=dpi)) for dpi in (72, 96, 120)] + [
        (f"{dpi} dpi, reflow", base.with_updates(dpi=dpi, reflow=True)) for dpi in (72, 96, 120)
    ]
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
    with progress_bar() as progress:
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


def _token_counters():
    """The Qwen text tokenizer and the GLM-4.1V / Qwen2.5-VL rules, when glyph.tokens can load them."""
    from glyph.tokens import TokenizerUnavailableError, get_tokenizer, get_vlm_rule

    rules = [get_vlm_rule("glm4v"), get_vlm_rule("qwen2.5vl")]
    try:
        return get_tokenizer("qwen"), rules
    except (TokenizerUnavailableError, ImportError) as exc:
        console.print(f"[yellow]text tokens unavailable:[/] {exc}")
        return None, rules

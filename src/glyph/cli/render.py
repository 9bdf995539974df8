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
def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Where the pages of the default config go.")
    ] = Path("glyph_demo"),
    max_chars: Annotated[
        int | None, typer.Option(help="Use only the first N characters of the essays.")
    ] = None,
    reader: Annotated[
        str, typer.Option(help="Reader that reads one page per config back (ocr, tesseract, none).")
    ] = "ocr",
) -> None:
    """Render the bundled essays under several configs: what each costs a VLM, and what is still legible."""
    from glyph.data import demo_text
    from glyph.measure import compression_from_sizes, score_pages
    from glyph.readers import ReaderUnavailableError, get_reader
    from glyph.render.raster import render_pages, save_png
    from glyph.tokens import TokenizerUnavailableError, get_tokenizer

    try:
        text = demo_text(max_chars)
    except FileNotFoundError as exc:
        fail(str(exc))
    try:
        tokenizer = get_tokenizer("qwen")
    except (TokenizerUnavailableError, ImportError) as exc:
        console.print(f"[yellow]text tokens unavailable:[/] {exc}")
        tokenizer = None
    ocr = None
    if reader != "none":
        try:
            ocr = get_reader(reader)
        except (ReaderUnavailableError, ValueError) as exc:
            console.print(f"[yellow]no fidelity column:[/] {exc}")
    base = reference_default()
    variants = [(f"{dpi} dpi, keep", base.with_updates(dpi=dpi)) for dpi in (72, 96, 120)] + [
        (f"{dpi} dpi, reflow", base.with_updates(dpi=dpi, reflow=True)) for dpi in (72, 96, 120)
    ]
    vlms = ("glm4v", "qwen3vl")
    table = Table(title=f"Glyph demo: {len(text):,} characters of Paul Graham essays", title_justify="left")
    for col in ("config", "pages", "secs", "glm4v tokens", "glm4v x", "qwen3vl x"):
        table.add_column(col, justify="left" if col == "config" else "right", no_wrap=True)
    if ocr is not None:
        table.add_column("read", justify="right", no_wrap=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    text_tokens = None
    with progress_bar() as progress:
        for i, (label, cfg) in enumerate(variants):
            task = progress.add_task(label, total=None)
            sizes: list[tuple[int, int]] = []
            sample = None
            start = time.perf_counter()
            for page in render_pages(text, cfg):
                sizes.append(page.image.size)
                if i == 0:
                    save_png(page.image, out_dir / f"page_{page.index + 1:03d}.png")
                if page.index == 1 or sample is None:
                    sample = page  # the second page: a full page of prose
                progress.advance(task)
            seconds = time.perf_counter() - start
            report = compression_from_sizes(text, sizes, cfg, vlms, tokenizer, seconds)
            text_tokens = report.text_tokens
            costs = [report.cost(v) for v in vlms]
            row = [label, str(report.pages), f"{seconds:.2f}"]
            row.append(f"{costs[0].visual_tokens:,}")
            row += [f"{c.ratio:.2f}x" if c.ratio is not None else "n/a" for c in costs]
            if ocr is not None and sample is not None:
                progress.update(task, description=f"{label}: reading a page back")
                fid, _ = score_pages([sample.text], ocr.transcribe([sample]))
                row.append(f"{fid.char_accuracy:.1%}")
            table.add_row(*row)
            progress.remove_task(task)
    out.print(table)
    if text_tokens is not None:
        out.print(f"text tokens (Qwen BPE): {text_tokens:,}; x = compression = text tokens / visual tokens")
    if ocr is not None:
        out.print(f"read = characters of one full page read back by the offline '{ocr.name}' reader")
    out.print(f"pages of '{variants[0][0]}' (the reference default) written to {out_dir}/")


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
    from glyph.render import MissingGlyphs, render_pages
    from glyph.render.raster import save_png

    cfg = load_config(config, set_)
    text = read_text(file)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = MissingGlyphs()
    start = time.perf_counter()
    n = 0
    with progress_bar() as progress:
        task = progress.add_task("rendering", total=None)
        for page in render_pages(text, cfg, missing):
            save_png(page.image, out_dir / f"page_{page.index + 1:03d}.png")
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
    font_file: Annotated[
        bool,
        typer.Option(
            "--font-file",
            help="Name fonts by this machine's file path (the reference's word2png, i.e. reportlab, needs a "
            "file) instead of the portable family or package name.",
        ),
    ] = False,
) -> None:
    """Print a config as reference-compatible JSON (the default one, or a file with --set overrides).

    Fonts are named portably (a family name, or '<package>:<path>' for a font a Python package ships), so the JSON loads on other machines; --font-file writes file paths instead.
    """
    import json

    from glyph.render.fonts import resolve_font

    cfg = load_config(config, set_)
    data = cfg.to_reference_dict(include_extensions=not reference_only)
    if font_file:
        data["font-path"] = str(cfg.font_file)
        if data.get("fallback-fonts"):
            data["fallback-fonts"] = [str(resolve_font(f)) for f in data["fallback-fonts"]]
    out.print_json(json.dumps(data, ensure_ascii=False))

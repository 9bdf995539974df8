"""Measurement commands: measure (compression report, optional fidelity) and sweep (grid + plot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from glyph.cli.common import ConfigOpt, SetOpt, app, console, fail, load_config, out, progress_bar, read_text

VlmOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--vlm", help="VLM family for visual tokens (repeatable): glm4v, qwen2.5vl, qwen3vl, generic."
    ),
]
TokOpt = Annotated[
    str,
    typer.Option("--tokenizer", help="Text tokenizer: qwen (offline), hf:<dir or hub id>, tiktoken:<name>."),
]
ReaderOpt = Annotated[
    str | None,
    typer.Option(
        "--reader", help="Read pages back and score fidelity: ocr (default offline), tesseract, ..."
    ),
]


def _reader(name: str | None):
    if not name or name == "none":
        return None
    from glyph.readers import ReaderUnavailableError, get_reader

    try:
        return get_reader(name)
    except (ReaderUnavailableError, ValueError) as exc:
        fail(str(exc))


def _load_text(file: Path | None, max_chars: int | None) -> tuple[str, str]:
    if file is None:
        from glyph.data import demo_text

        try:
            return demo_text(max_chars), "the bundled Paul Graham essays"
        except FileNotFoundError as exc:
            fail(str(exc))
    text = read_text(file)
    return (text[:max_chars] if max_chars else text), str(file)


@app.command()
def measure(
    file: Annotated[Path, typer.Argument(help="UTF-8 text file ('-' reads stdin).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    vlm: VlmOpt = None,
    tokenizer: TokOpt = "qwen",
    reader: ReaderOpt = None,
    pages: Annotated[
        int, typer.Option(help="With --reader: how many pages (spread over the text) to read.")
    ] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of a table.")
    ] = False,
) -> None:
    """Compression report for a text under a config: text tokens, pages, visual tokens, ratio per VLM."""
    from glyph.measure import measure_compression, score_pages
    from glyph.measure.sweep import spread
    from glyph.tokens import TokenizerUnavailableError

    cfg = load_config(config, set_)
    text = read_text(file)
    ocr = _reader(reader)
    try:
        report, rendered = measure_compression(
            text, cfg, tuple(vlm or ("glm4v", "qwen2.5vl", "qwen3vl")), tokenizer, keep_pages=ocr is not None
        )
    except (TokenizerUnavailableError, ValueError) as exc:
        fail(str(exc))
    data = report.to_dict()
    data.pop("page_sizes")
    fidelity = None
    if ocr is not None and rendered:
        chosen = [rendered[i] for i in spread(len(rendered), pages)]
        with progress_bar() as progress:
            progress.add_task(f"reading {len(chosen)} pages with {ocr.name}", total=None)
            reads = ocr.transcribe(chosen)
        fidelity, _ = score_pages([p.text for p in chosen], reads)
        data["fidelity"] = {"reader": ocr.name, **fidelity.to_dict()}
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table(title=f"{file}: {report.chars:,} characters, {report.pages} pages", title_justify="left")
    for col in ("VLM", "visual tokens", "text tokens", "ratio", "chars / visual token"):
        table.add_column(col, justify="left" if col == "VLM" else "right")
    for cost in report.costs.values():
        table.add_row(
            cost.vlm,
            f"{cost.visual_tokens:,}",
            f"{report.text_tokens:,}" if report.text_tokens is not None else "n/a",
            f"{cost.ratio:.2f}x" if cost.ratio else "n/a",
            f"{cost.chars_per_visual_token:.2f}",
        )
    out.print(table)
    out.print(
        f"text tokens by {report.tokenizer}; config {report.config_hash[:12]}; rendered in {report.render_seconds:.2f} s"
    )
    if fidelity is not None:
        classes = ", ".join(f"{k} {v:.1%}" for k, v in fidelity.class_accuracy().items() if v is not None)
        out.print(
            f"fidelity ({ocr.name}, {fidelity.pages} pages): characters {fidelity.char_accuracy:.2%}, "
            f"words {fidelity.word_accuracy:.2%}; by class: {classes}"
        )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")


@app.command()
def sweep(
    file: Annotated[Path | None, typer.Argument(help="Text file (default: the bundled essays).")] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            help="Axis as key=v1,v2 or key=start:stop:step (repeatable), any config key. "
            "Default: dpi=60,72,96,120 and font-size=7,9,11 (line height = size + 1 unless swept).",
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    vlm: Annotated[str, typer.Option(help="VLM family whose visual tokens define compression.")] = "glm4v",
    tokenizer: TokOpt = "qwen",
    reader: Annotated[str, typer.Option(help="Reader for fidelity: ocr (default), tesseract, none.")] = "ocr",
    pages: Annotated[int, typer.Option(help="Pages read per point, spread over the text.")] = 2,
    max_chars: Annotated[int | None, typer.Option(help="Use only the first N characters.")] = 60_000,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for sweep.csv, sweep.json, sweep.png.")
    ] = Path("glyph_sweep"),
) -> None:
    """Compression and fidelity over a grid of configs; CSV, JSON and a plot with the Pareto front."""
    from glyph.measure.sweep import DEFAULT_GRID, grid_points, parse_grid, plot_sweep, run_sweep, write_sweep

    try:
        axes = parse_grid(grid) if grid else DEFAULT_GRID
    except ValueError as exc:
        fail(str(exc))
    base = load_config(config, set_)
    text, source = _load_text(file, max_chars)
    if not text:
        fail(f"{source} is empty: nothing to render")
    ocr = _reader(reader)
    total = len(grid_points(axes))
    with progress_bar() as progress:
        task = progress.add_task(f"sweeping {total} configs", total=total)
        points = run_sweep(
            text, base, axes, ocr, vlm, tokenizer, pages, on_point=lambda _p: progress.advance(task)
        )
    csv_path, _ = write_sweep(points, out_dir)
    table = Table(title=f"sweep over {source} ({len(text):,} characters)", title_justify="left")
    for col in [*axes, "pages", f"{vlm} tokens", "ratio", "char acc", "word acc"]:
        table.add_column(col, justify="right")
    for p in points:
        if p.error:
            table.add_row(*(str(p.params[k]) for k in axes), f"[red]skipped: {p.error}[/]", "", "", "", "")
            continue
        table.add_row(
            *(str(p.params[k]) for k in axes),
            str(p.pages),
            f"{p.visual_tokens:,}",
            f"{p.ratio:.2f}x" if p.ratio else "n/a",
            f"{p.char_accuracy:.2%}" if p.char_accuracy is not None else "-",
            f"{p.word_accuracy:.2%}" if p.word_accuracy is not None else "-",
        )
    out.print(table)
    if ocr is not None:
        try:
            plot = plot_sweep(points, out_dir / "sweep.png", f"Glyph sweep: {source}", vlm)
            out.print(f"plot: {plot}")
        except ValueError as exc:
            console.print(f"[yellow]no plot:[/] {exc}")
    out.print(f"results: {csv_path} and {out_dir / 'sweep.json'}")

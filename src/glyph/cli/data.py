"""Training-data commands: ``glyph data cpt | sft | stats | gallery``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from glyph.cli.common import ConfigOpt, SetOpt, app, console, fail, load_config, out

data_app = typer.Typer(
    help="Build training data from text: CPT records (OCR, interleaved LM, generation) on rendered pages.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


def _split(values: list[str] | None) -> list[str] | None:
    items = [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
    return items or None


@data_app.command("cpt")
def cpt(
    source: Annotated[
        str,
        typer.Argument(
            help="Text: 'essays' (bundled), a folder of .txt, a .txt/.jsonl/.parquet/.csv file, a saved "
            "dataset, or a hub dataset hf:owner/name[:config] (streamed)."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory (shards, manifest, stats).")],
    seed: Annotated[int, typer.Option(help="Same seed and source: byte-identical shards.")] = 0,
    samples: Annotated[int, typer.Option(help="Samples to plan (records plus those that fail).")] = 1000,
    tasks: Annotated[
        list[str] | None,
        typer.Option("--tasks", help="Task families to mix: ocr, lm, gen (comma-separated)."),
    ] = None,
    themes: Annotated[
        list[str] | None,
        typer.Option("--themes", help="Style themes: document, web, dark, code, artistic (comma-separated)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML merged over the defaults (glyph data config).")
    ] = None,
    max_context: Annotated[
        int | None, typer.Option(help="Tokens every record fits (default 8192; the paper trains at 128K).")
    ] = None,
    vlm: Annotated[
        list[str] | None,
        typer.Option("--vlm", help="Count visual tokens for these families (glm4v, qwen2.5vl, qwen3vl)."),
    ] = None,
    tokenizer: Annotated[
        str | None, typer.Option(help="Text-token counter: qwen, hf:<checkpoint>, tiktoken:<name>.")
    ] = None,
    shard_size: Annotated[
        int, typer.Option(help="Samples per shard (the unit of resume and of parallelism).")
    ] = 64,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray", help="Run on Ray Data at this address ('local' starts one; 'auto' joins a cluster)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Keep committed shards of an earlier run with the same options.")
    ] = True,
    text_field: Annotated[str, typer.Option(help="JSONL/dataset field holding the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="JSONL/dataset field holding the document id.")] = "id",
) -> None:
    """Render text into CPT records: OCR, interleaved language modelling and generation, in five themes.

    Each sample draws a render config (the paper's table x a theme) and fits --max-context for every --vlm.

    Shards: Parquet, images inline (datasets can read them); stats.json and mixture.png describe the mix.

    Kill it and run the same command again: it resumes; the same --seed gives the same bytes.
    """
    from glyph.train.cpt import load_data_config
    from glyph.train.cpt.engine import BuildSummary, build_cpt_data

    context: dict[str, object] = {}
    if max_context:
        context["max_tokens"] = max_context
    if vlm:
        context["vlms"] = _split(vlm)
    if tokenizer:
        context["tokenizer"] = tokenizer
    try:
        cfg = load_data_config(config, {"context": context} if context else None)
    except ValueError as exc:
        fail(str(exc))
    progress = Progress(
        TextColumn("[bold]building"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "samples  {task.fields[records]} records  {task.fields[pages]} pages  {task.fields[rate]:.2f} rec/s"
        ),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
        auto_refresh=False,  # no refresh thread: forking worker processes stays safe
    )

    def update(summary: BuildSummary) -> None:
        progress.update(
            bar, completed=summary.planned, records=summary.records, pages=summary.pages,
            failed=summary.failed, rate=summary.records_per_second,
        )  # fmt: skip
        progress.refresh()

    with progress:
        bar = progress.add_task("cpt", total=samples, records=0, pages=0, failed=0, rate=0.0)
        try:
            summary = build_cpt_data(
                source, out_dir, cfg, seed=seed, samples=samples, tasks=_split(tasks), themes=_split(themes),
                shard_size=shard_size, workers=workers, resume=resume, ray_address=ray,
                text_field=text_field, id_field=id_field, on_progress=update,
            )  # fmt: skip
        except (ValueError, FileNotFoundError, ImportError) as exc:
            fail(str(exc))
    for err in summary.source_errors[:5]:
        console.print(f"[yellow]source:[/] {err}")
    for err in summary.errors[:5]:
        console.print(f"[yellow]sample:[/] {err}")
    if len(summary.errors) > 5:
        console.print(
            f"[yellow]... {len(summary.errors) - 5} more failed samples in {out_dir / 'manifest.jsonl'}[/]"
        )
    _print_stats(out_dir)
    console.print(
        f"{summary.records} records ({summary.shards_built} shards built, {summary.shards_skipped} kept from an "
        f"earlier run) in {summary.seconds:.1f} s -> {out_dir}"
    )


@data_app.command("sft")
def sft(
    source: Annotated[
        str,
        typer.Argument(
            help="Examples {context, question, answer[, thinking, instruction, answers, metric, id]}: a .jsonl/"
            ".json/.parquet file, a hub dataset hf:owner/name[:split], or 'ruler' for synthetic examples from "
            "the RULER generators (training seeds, disjoint from evaluation's)."
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory (shards, sft_data.json, errors).")
    ],
    config: ConfigOpt = None,
    overrides: SetOpt = None,
    ocr_share: Annotated[float, typer.Option(help="Share of OCR auxiliary records among all records.")] = 0.2,
    ocr_pages: Annotated[str, typer.Option(help="Consecutive pages per OCR record, LOW,HIGH.")] = "1,4",
    max_context: Annotated[
        int | None, typer.Option(help="Leave out (and name) examples longer than this many tokens.")
    ] = None,
    vlm: Annotated[
        list[str] | None,
        typer.Option("--vlm", help="Count visual tokens for these families (glm4v, qwen3vl)."),
    ] = None,
    tokenizer: Annotated[
        str, typer.Option(help="Text-token counter: qwen, hf:<checkpoint>, tiktoken:<name>.")
    ] = "qwen",
    field: Annotated[
        list[str] | None, typer.Option("--field", help="Rename an input field: --field context=document.")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Which pages OCR records take; for 'ruler', the training seed.")
    ] = 0,
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", help="ruler: tasks (comma-separated; default all).")
    ] = None,
    lengths: Annotated[str, typer.Option(help="ruler: context lengths in tokens, e.g. 4k,8k.")] = "4k",
    samples: Annotated[int, typer.Option(help="ruler: examples per task and length.")] = 20,
    shard_size: Annotated[int, typer.Option(help="Records per shard.")] = 256,
) -> None:
    """Render SFT examples into training records, with OCR auxiliary records mixed in.

    The context as pages, the question as text, the (thinking) answer as the target, with OCR auxiliary records of the same pages mixed in (--ocr-share).

    Render with the config you will serve with: --config best_config.json from `glyph search`, or the reference default. The shards feed `glyph train sft` and, unchanged, `glyph train grpo` (the answer becomes the reference)."""
    from glyph.eval.sample import parse_lengths
    from glyph.train.sft.data import build_sft_data, iter_input

    try:
        cfg = load_config(config, overrides)
        low, _, high = ocr_pages.partition(",")
        pages = (int(low), int(high or low))
        fields = {}
        for item in field or []:
            ours, sep, theirs = item.partition("=")
            if not sep:
                raise ValueError(f"--field expects ours=theirs, got {item!r}")
            fields[ours.strip()] = theirs.strip()
        info: dict[str, object] = {}
        if source == "ruler":
            from glyph.train.synthetic import ruler_examples, synthetic_info

            sizes, names = parse_lengths(lengths), _split(tasks)
            examples = ruler_examples(names, sizes, samples, seed, tokenizer)
            info = synthetic_info(names, sizes, samples, seed)
            total: int | None = samples * len(sizes) * len(names or info["tasks"])  # type: ignore[arg-type]
        else:
            examples, total = iter_input(source), None
    except ValueError as exc:
        fail(str(exc))
    with Progress(TextColumn("[bold]rendering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:  # fmt: skip
        bar = progress.add_task("sft", total=total)
        try:
            summary = build_sft_data(
                examples, out_dir, cfg, ocr_share=ocr_share, ocr_pages=pages, max_tokens=max_context,
                vlms=_split(vlm) or ["glm4v"], tokenizer=tokenizer, seed=seed, shard_size=shard_size,
                fields=fields, source=source, info=info, progress=lambda n: progress.advance(bar, n),
            )  # fmt: skip
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            fail(str(exc))
    for err in summary.errors[:5]:
        console.print(f"[yellow]left out:[/] {err}")
    if len(summary.errors) > 5:
        console.print(f"[yellow]... {len(summary.errors) - 5} more in {out_dir / 'errors.jsonl'}[/]")
    console.print(
        f"{summary.sft} SFT + {summary.ocr} OCR records ({summary.pages} pages, {len(summary.shards)} shards) from "
        f"{summary.examples} examples, {summary.failed} left out, in {summary.seconds:.1f} s -> {out_dir}"
    )


def _print_stats(out_dir: Path) -> None:
    import json

    stats = json.loads((out_dir / "stats.json").read_text(encoding="utf-8"))
    table = Table(title=f"mixture of {out_dir}: {stats['records']:,} records, {stats['tokens']:,} tokens "
                  f"({stats['family']}), {stats['pages']:,} pages", title_justify="left")  # fmt: skip
    for col in ("group", "value", "samples", "share", "tokens", "share ", "visual", "target", "pages/sample"):
        table.add_column(col, justify="left" if col in ("group", "value") else "right")
    for group in ("by_task", "by_theme", "by_dpi_band"):
        for name, row in stats[group].items():
            table.add_row(
                group[3:], name, f"{row['samples']:,}", f"{row['samples'] / max(1, stats['records']):.1%}",
                f"{row['tokens']:,}", f"{row['tokens'] / max(1, stats['tokens']):.1%}", f"{row['visual_tokens']:,}",
                f"{row['target_tokens']:,}", f"{row['pages'] / max(1, row['samples']):.2f}",
            )  # fmt: skip
        table.add_section()
    out.print(table)


@data_app.command("stats")
def stats(out_dir: Annotated[Path, typer.Argument(help="A `glyph data cpt` output directory.")]) -> None:
    """Recompute a shard set's mixture statistics (stats.json, mixture.png) and print them."""
    from glyph.train.cpt.stats import write_stats

    if not (out_dir / "manifest.jsonl").is_file():
        fail(f"{out_dir} has no manifest.jsonl; is it a `glyph data cpt` output?")
    write_stats(out_dir)
    _print_stats(out_dir)
    console.print(f"plot: {out_dir / 'mixture.png'}")


@data_app.command("gallery")
def gallery(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("cpt_themes.png"),
    seed: Annotated[int, typer.Option(help="Which draw of each theme.")] = 0,
    source: Annotated[str, typer.Option(help="Text to draw (as for `glyph data cpt`).")] = "essays",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Data config YAML (themes).")] = None,
    per_theme: Annotated[int, typer.Option(help="Pages per theme (rows).")] = 1,
) -> None:
    """One page of each style theme side by side, to see what the themes draw."""
    from glyph.train.cpt import load_data_config
    from glyph.train.cpt.gallery import theme_gallery

    try:
        cfg = load_data_config(config)
        path = theme_gallery(cfg, out_file, seed=seed, source=source, per_theme=per_theme)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    console.print(f"gallery: {path}")

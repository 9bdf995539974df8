"""Evaluation commands: ``glyph eval ruler | longbench | mrcr | report``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from glyph.cli.common import ConfigOpt, SetOpt, app, console, fail, load_config, out, progress_bar

eval_app = typer.Typer(
    help="Benchmarks over rendered pages: RULER, LongBench, MRCR; resumable, with reports.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")

ReaderOpt = Annotated[
    str,
    typer.Option(
        "--reader",
        "-r",
        help="Reader name (see `glyph readers`), or <reader>-extract for the offline extractor. "
        "Readers that only transcribe (ocr, oracle) get the extractor: a legibility bound, not a model.",
    ),
]
ReaderOptsOpt = Annotated[
    list[str] | None,
    typer.Option("--reader-opt", help="Reader option key=value, e.g. base_url=... (repeatable)."),
]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Results folder (results.jsonl, report.md, plots).")
]
PromptsOpt = Annotated[Path | None, typer.Option("--prompts", help="YAML with replacement prompt wording.")]
ConcurrencyOpt = Annotated[
    int | None, typer.Option(help="Samples in flight at once (default: 1 for offline readers, 4 otherwise).")
]
VlmOpt = Annotated[str, typer.Option("--vlm", help="VLM family whose visual tokens are counted.")]
TokenizerOpt = Annotated[str, typer.Option("--tokenizer", help="Text tokenizer for lengths and ratios.")]
ResumeOpt = Annotated[
    bool, typer.Option(help="Skip samples already in results.jsonl for this reader and config.")
]
TasksOpt = Annotated[
    str | None, typer.Option("--tasks", "-t", help="Comma-separated task names (default: all).")
]


def _options(items: list[str] | None) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"--reader-opt expects key=value, got {item!r}")
        try:
            opts[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            opts[key.strip()] = raw
    return opts


def _split(spec: str | None) -> list[str] | None:
    return [t.strip() for t in spec.split(",") if t.strip()] if spec else None


def _prompts(path: Path | None) -> dict[str, Any]:
    from glyph.eval.prompts import load_prompts

    try:
        return load_prompts(path)
    except ValueError as exc:
        fail(str(exc))
        raise


def _run(
    samples: Iterable[Any],
    total: int | None,
    benchmark: str,
    reader_name: str,
    reader_opts: list[str] | None,
    config: Path | None,
    set_: list[str] | None,
    out_dir: Path,
    prompts: dict[str, Any],
    concurrency: int | None,
    vlm: str,
    tokenizer: str,
    resume: bool,
    meta: dict[str, Any],
) -> None:
    from glyph.eval.extract import ExtractReader, resolve_reader
    from glyph.eval.runner import run_eval
    from glyph.eval.summary import write_report
    from glyph.readers.base import ReaderUnavailableError

    cfg = load_config(config, set_)
    opts = _options(reader_opts)
    try:
        reader = resolve_reader(reader_name, **opts)
    except (ValueError, TypeError, ReaderUnavailableError) as exc:
        fail(str(exc))
        raise
    if isinstance(reader, ExtractReader):
        console.print(
            f"[yellow]note:[/] answering with [bold]{reader.name}[/]: a transcription plus rule-based "
            "extraction, a legibility bound, not a language model"
        )
    scores: list[float] = []
    try:
        with progress_bar() as progress:
            bar = progress.add_task(f"{benchmark} · {reader.name}", total=total)

            def on_result(result: Any) -> None:
                scores.append(result.score)
                mean = sum(scores) / len(scores)
                progress.update(
                    bar, advance=1, description=f"{benchmark} · {reader.name} · mean score {mean:.1%}"
                )
                if result.error:
                    console.print(f"[red]{result.id}:[/] {result.error}")

            outcome = run_eval(
                samples,
                reader,
                cfg,
                out_dir,
                reader_name=reader.name,
                vlm=vlm,
                tokenizer=tokenizer,
                system=prompts.get("system"),
                concurrency=concurrency,
                resume=resume,
                on_result=on_result,
                on_skip=lambda _s: progress.advance(bar),
                meta={"benchmark": benchmark, "reader_options": opts, **meta},
            )
    except KeyboardInterrupt:
        console.print(
            f"[yellow]interrupted:[/] finished samples are in {out_dir}/results.jsonl; rerun to resume"
        )
        raise typer.Exit(130) from None
    finally:
        reader.close()
    summaries, report = write_report([out_dir])
    out.print(
        f"{len(outcome.new)} samples evaluated, {outcome.skipped} already done -> {out_dir}/results.jsonl"
    )
    _print_summaries(summaries)
    out.print(f"report: {report}")


def _print_summaries(summaries: list[Any]) -> None:
    table = Table(title="results (score x 100; compression = text tokens / visual tokens)")
    for col in ("run", "samples", "errors", "accuracy", "mean compr.", "max compr."):
        table.add_column(col, justify="left" if col == "run" else "right")
    for s in summaries:
        label = s.run + (" [legibility bound]" if s.legibility_bound else "")
        ratio = (f"{s.ratio_mean:.2f}x", f"{s.ratio_max:.2f}x") if s.ratio_mean is not None else ("–", "–")
        table.add_row(label, str(s.samples), str(s.errors), f"{100 * s.accuracy:.1f}", *ratio)
        for bucket, acc in s.by_bucket.items():
            r = s.ratio_by_bucket.get(bucket)
            table.add_row(
                f"  {bucket}",
                str(s.samples_by_bucket[bucket]),
                "",
                f"{100 * acc:.1f}",
                f"{r:.2f}x" if r else "–",
                "",
            )
    out.print(table)


@eval_app.command()
def ruler(
    reader: ReaderOpt = "ocr",
    reader_opt: ReaderOptsOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    lengths: Annotated[str, typer.Option(help="Target lengths in tokens, e.g. 4k,8k,32k,128k,1m.")] = "4k,8k",
    tasks: TasksOpt = None,
    samples: Annotated[int, typer.Option("--samples", "-n", help="Samples per task and length.")] = 5,
    seed: Annotated[int, typer.Option(help="Same seed, same samples.")] = 0,
    out_dir: OutOpt = Path("eval-ruler"),
    prompts: PromptsOpt = None,
    concurrency: ConcurrencyOpt = None,
    vlm: VlmOpt = "glm4v",
    tokenizer: TokenizerOpt = "qwen",
    resume: ResumeOpt = True,
) -> None:
    """RULER's synthetic tasks (niah_*, vt, cwe, fwe) at the given lengths."""
    from glyph.eval.ruler import RULER_TASKS, generate_ruler
    from glyph.eval.sample import parse_lengths

    try:
        sizes = parse_lengths(lengths)
    except ValueError as exc:
        fail(str(exc))
        raise
    names = _split(tasks) or list(RULER_TASKS)
    unknown = [t for t in names if t not in RULER_TASKS]
    if unknown:
        fail(f"unknown RULER task(s) {', '.join(unknown)}; known: {', '.join(RULER_TASKS)}")
    p = _prompts(prompts)
    stream = generate_ruler(names, sizes, samples, seed, tokenizer, p)
    meta = {"lengths": sizes, "tasks": names, "samples": samples, "seed": seed}
    _run(stream, len(names) * len(sizes) * samples, "ruler", reader, reader_opt, config, set_, out_dir, p,
         concurrency, vlm, tokenizer, resume, meta)  # fmt: skip


@eval_app.command()
def longbench(
    data: Annotated[
        str, typer.Option(help="Folder of <task>.jsonl (data.zip), a JSONL/Parquet file, or 'hub'.")
    ],
    reader: ReaderOpt = "ocr",
    reader_opt: ReaderOptsOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    tasks: TasksOpt = None,
    limit: Annotated[int | None, typer.Option(help="First N records of each task.")] = None,
    out_dir: OutOpt = Path("eval-longbench"),
    prompts: PromptsOpt = None,
    concurrency: ConcurrencyOpt = None,
    vlm: VlmOpt = "glm4v",
    tokenizer: TokenizerOpt = "qwen",
    resume: ResumeOpt = True,
) -> None:
    """LongBench (THUDM/LongBench) with its per-task metrics."""
    from glyph.eval.longbench import load_longbench

    p = _prompts(prompts)
    try:
        items = list(load_longbench(data, _split(tasks), limit, tokenizer, p))
    except (OSError, ValueError, RuntimeError) as exc:
        fail(str(exc))
        raise
    meta = {"data": data, "tasks": _split(tasks), "limit": limit}
    _run(items, len(items), "longbench", reader, reader_opt, config, set_, out_dir, p,
         concurrency, vlm, tokenizer, resume, meta)  # fmt: skip


@eval_app.command()
def mrcr(
    data: Annotated[str, typer.Option(help="MRCR .parquet/.jsonl file, a folder of them, or 'hub'.")],
    reader: ReaderOpt = "ocr",
    reader_opt: ReaderOptsOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    limit: Annotated[int | None, typer.Option(help="First N records that pass the filters.")] = None,
    n_needles: Annotated[str | None, typer.Option(help="Keep these needle counts, e.g. 2,4.")] = None,
    max_length: Annotated[str | None, typer.Option(help="Drop prompts longer than this, e.g. 128k.")] = None,
    out_dir: OutOpt = Path("eval-mrcr"),
    prompts: PromptsOpt = None,
    concurrency: ConcurrencyOpt = None,
    vlm: VlmOpt = "glm4v",
    tokenizer: TokenizerOpt = "qwen",
    resume: ResumeOpt = True,
) -> None:
    """OpenAI MRCR: the conversation is rendered, the final request stays text."""
    from glyph.eval.mrcr import load_mrcr
    from glyph.eval.sample import parse_length

    p = _prompts(prompts)
    try:
        needles = [int(n) for n in _split(n_needles) or []] or None
        max_tokens = parse_length(max_length) if max_length else None
        items = list(load_mrcr(data, limit, needles, max_tokens, tokenizer, p))
    except (OSError, ValueError, RuntimeError) as exc:
        fail(str(exc))
        raise
    meta = {"data": data, "limit": limit, "n_needles": needles, "max_tokens": max_tokens}
    _run(items, len(items), "mrcr", reader, reader_opt, config, set_, out_dir, p,
         concurrency, vlm, tokenizer, resume, meta)  # fmt: skip


@eval_app.command()
def report(
    dirs: Annotated[list[Path], typer.Argument(help="Results folders (or results.jsonl files) to combine.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where report.md goes (default: the first folder).")
    ] = None,
) -> None:
    """Summary, markdown report and plots; several folders (e.g. text vs pages) side by side."""
    from glyph.eval.summary import write_report

    missing = [str(d) for d in dirs if not d.exists()]
    if missing:
        fail(f"no such results: {', '.join(missing)}")
    if len(dirs) > 1 and out_dir is None:
        fail("combining several folders needs --out for the combined report")
    summaries, path = write_report(dirs, out_dir)
    if not summaries:
        fail("no results found")
    _print_summaries(summaries)
    out.print(f"report: {path}")

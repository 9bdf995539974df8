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
MaxNewOpt = Annotated[
    int | None,
    typer.Option(
        "--max-new-tokens",
        help="One generation budget for every sample (default: the benchmark's per-task lengths). "
        "Glyph's published runs use 8192: it thinks before it answers.",
    ),
]
FontDirOpt = Annotated[
    list[Path] | None,
    typer.Option("--font-dir", help="Where to find fonts named by the records' own configs (Glyph's sets)."),
]
RecordConfigOpt = Annotated[
    bool,
    typer.Option(
        help="Render each record with its own config keys when the data carries them (Glyph's "
        "evaluation sets), over --config/--set."
    ),
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
    *,
    max_new_tokens: int | None = None,
    provenance: Any = None,
    record_config: bool = True,
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
                max_new_tokens=max_new_tokens,
                provenance=provenance,
                sample_configs=record_config,
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


def _print_warnings(dirs: list[Path], summaries: list[Any]) -> None:
    from glyph.eval.summary import input_warnings, load_provenance

    if len(summaries) < 2:
        return
    _, provenance = load_provenance(dirs)
    for warning in input_warnings(summaries, provenance):
        console.print(f"[yellow]warning:[/] {warning}")


def _first(items: Iterable[Any]) -> tuple[Any, Iterable[Any]]:
    """The first item of a lazy stream and the whole stream again (to see what the data is)."""
    import itertools

    it = iter(items)
    first = next(it, None)
    return first, (itertools.chain([first], it) if first is not None else iter(()))


def _parse_pairs(items: list[str] | None, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            fail(f"{what} expects name=PATH (or name=hub), got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


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
    samples: Annotated[
        int | None,
        typer.Option("--samples", "-n", help="Samples per task and length (built-in generator: default 5; --data: all)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same samples.")] = 0,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Data made elsewhere instead of the built-in generator: RULER's prepared JSONL (a file "
            "or its save folder: <task>/validation.jsonl) or Glyph's preprocessed RULER files. "
            "--lengths/--seed then do not apply."
        ),
    ] = None,
    templates: Annotated[
        Path | None,
        typer.Option(help="RULER's templates: a RULER checkout, or its scripts/data/synthetic/constants.py."),
    ] = None,
    qa_data: Annotated[
        list[str] | None,
        typer.Option(
            "--qa-data",
            help="Data of RULER's QA tasks for the built-in generator: squad=dev-v2.0.json, "
            "hotpotqa=hotpot_dev_distractor_v1.json (or =hub). Adds qa_1 / qa_2.",
        ),
    ] = None,
    out_dir: OutOpt = Path("eval-ruler"),
    prompts: PromptsOpt = None,
    concurrency: ConcurrencyOpt = None,
    vlm: VlmOpt = "glm4v",
    tokenizer: TokenizerOpt = "qwen",
    max_new_tokens: MaxNewOpt = None,
    font_dir: FontDirOpt = None,
    record_config: RecordConfigOpt = True,
    resume: ResumeOpt = True,
) -> None:
    """RULER: the built-in generator (niah_*, vt, cwe, fwe, qa_*), or RULER's / Glyph's own data."""
    from glyph.eval.official import RulerTemplates
    from glyph.eval.provenance import describe, ruler_provenance
    from glyph.eval.ruler import QA_TASKS, RULER_TASKS, generate_ruler
    from glyph.eval.ruler_data import load_ruler_data
    from glyph.eval.sample import parse_lengths

    p = _prompts(prompts)
    try:
        tmpl = RulerTemplates.load(templates) if templates else None
    except ValueError as exc:
        fail(str(exc))
        raise
    if data is not None:
        try:
            stream = load_ruler_data(data, tmpl, _split(tasks), samples, tokenizer, font_dir or ())
            first, stream = _first(stream)
        except (OSError, ValueError) as exc:
            fail(str(exc))
            raise
        if first is None:
            fail(f"no RULER records in {data}" + (f" for tasks {tasks}" if tasks else ""))
        layout = first.metadata.get("source_layout", "ruler-prepared")
        if layout == "ruler-prepared":
            assert tmpl is not None
            src = tmpl.sources["tasks"]
            prompt = {"name": f"RULER templates {src['path']}", "sha256": src["sha256"]}
        else:
            prompt = describe("the records' own question text (Glyph_Evaluation)", "glyph-evaluation")
        provenance = ruler_provenance(data=str(data), layout=layout, tokenizer=tokenizer, prompts=prompt,
                                      max_new_tokens=max_new_tokens)  # fmt: skip
        meta = {"data": str(data), "tasks": _split(tasks), "templates": str(templates) if templates else None}
        _run(stream, None, "ruler", reader, reader_opt, config, set_, out_dir, p, concurrency, vlm, tokenizer,
             resume, meta, max_new_tokens=max_new_tokens, provenance=provenance,
             record_config=record_config)  # fmt: skip
        return
    samples = 5 if samples is None else samples
    try:
        sizes = parse_lengths(lengths)
    except ValueError as exc:
        fail(str(exc))
        raise
    qa = _parse_pairs(qa_data, "--qa-data")
    bad = [k for k in qa if k not in ("squad", "hotpotqa")]
    if bad:
        fail(f"--qa-data names {', '.join(bad)}; RULER's QA data are squad and hotpotqa")
    qa_tasks = [t for t, spec in QA_TASKS.items() if spec.dataset in qa]
    names = _split(tasks) or [*RULER_TASKS, *qa_tasks]
    known = [*RULER_TASKS, *QA_TASKS]
    unknown = [t for t in names if t not in known]
    if unknown:
        fail(f"unknown RULER task(s) {', '.join(unknown)}; known: {', '.join(known)}")
    try:
        stream = generate_ruler(names, sizes, samples, seed, tokenizer, p, qa)
        _, stream = _first(stream)  # surfaces missing QA data before the progress bar starts
    except (OSError, ValueError, RuntimeError) as exc:
        fail(str(exc))
        raise
    name = str(prompts) if prompts else "glyph prompts.yaml (packaged, own wording)"
    provenance = ruler_provenance(data=None, layout="glyph-ruler-generator", tokenizer=tokenizer,
                                  prompts=describe(name, p["ruler"]), max_new_tokens=max_new_tokens, seed=seed,
                                  notes=[f"qa data: {k}={v}" for k, v in qa.items()])  # fmt: skip
    meta = {"lengths": sizes, "tasks": names, "samples": samples, "seed": seed, "qa_data": qa or None}
    _run(stream, len(names) * len(sizes) * samples, "ruler", reader, reader_opt, config, set_, out_dir, p,
         concurrency, vlm, tokenizer, resume, meta, max_new_tokens=max_new_tokens,
         provenance=provenance, record_config=record_config)  # fmt: skip


@eval_app.command()
def longbench(
    data: Annotated[
        str,
        typer.Option(
            help="Folder of <task>.jsonl (LongBench's data.zip, or Glyph's preprocessed longbench/data), "
            "a JSONL/Parquet file, or 'hub'."
        ),
    ],
    reader: ReaderOpt = "ocr",
    reader_opt: ReaderOptsOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    tasks: TasksOpt = None,
    limit: Annotated[int | None, typer.Option(help="First N records of each task.")] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option(help="LongBench's config/dataset2prompt.json: the official wording (byte-equal prompts)."),
    ] = None,
    maxlen_file: Annotated[
        Path | None, typer.Option(help="LongBench's config/dataset2maxlen.json: generation length per dataset.")
    ] = None,
    page_prompt_file: Annotated[
        Path | None,
        typer.Option(
            help="Page prompts in the format of Glyph's evaluation/longbench/config/dataset2vlmprompt.json: "
            "what page readers read next to the pages."
        ),
    ] = None,
    max_length: Annotated[
        str | None,
        typer.Option(
            help="Cut each text prompt in the middle to this many --tokenizer tokens, as LongBench's pred.py "
            "does for a model's window (e.g. 31500, 128k). Default: no cut."
        ),
    ] = None,
    postprocess: Annotated[
        str | None,
        typer.Option(help="Clean predictions before scoring: glyph-longbench (Glyph's clear_pred.py) or none."),
    ] = None,
    out_dir: OutOpt = Path("eval-longbench"),
    prompts: PromptsOpt = None,
    concurrency: ConcurrencyOpt = None,
    vlm: VlmOpt = "glm4v",
    tokenizer: TokenizerOpt = "qwen",
    max_new_tokens: MaxNewOpt = None,
    font_dir: FontDirOpt = None,
    record_config: RecordConfigOpt = True,
    resume: ResumeOpt = True,
) -> None:
    """LongBench / LongBench-E (THUDM/LongBench) with its per-task metrics; official prompts and truncation on request."""
    from glyph.eval.longbench import load_longbench
    from glyph.eval.official import LongBenchPromptFiles
    from glyph.eval.postprocess import POSTPROCESS
    from glyph.eval.provenance import describe, longbench_provenance
    from glyph.eval.sample import parse_length

    p = _prompts(prompts)
    clean = None if postprocess in (None, "none") else postprocess
    if clean is not None and clean not in POSTPROCESS:
        fail(f"unknown --postprocess {postprocess!r}; known: none, {', '.join(POSTPROCESS)}")
    try:
        files = LongBenchPromptFiles.load(prompt_file, maxlen_file, page_prompt_file)
        window = parse_length(max_length) if max_length else None
        items = list(load_longbench(data, _split(tasks), limit, tokenizer, p, files=files, max_length=window,
                                    postprocess=clean, font_dirs=font_dir or ()))  # fmt: skip
    except (OSError, ValueError, RuntimeError) as exc:
        fail(str(exc))
        raise
    glyph_layout = any(s.metadata.get("source_layout") == "glyph-evaluation" for s in items[:1])
    text_prompts = (
        {"name": files.sources["prompts"]["path"], "sha256": files.sources["prompts"]["sha256"]}
        if "prompts" in files.sources
        else describe(str(prompts) if prompts else "glyph prompts.yaml (packaged, own wording)", p["longbench"])
    )
    pages = files.sources.get("page_prompts")
    notes = sorted({s.metadata["render_note"] for s in items if s.metadata.get("render_note")})
    provenance = longbench_provenance(
        data=data, layout="glyph-evaluation" if glyph_layout else "longbench", tokenizer=tokenizer,
        prompts=text_prompts, page_prompts={"name": pages["path"], "sha256": pages["sha256"]} if pages else None,
        max_length=window, maxlen_file=files.sources.get("maxlen"), postprocess=clean,
        max_new_tokens=max_new_tokens, notes=notes,
    )  # fmt: skip
    meta = {"data": data, "tasks": _split(tasks), "limit": limit}
    _run(items, len(items), "longbench", reader, reader_opt, config, set_, out_dir, p,
         concurrency, vlm, tokenizer, resume, meta, max_new_tokens=max_new_tokens,
         provenance=provenance, record_config=record_config)  # fmt: skip


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
    max_new_tokens: MaxNewOpt = None,
    record_config: RecordConfigOpt = True,
    resume: ResumeOpt = True,
) -> None:
    """OpenAI MRCR (official records or Glyph's preprocessed set): the conversation is rendered, the request stays text."""
    from glyph.eval.mrcr import load_mrcr
    from glyph.eval.provenance import describe, mrcr_provenance
    from glyph.eval.sample import parse_length

    p = _prompts(prompts)
    try:
        needles = [int(n) for n in _split(n_needles) or []] or None
        max_tokens = parse_length(max_length) if max_length else None
        items = list(load_mrcr(data, limit, needles, max_tokens, tokenizer, p))
    except (OSError, ValueError, RuntimeError) as exc:
        fail(str(exc))
        raise
    glyph_layout = any(s.metadata.get("source_layout") == "glyph-evaluation" for s in items[:1])
    prompt = (
        describe("the records' own question text (Glyph_Evaluation)", "glyph-evaluation")
        if glyph_layout
        else describe(str(prompts) if prompts else "glyph prompts.yaml (packaged, own wording)", p["mrcr"])
    )
    notes = sorted({s.metadata["render_note"] for s in items if s.metadata.get("render_note")})
    provenance = mrcr_provenance(data=data, layout="glyph-evaluation" if glyph_layout else "openai-mrcr",
                                 tokenizer=tokenizer, prompts=prompt, max_new_tokens=max_new_tokens,
                                 max_tokens=max_tokens, notes=notes)  # fmt: skip
    meta = {"data": data, "limit": limit, "n_needles": needles, "max_tokens": max_tokens}
    _run(items, len(items), "mrcr", reader, reader_opt, config, set_, out_dir, p,
         concurrency, vlm, tokenizer, resume, meta, max_new_tokens=max_new_tokens,
         provenance=provenance, record_config=record_config)  # fmt: skip


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
    _print_warnings(dirs, summaries)
    out.print(f"report: {path}")

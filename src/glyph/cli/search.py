"""Search commands: ``glyph search run | resume | show | space``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from glyph.cli.common import app, console, fail, out, progress_bar

search_app = typer.Typer(
    help="LLM-guided genetic search over rendering configs (accuracy vs compression), stored in an optuna study.",
    no_args_is_help=True,
)
app.add_typer(search_app, name="search")

StorageOpt = Annotated[
    str, typer.Option("--storage", help="Optuna RDB URL: sqlite:///study.db, postgresql://user@host/db, ...")
]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: search-<study>).")]
GenerationsOpt = Annotated[int, typer.Option(help="Generations bred after the initial population.")]
LlmUrlOpt = Annotated[
    str | None, typer.Option("--llm-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.")
]
LlmModelOpt = Annotated[
    str | None, typer.Option("--llm-model", help="Model name (default: the server's first).")
]
LlmKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--llm-api-key", envvar="GLYPH_LLM_API_KEY", help="API key (never stored; or OPENAI_API_KEY)."
    ),
]
ValOpt = Annotated[
    list[str] | None,
    typer.Option("--val-opt", help="Option of the held-out validation split key=value (JSON values), repeatable; "
                                   "default: the fitness with other seeds, tasks and text."),
]
ValidateOpt = Annotated[
    bool, typer.Option("--validate/--no-validate", help="Validate the front on the held-out split when complete.")
]
MaxEvalOpt = Annotated[
    int | None, typer.Option("--max-evaluations", help="Stop this worker after N evaluations (resume later).")
]


def _parse_opts(items: list[str] | None, flag: str = "--eval-opt") -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"{flag} expects key=value, got {item!r}")
        try:
            opts[key.strip().replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            opts[key.strip().replace("-", "_")] = raw
    return opts


class _Progress:
    """Turns runner events into a progress bar and one line per generation."""

    def __init__(self, progress: Any, total: int, scoring: Any) -> None:
        self.progress = progress
        self.task = progress.add_task("evaluating", total=total)
        self.scoring = scoring
        self.best: float | None = None

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "evaluated":
            self.progress.advance(self.task)
            tag = " (cached)" if data["cached"] else ""
            if self.best is None or data["score"] > self.best:
                self.best = data["score"]
                ci = data.get("accuracy_ci")
                if ci:
                    tag += f" (95% CI {ci['low']:.3f}-{ci['high']:.3f} over {ci['n']} samples)".replace(
                        "95%", f"{ci['confidence']:.0%}")
                console.print(
                    f"  new best: trial {data['trial']} gen {data['generation']} ({data['origin']}) accuracy "
                    f"{data['accuracy']:.4f} compression {data['compression']:.3f} score {data['score']:.4f}{tag}"
                )
        elif event == "failed":
            self.progress.advance(self.task)
            console.print(f"  [yellow]trial {data['trial']} failed:[/] {escape(data['error'][:200])}")
        elif event == "stopped":
            console.print(f"[red]search stopped:[/] {escape(data['reason'][:300])}")
        elif event == "bred":
            llm = ""
            if data["llm_requested"]:
                llm = (
                    f"; LLM {data['llm_accepted']}/{data['llm_requested']} used ({data['llm_repaired']} repaired, "
                    f"{data['llm_invalid']} invalid, {data['llm_duplicate']} duplicate, {data['llm_missing']} missing)"
                )
                if data["llm_error"]:
                    llm += f" [yellow]LLM call failed: {escape(data['llm_error'][:160])}[/]"
            console.print(f"generation {data['generation']} bred: {data['classical']} classical{llm}")


def _validate(run: Any, overrides: dict[str, Any] | None = None) -> dict[str, Path]:
    """Run a validation with a progress bar; print its table and verdict; the written paths."""
    with progress_bar() as progress:
        task = progress.add_task("validating", total=None)
        report, paths = run(overrides, on_scored=lambda row: progress.advance(task))
    _validation_table(report)
    return paths


def _validation_table(report: Any) -> None:
    table = Table(title=f"validation on the held-out split ({report.split['name']}; "
                        f"{report.confidence:.0%} Wilson intervals)")
    for col in ("config", "in search", "compr.", "validation", "compr. "):
        table.add_column(col, justify="left" if col == "config" else "right", no_wrap=True)
    for r in report.rows:
        from glyph.search.fitness import Interval

        search = "" if r.search_accuracy is None else str(
            Interval.from_dict(r.search_ci) if r.search_ci else f"{r.search_accuracy:.4f}")
        mark = " (winner)" if r.number == report.winner else ""
        table.add_row(f"{r.label}{mark}", search, "" if r.search_compression is None else f"{r.search_compression:.3f}",
                      str(r.interval) if r.ci else f"{r.accuracy:.4f}", f"{r.compression:.3f}")
    out.print(table)
    out.print(report.verdict())


def _run(search: Any, max_evaluations: int | None, storage: str, validate: bool = True) -> None:
    from glyph.search.evaluators import EvaluatorUnavailableError

    s = search.settings
    if not search.llm_enabled:
        console.print(
            "[yellow]no LLM endpoint (--llm-url): classical operators only (mutation + crossover)[/]"
        )
    total = s.population * (s.generations + 1)
    done = len(search.store.records())
    with progress_bar() as progress:
        bar = _Progress(progress, total, s.scoring)
        progress.advance(bar.task, done)
        search.runner.on_event = bar
        try:
            summary = search.run(max_evaluations)
        except KeyboardInterrupt:
            console.print(
                f"[yellow]interrupted[/]; continue with: glyph search resume {search.store.name} "
                f"--storage {storage}"
            )
            summary = None
        except EvaluatorUnavailableError as exc:
            fail(str(exc))
            raise
    paths = search.export()
    if validate and summary is not None and not summary.stopped_early and search.complete:
        console.print("search complete: validating the Pareto front on the held-out split")
        paths.update(_validate(search.validate))
    elif summary is not None and not search.complete:
        console.print(f"[dim]not complete: validate later with `glyph search validate {search.store.name} "
                      f"--storage {storage}`[/]")
    if summary is not None:
        out.print(
            f"{summary.evaluations} evaluations here ({summary.cached} from cache, {summary.failed} failed), "
            f"{summary.generations_bred} generations bred"
        )
    _front_table(search.store.records(), s.scoring)
    for name, path in paths.items():
        out.print(f"{name}: {path}")
    out.print(f"proposal log: {search.out_dir / 'proposals.jsonl'}")


@search_app.command("run")
def run_cmd(
    space: Annotated[
        Path | None, typer.Option("--space", help="Space file (YAML/JSON) restricting the default.")
    ] = None,
    evaluator: Annotated[
        str, typer.Option(help="Fitness: ocr-fidelity, ocr-ruler, vlm-ruler, synthetic.")
    ] = "ocr-fidelity",
    reader: Annotated[
        str | None, typer.Option(help="Reader for the evaluator (default for ocr-fidelity and ocr-ruler: ocr-pixels, which finds "
                                "the lines from the pixels as a model must; ocr reads the layout's line boxes; "
                                "oracle, openai, ...).")
    ] = None,
    text: Annotated[Path | None, typer.Option("--text", help="Validation text for ocr-fidelity.")] = None,
    eval_opt: Annotated[
        list[str] | None,
        typer.Option("--eval-opt", help="Evaluator option key=value (JSON values), repeatable."),
    ] = None,
    generations: GenerationsOpt = 10,
    population: Annotated[int, typer.Option(help="Candidates per generation.")] = 16,
    llm_url: LlmUrlOpt = None,
    llm_model: LlmModelOpt = None,
    llm_api_key: LlmKeyOpt = None,
    llm_share: Annotated[float, typer.Option(help="Share of each generation proposed by the LLM.")] = 0.5,
    llm_temperature: Annotated[float, typer.Option(help="Sampling temperature of the proposer.")] = 0.7,
    llm_timeout: Annotated[float, typer.Option(help="Seconds per LLM call (retried 3x on 429/5xx).")] = 120.0,
    accuracy_floor: Annotated[float, typer.Option(help="Configs below this accuracy rank last.")] = 0.9,
    accuracy_weight: Annotated[float, typer.Option(help="w in w*accuracy + (1-w)*log2(compression).")] = 0.8,
    confidence: Annotated[
        float,
        typer.Option(help="Confidence of the accuracy's Wilson score interval; configs whose intervals overlap tie on "
                          "accuracy and the more compressed wins (task evaluators: ocr-ruler, vlm-ruler)."),
    ] = 0.95,
    crossover_rate: Annotated[
        float, typer.Option(help="Share of classical offspring made by crossover.")
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed of the classical operators.")] = 0,
    seed_config: Annotated[
        list[Path] | None, typer.Option("--seed-config", help="Extra config JSON for the initial population.")
    ] = None,
    storage: StorageOpt = "sqlite:///study.db",
    study: Annotated[
        str, typer.Option(help="Study name (run again with the same arguments to add a worker).")
    ] = "glyph-search",
    out_dir: OutOpt = None,
    max_evaluations: MaxEvalOpt = None,
    val_opt: ValOpt = None,
    validate: ValidateOpt = True,
) -> None:
    """Start a search (or join it as another worker when it exists with the same arguments).

    When the last generation is in, the Pareto front and the reference default are re-scored on a held-out split (see `glyph search validate --help`) and the validation winner is exported as best_config.json."""
    from glyph.render.config import RenderConfig
    from glyph.search import session
    from glyph.search.proposer import LLMSettings
    from glyph.search.runner import SearchSettings
    from glyph.search.space import SearchSpace

    opts = _parse_opts(eval_opt)
    if reader:
        opts["reader"] = reader
    if text:
        opts["text_file"] = str(text.resolve())
    try:
        space_obj = SearchSpace.load(space)
        for note in space_obj.notes:
            console.print(f"[dim]space: {note}[/]")
        settings = SearchSettings(
            generations=generations,
            population=population,
            llm_share=llm_share,
            crossover_rate=crossover_rate,
            accuracy_floor=accuracy_floor,
            accuracy_weight=accuracy_weight,
            seed=seed,
            confidence=confidence,
        )
        llm = LLMSettings(llm_url, llm_model, llm_temperature, llm_timeout) if llm_url else None
        seeds = [space_obj.project(RenderConfig.from_json(p).to_reference_dict()) for p in seed_config or []]
        search = session.start(
            storage,
            study,
            out_dir or Path(f"search-{study}"),
            space=space_obj,
            evaluator=evaluator,
            evaluator_options=opts,
            settings=settings,
            llm=llm,
            api_key=llm_api_key,
            extra_seeds=seeds,
            validation_options=_parse_opts(val_opt, "--val-opt"),
        )
    except (ValueError, TypeError) as exc:
        fail(str(exc))
        raise
    _run(search, max_evaluations, storage, validate)


@search_app.command("resume")
def resume_cmd(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOpt = "sqlite:///study.db",
    out_dir: OutOpt = None,
    generations: Annotated[
        int | None, typer.Option(help="New generation target (extends the search).")
    ] = None,
    llm_url: LlmUrlOpt = None,
    llm_model: LlmModelOpt = None,
    llm_api_key: LlmKeyOpt = None,
    takeover: Annotated[
        bool, typer.Option(help="Requeue trials left RUNNING now (only when no other worker is alive).")
    ] = False,
    max_evaluations: MaxEvalOpt = None,
    validate: ValidateOpt = True,
) -> None:
    """Continue a study where it stopped, with the settings it was created with.

    The space, evaluator and settings are the study's own; the front is validated on its held-out split when the study completes."""
    from glyph.search import session
    from glyph.search.proposer import LLMSettings

    try:
        llm = LLMSettings(llm_url, llm_model) if llm_url else None
        search = session.resume(
            storage,
            study,
            out_dir or Path(f"search-{study}"),
            generations=generations,
            llm=llm,
            api_key=llm_api_key,
            takeover=takeover,
        )
    except (ValueError, TypeError) as exc:
        fail(str(exc))
        raise
    _run(search, max_evaluations, storage, validate)


@search_app.command("validate")
def validate_cmd(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOpt = "sqlite:///study.db",
    out_dir: OutOpt = None,
    val_opt: ValOpt = None,
) -> None:
    """Re-score a study's Pareto front and the reference default on its held-out split.

    The split is stored with the study. For ocr-ruler and vlm-ruler: other seeds (+1000) and other tasks (niah_single_1, niah_multikey_2, niah_multivalue, niah_multiquery). For ocr-fidelity: another seed and other essay text. --val-opt changes it for this run, e.g. --val-opt samples=10 or --val-opt samples_file=heldout.jsonl.

    Writes validation.json, .csv and .png, and best_config.json (the validation winner, fonts named portably) into --out."""
    from glyph.search import session
    from glyph.search.evaluators import EvaluatorUnavailableError

    try:
        store, settings = session.load_records(storage, study)
        out_path = out_dir or Path(f"search-{study}")
        paths = _validate(lambda o, on_scored: session.run_validation(store, settings, out_path, o, on_scored),
                          _parse_opts(val_opt, "--val-opt"))
    except (ValueError, TypeError, EvaluatorUnavailableError) as exc:
        fail(str(exc))
        raise
    for name, path in paths.items():
        out.print(f"{name}: {path}")


@search_app.command("show")
def show_cmd(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOpt = "sqlite:///study.db",
    all_: Annotated[bool, typer.Option("--all", help="Every evaluated config, not just the front.")] = False,
    export_dir: Annotated[
        Path | None, typer.Option("--export", help="Also write best config, CSVs and plot here.")
    ] = None,
) -> None:
    """The Pareto front of a study as a table (best marked; accuracy with its interval when known)."""
    from glyph.search import session
    from glyph.search.outputs import export

    try:
        store, settings = session.load_records(storage, study)
    except ValueError as exc:
        fail(str(exc))
        raise
    records = store.records()
    _front_table(records, settings.scoring, show_all=all_)
    out.print(f"{len(records)} configs evaluated, generations 0..{store.last_generation()}")
    report = session.stored_report(store)
    if report is not None:
        _validation_table(report)
    if export_dir:
        winner = report.winner if report else None
        for name, path in export(records, settings.scoring, export_dir, title=f"study {study}", winner=winner).items():
            out.print(f"{name}: {path}")


@search_app.command("space")
def space_cmd(
    space: Annotated[
        Path | None, typer.Option("--space", help="Space file to resolve (default: the built-in).")
    ] = None,
) -> None:
    """Print a resolved space as YAML (a starting point for a --space file)."""
    from glyph.search.space import SearchSpace

    try:
        resolved = SearchSpace.load(space)
    except ValueError as exc:
        fail(str(exc))
        raise
    for note in resolved.notes:
        console.print(f"[dim]{note}[/]")
    typer.echo(resolved.to_yaml(), nl=False)  # plain: rich would wrap long lines and break the YAML


def _front_table(records: list[Any], scoring: Any, show_all: bool = False) -> None:
    from glyph.search.outputs import best_record
    from glyph.search.selection import front_records

    if not records:
        out.print("no evaluated configs yet")
        return
    front = {r.number for r in front_records(records)}
    best = best_record(records, scoring)
    rows = records if show_all else [r for r in records if r.number in front]
    table = Table(title="all configs" if show_all else f"Pareto front ({len(front)} of {len(records)})")
    for col in ("trial", "gen", "origin", "accuracy", "compr.", "score"):
        table.add_column(col, justify="left" if col == "origin" else "right", no_wrap=True)
    table.add_column("config", overflow="fold", min_width=24)
    wide = out.width >= 140
    if wide:
        table.add_column("rationale", overflow="fold", max_width=48)
    for r in sorted(rows, key=lambda r: -r.accuracy):
        cfg = r.config
        mark = "*" if best is not None and r.number == best.number else ""
        summary = (
            f"{cfg.get('font-path', '')} {cfg.get('font-size')}/{cfg.get('line-height')}pt "
            f"{cfg.get('dpi')}dpi {str(cfg.get('page-size', '')).replace(',', 'x')} {cfg.get('alignment', '')}"
        )
        cells = [
            f"{r.number}{mark}",
            str(r.generation),
            r.origin,
            f"{r.accuracy:.4f}" if r.interval is None else f"{r.interval}",
            f"{r.compression:.3f}",
            f"{scoring.score(r.accuracy, r.compression):.4f}",
            summary,
        ]
        table.add_row(*cells, *([escape(r.rationale or "")] if wide else []))
    out.print(table)
    if best is not None:
        out.print(
            f"* best: trial {best.number} (floor {scoring.accuracy_floor}, "
            + ("overlapping accuracy intervals tie, then compression)" if best.interval is not None
               else f"weight {scoring.accuracy_weight})")
        )

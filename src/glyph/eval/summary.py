"""Summaries, the markdown report and the plots, from one or several results folders.

A *run* is one (reader, mode, config hash): text and page runs over the same samples sit
side by side as columns. Definitions (scores per sample are in [0, 1]):

* task accuracy: mean score of the task's samples;
* accuracy: mean of the task accuracies (RULER and LongBench average tasks, not samples);
* accuracy at a length bucket: mean of the task accuracies within that bucket;
* compression: per sample, context text tokens / visual tokens; mean and max over samples.

Errored samples count as score 0 and are reported. Where a sample was evaluated twice with
the same run key, the later record wins. Runs also differ by their recorded inputs
(:mod:`.provenance`): the report lists each run's data, prompts, truncation, tokenizer,
generation length and clean-up, and warns when runs side by side differ in any of them or
cover different samples. LongBench runs get LongBench's category means as well.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean

from glyph.eval.longbench import CATEGORIES
from glyph.eval.provenance import Provenance, RunInputs, comparability_warnings
from glyph.eval.runner import RESULTS, RUNS, Result, read_results
from glyph.eval.sample import bucket_key

LEGIBILITY_NOTE = (
    "Readers named `*-extract` are **legibility bounds, not language models**: the pages are "
    "transcribed (OCR, or the ground truth for `oracle-extract`) and a rule per task reads the "
    "answer out of the transcript. Their accuracy says how much of the evidence the pixels still "
    "carry at that rendering config; tasks the rules do not cover (LongBench QA, summaries) score 0."
)


@dataclass
class RunSummary:
    run: str  # display label
    reader: str
    mode: str
    config_hash: str
    benchmarks: list[str]
    samples: int
    errors: int
    accuracy: float
    sample_mean: float
    by_task: dict[str, float]
    by_bucket: dict[str, float]
    by_task_bucket: dict[str, dict[str, float]]
    samples_by_bucket: dict[str, int]
    ratio_mean: float | None = None
    ratio_max: float | None = None
    ratio_by_bucket: dict[str, float] = field(default_factory=dict)
    ratio_max_by_bucket: dict[str, float] = field(default_factory=dict)
    pages_mean: float | None = None
    seconds_mean: float = 0.0
    vlm: str | None = None
    inputs: str | None = None  # the provenance fingerprint its results carry
    by_category: dict[str, float] = field(default_factory=dict)  # LongBench categories
    samples_seen: list[tuple[str, tuple[str, ...]]] = field(default_factory=list, repr=False)

    @property
    def legibility_bound(self) -> bool:
        return self.reader.endswith("-extract")


def load_results(paths: Iterable[str | Path]) -> list[Result]:
    """The latest record per (sample, reader, config, sample content) from folders or JSONL files."""
    latest: dict[tuple[str, str, str, str], Result] = {}
    for p in paths:
        path = Path(p)
        for r in read_results(path / RESULTS if path.is_dir() else path):
            latest[r.key()] = r
    return list(latest.values())


def run_label(reader: str, mode: str, config_hash: str, inputs: str | None = None) -> str:
    label = f"{reader} (text)" if mode == "text" else f"{reader} @ {config_hash[:8]}"
    return label + (f" [inputs {inputs[:6]}]" if inputs else "")


def _categories(by_task: dict[str, float]) -> dict[str, float]:
    """LongBench's category means (of task scores), for the categories a run has tasks in."""
    out: dict[str, float] = {}
    for category, names in CATEGORIES.items():
        scores = [v for t, v in by_task.items() if t.removesuffix("_e") in names]
        if scores:
            out[category] = fmean(scores)
    return out


def _mean_of_tasks(results: Sequence[Result]) -> float:
    per_task: dict[str, list[float]] = defaultdict(list)
    for r in results:
        per_task[r.task].append(r.score)
    return fmean(fmean(v) for v in per_task.values()) if per_task else 0.0


def scores_by_task(results: Sequence[Result]) -> dict[str, list[float]]:
    """Each task's sample scores (in sample id order): what a bootstrap interval resamples."""
    out: dict[str, list[float]] = defaultdict(list)
    for r in sorted(results, key=lambda r: r.id):
        out[r.task].append(float(r.score))
    return dict(sorted(out.items()))


def summarize_run(results: Sequence[Result], label_inputs: bool = False) -> RunSummary:
    """The numbers of one run (all ``results`` share reader, mode, config hash and inputs)."""
    first = results[0]
    by_task_bucket: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_bucket_results: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_task_bucket[r.task][r.bucket].append(r.score)
        by_bucket_results[r.bucket].append(r)
    buckets = sorted(by_bucket_results, key=bucket_key)
    by_task = {t: fmean(s for b in v.values() for s in b) for t, v in sorted(by_task_bucket.items())}
    ratios = [r.ratio for r in results if r.ratio is not None]
    pages = [r.pages for r in results if r.pages is not None]
    ratio_by_bucket: dict[str, float] = {}
    ratio_max_by_bucket: dict[str, float] = {}
    for b in buckets:
        rs = [r.ratio for r in by_bucket_results[b] if r.ratio is not None]
        if rs:
            ratio_by_bucket[b], ratio_max_by_bucket[b] = fmean(rs), max(rs)
    return RunSummary(
        run=run_label(first.reader, first.mode, first.config_hash, first.inputs if label_inputs else None),
        reader=first.reader,
        mode=first.mode,
        config_hash=first.config_hash,
        benchmarks=sorted({r.benchmark for r in results}),
        samples=len(results),
        errors=sum(1 for r in results if r.error),
        accuracy=_mean_of_tasks(results),
        sample_mean=fmean(r.score for r in results),
        by_task=by_task,
        by_bucket={b: _mean_of_tasks(by_bucket_results[b]) for b in buckets},
        by_task_bucket={
            t: {b: fmean(v[b]) for b in sorted(v, key=bucket_key)} for t, v in sorted(by_task_bucket.items())
        },
        samples_by_bucket={b: len(by_bucket_results[b]) for b in buckets},
        ratio_mean=fmean(ratios) if ratios else None,
        ratio_max=max(ratios) if ratios else None,
        ratio_by_bucket=ratio_by_bucket,
        ratio_max_by_bucket=ratio_max_by_bucket,
        pages_mean=fmean(pages) if pages else None,
        seconds_mean=fmean(r.seconds for r in results),
        vlm=next((r.vlm for r in results if r.vlm), None),
        inputs=first.inputs,
        by_category=_categories(by_task) if "longbench" in {r.benchmark for r in results} else {},
        samples_seen=sorted({(r.id, tuple(r.answers)) for r in results}),
    )


def summarize(results: Iterable[Result]) -> list[RunSummary]:
    """One summary per run, text runs first, then by reader and config.

    Results of one reader and config made from different inputs are separate runs (their
    labels then name the inputs fingerprint).
    """
    runs: dict[tuple[str, str, str, str], list[Result]] = defaultdict(list)
    for r in results:
        runs[(r.reader, r.mode, r.config_hash, r.inputs or "")].append(r)
    splits = defaultdict(set)
    for k in runs:
        splits[k[:3]].add(k[3])
    order = sorted(runs, key=lambda k: (k[1] != "text", k[0], k[2], k[3]))
    return [summarize_run(runs[k], label_inputs=len(splits[k[:3]]) > 1) for k in order]


def load_provenance(sources: Sequence[Path]) -> tuple[dict[str, object], dict[str, Provenance]]:
    """runs.json entries of ``sources`` (merged) and the provenance per inputs fingerprint."""
    runs: dict[str, object] = {}
    for src in sources:
        meta = (src if src.is_dir() else src.parent) / RUNS
        if meta.is_file():
            runs.update(json.loads(meta.read_text(encoding="utf-8")))
    by_inputs: dict[str, Provenance] = {}
    for entry in runs.values():
        if isinstance(entry, dict) and entry.get("inputs") and isinstance(entry.get("provenance"), dict):
            by_inputs[str(entry["inputs"])] = Provenance.from_dict(entry["provenance"])
    return runs, by_inputs


def sample_warnings(summaries: Sequence[RunSummary]) -> list[str]:
    """Runs side by side that cover different samples (ids and references), one line per pair."""
    out: list[str] = []
    for i, a in enumerate(summaries):
        for b in summaries[i + 1 :]:
            sa, sb = set(a.samples_seen), set(b.samples_seen)
            if sa != sb:
                out.append(
                    f"{a.run} and {b.run} cover different samples ({len(sa - sb)} only in the first, "
                    f"{len(sb - sa)} only in the second, {len(sa & sb)} shared): compare them on the shared ones"
                )
    return out


def input_warnings(summaries: Sequence[RunSummary], provenance: dict[str, Provenance]) -> list[str]:
    """Every comparability warning for ``summaries``: inputs that differ, samples that differ."""
    runs = [RunInputs(s.run, s.mode, provenance.get(s.inputs or "")) for s in summaries]
    return comparability_warnings(runs) + sample_warnings(summaries)


# ----------------------------------------------------------------------------- report


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}x"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _inputs_table(summaries: Sequence[RunSummary], provenance: dict[str, Provenance]) -> list[str]:
    rows = []
    for s in summaries:
        p = provenance.get(s.inputs or "")
        if p is None:
            rows.append([s.run, "not recorded", "–", "–", "–", "–", "–"])
            continue
        prompt = p.prompt_for(s.mode)
        rows.append([
            s.run, f"{p.data} ({p.data_layout})",
            f"{prompt.get('name') or prompt.get('path', '–')} [{prompt.get('sha256', '')[:8]}]",
            p.truncation, p.tokenizer, p.generation, p.postprocess,
        ])  # fmt: skip
    lines = _table(["run", "data", "prompts", "truncation", "tokenizer", "generation", "clean-up"], rows)
    notes = sorted({n for s in summaries if (p := provenance.get(s.inputs or "")) for n in (p.chat_template, *p.notes)})
    return lines + ([""] + [f"- {n}" for n in notes] if notes else [])


def markdown_report(
    summaries: Sequence[RunSummary],
    sources: Sequence[str],
    plots: Sequence[str] = (),
    provenance: dict[str, Provenance] | None = None,
) -> str:
    """The report: runs, their inputs (and warnings), accuracy by task and by length (x100), compression by length."""
    provenance = provenance or {}
    lines = ["# Glyph evaluation report", "", "Results: " + ", ".join(f"`{s}`" for s in sources), ""]
    warnings = input_warnings(summaries, provenance) if len(summaries) > 1 else []
    for w in warnings:
        lines += [f"> **Warning:** {w}.", ""]
    if any(s.legibility_bound for s in summaries):
        lines += ["> " + LEGIBILITY_NOTE, ""]
    lines += ["## Runs", ""]
    lines += _table(
        ["run", "kind", "samples", "errors", "accuracy", "mean compression", "max compression", "mean pages"],
        [
            [
                s.run,
                "legibility bound (no LM)"
                if s.legibility_bound
                else ("text baseline" if s.mode == "text" else "pages"),
                str(s.samples),
                str(s.errors),
                _pct(s.accuracy),
                _ratio(s.ratio_mean),
                _ratio(s.ratio_max),
                "–" if s.pages_mean is None else f"{s.pages_mean:.1f}",
            ]
            for s in summaries
        ],
    )
    lines += ["", "## Inputs", ""] + _inputs_table(summaries, provenance)
    tasks = sorted({t for s in summaries for t in s.by_task})
    buckets = sorted({b for s in summaries for b in s.by_bucket}, key=bucket_key)
    if any(s.by_category for s in summaries):
        cats = [c for c in CATEGORIES if any(c in s.by_category for s in summaries)]
        lines += ["", "## LongBench by category (mean of task scores x 100; Avg: all tasks)", ""]
        lines += _table(
            ["category", *[s.run for s in summaries]],
            [[c, *[_pct(s.by_category.get(c)) for s in summaries]] for c in cats]
            + [["Avg", *[_pct(s.accuracy) for s in summaries]]],
        )
    lines += ["", "## Accuracy by task (score x 100)", ""]
    lines += _table(
        ["task", *[s.run for s in summaries]],
        [[t, *[_pct(s.by_task.get(t)) for s in summaries]] for t in tasks],
    )
    lines += ["", "## Accuracy by context length (mean of task scores x 100)", ""]
    lines += _table(
        ["length", *[s.run for s in summaries]],
        [[b, *[_pct(s.by_bucket.get(b)) for s in summaries]] for b in buckets],
    )
    page_runs = [s for s in summaries if s.ratio_mean is not None]
    if page_runs:
        vlms = sorted({s.vlm or "?" for s in page_runs})
        lines += [
            "",
            f"## Compression by context length (context text tokens / visual tokens, {', '.join(vlms)})",
            "",
        ]
        lines += _table(
            ["length", *[f"{s.run} mean / max" for s in page_runs]],
            [
                [
                    b,
                    *[
                        f"{_ratio(s.ratio_by_bucket.get(b))} / {_ratio(s.ratio_max_by_bucket.get(b))}"
                        for s in page_runs
                    ],
                ]
                for b in buckets
            ],
        )
    if len(tasks) > 1 and len(buckets) > 1:
        for s in summaries:
            lines += ["", f"### {s.run}: task x length (score x 100)", ""]
            lines += _table(
                ["task", *buckets],
                [[t, *[_pct(s.by_task_bucket.get(t, {}).get(b)) for b in buckets]] for t in tasks],
            )
    for plot in plots:
        lines += ["", f"![{Path(plot).stem}]({Path(plot).name})"]
    return "\n".join(lines) + "\n"


def plot(summaries: Sequence[RunSummary], out_dir: Path) -> list[Path]:
    """accuracy_vs_length.png and compression_vs_length.png (x: context length, log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    charts = [
        (
            "accuracy_vs_length.png",
            "accuracy (score x 100)",
            lambda s: {b: 100 * v for b, v in s.by_bucket.items()},
        ),
        (
            "compression_vs_length.png",
            "compression (text tokens / visual tokens)",
            lambda s: s.ratio_by_bucket,
        ),
    ]
    for name, ylabel, values in charts:
        series = [(s, values(s)) for s in summaries if values(s)]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        ticks: dict[int, str] = {}
        for s, vals in series:
            pts = sorted((bucket_key(b)[0], v, b) for b, v in vals.items() if bucket_key(b)[0] < 1 << 62)
            ticks.update({x: b for x, _, b in pts})
            label = s.run + (" [legibility bound]" if s.legibility_bound else "")
            ax.plot([x for x, _, _ in pts], [v for _, v, _ in pts], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ticks), [ticks[x] for x in sorted(ticks)])
        ax.minorticks_off()
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel(ylabel)
        if name.startswith("accuracy"):
            ax.set_ylim(-2, 102)
        else:
            ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_report(
    sources: Sequence[str | Path], out_dir: str | Path | None = None
) -> tuple[list[RunSummary], Path]:
    """Summarize ``sources`` (results folders or files) into ``out_dir`` (default: the first folder).

    Writes summary.json, report.md and the plots; returns the summaries and the report path.
    """
    srcs = [Path(s) for s in sources]
    out = Path(out_dir) if out_dir else (srcs[0] if srcs[0].is_dir() else srcs[0].parent)
    out.mkdir(parents=True, exist_ok=True)
    summaries = summarize(load_results(srcs))
    runs, provenance = load_provenance(srcs)
    warnings = input_warnings(summaries, provenance) if len(summaries) > 1 else []
    dumped = [{k: v for k, v in asdict(s).items() if k != "samples_seen"} for s in summaries]
    (out / "summary.json").write_text(
        json.dumps({"runs": dumped, "run_settings": runs, "warnings": warnings}, indent=2, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    plots = plot(summaries, out) if summaries else []
    report = out / "report.md"
    report.write_text(
        markdown_report(summaries, [str(s) for s in srcs], [str(p) for p in plots], provenance),
        encoding="utf-8",
    )
    return summaries, report

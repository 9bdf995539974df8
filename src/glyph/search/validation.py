"""Validation inside the search: re-score the final Pareto front on a split the search never saw.

A genetic search over a fixed probe overfits it: the committed run of an earlier round matched the
reference on its two-sample probe and lost to it on hold-out samples. So every study has a
*validation split*, an evaluator of the same kind on other data, stored with the study:

* ``ocr-ruler`` / ``vlm-ruler``: other seeds (``seed + 1000``) and other tasks
  (:data:`VALIDATION_TASKS`, minus the search's own): other haystacks (noise lines, needle
  lines) and other needle layouts (many values, many queries), the same lengths;
* ``ocr-fidelity``: another seed for the hard lines and other essay text (``offset``);
* any other evaluator: its own options with the seed moved when it has one (``--val-opt``
  gives the split explicitly, e.g. ``samples_file=heldout.jsonl``).

At the end of a search (and on demand, ``glyph search validate``) the feasible front and the
reference default config (the reference's ``config_en.json``, also the search's first seed) are scored on that split with intervals; the validation winner, by the
same tie rule as the search (:mod:`.selection`), is the exported ``best_config.json``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from glyph.render.config import RenderConfig, reference_default
from glyph.search.evaluators import Evaluator, get_evaluator
from glyph.search.fitness import Interval, interval_metrics
from glyph.search.selection import Scoring, TrialRecord, front_records, rank

VALIDATION_SEED_OFFSET = 1000
#: Held-out tasks for the task evaluators: a noise haystack, a haystack of distractor needles,
#: four values per key and four queries (what the default search tasks do not contain).
VALIDATION_TASKS = ("niah_single_1", "niah_multikey_2", "niah_multivalue", "niah_multiquery")
ESSAY_OFFSET = 40_000  # characters of essay text skipped by ocr-fidelity's validation text
REFERENCE = -1  # the "trial number" of the reference default config in a validation report


def default_split(evaluator: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The held-out split for a study's evaluator (``{"name", "options"}``), ``overrides`` applied last."""
    name = str(evaluator["name"])
    opts = dict(evaluator.get("options") or {})
    if "seed" in opts:
        opts["seed"] = int(opts["seed"] or 0) + VALIDATION_SEED_OFFSET
    if name in ("ocr-ruler", "vlm-ruler") and not opts.get("samples_file"):
        own = set(opts.get("tasks") or ())
        opts["tasks"] = [t for t in VALIDATION_TASKS if t not in own] or list(VALIDATION_TASKS)
    if name == "ocr-fidelity" and not opts.get("text_file"):
        opts["offset"] = int(opts.get("offset") or 0) + ESSAY_OFFSET
    opts.update(overrides or {})
    return {"name": name, "options": opts}


@dataclass
class Validated:
    """One config scored in the search and on the validation split."""

    number: int  # trial number; REFERENCE for the reference default config
    label: str
    config: dict[str, Any]
    search_accuracy: float | None
    search_ci: dict[str, Any] | None
    search_compression: float | None
    accuracy: float
    compression: float
    ci: dict[str, Any] | None
    metrics: dict[str, Any] = field(default_factory=dict)

    def record(self) -> TrialRecord:
        """As the selection sees it, with the validation figures."""
        metrics = {"accuracy_ci": self.ci} if self.ci else {}
        return TrialRecord(number=self.number, generation=0, origin=self.label, values={}, accuracy=self.accuracy,
                           compression=self.compression, metrics=metrics, config=self.config)

    @property
    def interval(self) -> Interval:
        return Interval.from_dict(self.ci) if self.ci else Interval.point(self.accuracy)


@dataclass
class ValidationReport:
    split: dict[str, Any]
    rows: list[Validated]
    winner: int | None  # trial number of the validation winner among the search's configs
    confidence: float

    @property
    def reference(self) -> Validated | None:
        return next((r for r in self.rows if r.number == REFERENCE), None)

    @property
    def best(self) -> Validated | None:
        return next((r for r in self.rows if r.number == self.winner), None)

    def verdict(self) -> str:
        """One line: the winner against the reference on the split, with intervals."""
        best, ref = self.best, self.reference
        if best is None or ref is None:
            return "no validated config"
        tie = best.interval.overlaps(ref.interval)
        better = best.interval.low > ref.interval.high
        ratio = best.compression / ref.compression if ref.compression else float("nan")
        how = "more accurate than" if better else ("as accurate as (intervals overlap)" if tie else "LESS accurate than")
        return (f"trial {best.number} on the validation split: {best.interval} at {best.compression:.2f}x, "
                f"{how} the reference default {ref.interval} at {ref.compression:.2f}x: {ratio:.2f}x its compression")

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "winner": self.winner, "confidence": self.confidence,
                "rows": [asdict(r) for r in self.rows], "verdict": self.verdict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        return cls(dict(data["split"]), [Validated(**r) for r in data["rows"]], data.get("winner"),
                   float(data.get("confidence", 0.95)))


def candidates(records: Sequence[TrialRecord], scoring: Scoring) -> list[TrialRecord]:
    """What is validated: the feasible Pareto front (the whole front when nothing is feasible)."""
    front = front_records(records)
    feasible = [r for r in front if scoring.feasible(r.accuracy)]
    return sorted(feasible or front, key=lambda r: -r.compression)


def validate(
    records: Sequence[TrialRecord],
    evaluator: Evaluator,
    scoring: Scoring,
    split: Mapping[str, Any],
    confidence: float = 0.95,
    on_scored: Callable[[Validated], None] | None = None,
) -> ValidationReport:
    """Score the front and the reference default on ``evaluator`` (the split) and pick the winner."""
    rows: list[Validated] = []

    def score(number: int, label: str, cfg: RenderConfig, rec: TrialRecord | None) -> None:
        ev = evaluator.evaluate(cfg)
        metrics = {**ev.metrics, **interval_metrics(ev.metrics, ev.accuracy, confidence)}
        row = Validated(
            number=number, label=label, config=cfg.to_reference_dict(),
            search_accuracy=rec.accuracy if rec else None,
            search_ci=rec.metrics.get("accuracy_ci") if rec else None,
            search_compression=rec.compression if rec else None,
            accuracy=float(ev.accuracy), compression=float(ev.compression), ci=metrics.get("accuracy_ci"),
            metrics={k: metrics[k] for k in ("by_task", "pages_mean", "samples") if k in metrics},
        )
        rows.append(row)
        if on_scored:
            on_scored(row)

    reference = reference_default()  # the reference's config_en.json (DejaVu Sans for Verdana)
    in_search = {r.config_hash: r for r in records}
    score(REFERENCE, "reference default", reference, in_search.get(reference.content_hash()))
    for rec in candidates(records, scoring):
        score(rec.number, f"trial {rec.number}", RenderConfig.from_dict(rec.config), rec)
    searched = [r.record() for r in rows if r.number != REFERENCE]
    ranked = rank(searched, scoring)
    return ValidationReport(dict(split), rows, ranked[0].number if ranked else None, confidence)


def write_report(report: ValidationReport, out_dir: str | Path) -> dict[str, Path]:
    """``validation.json`` (everything), ``validation.csv`` (one row per config) and ``validation.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"validation_json": out / "validation.json", "validation_csv": out / "validation.csv"}
    paths["validation_json"].write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    head = ["trial", "label", "winner", "search_accuracy", "search_low", "search_high", "search_compression",
            "accuracy", "low", "high", "compression"]
    with paths["validation_csv"].open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(head)
        for r in report.rows:
            s = r.search_ci or {}
            w.writerow([r.number, r.label, r.number == report.winner, _round(r.search_accuracy), _round(s.get("low")),
                        _round(s.get("high")), _round(r.search_compression), _round(r.accuracy),
                        _round(r.interval.low), _round(r.interval.high), _round(r.compression)])
    paths["validation_plot"] = plot_report(report, out / "validation.png")
    return paths


def _round(x: float | None) -> float | str:
    return "" if x is None else round(float(x), 6)


def plot_report(report: ValidationReport, path: Path) -> Path:
    """Accuracy (with intervals) against compression: in the search (hollow) and on the split (filled)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r in report.rows:
        colour = "black" if r.number == REFERENCE else ("crimson" if r.number == report.winner else "tab:blue")
        iv = r.interval
        ax.errorbar([r.compression], [iv.mean], yerr=[[iv.mean - iv.low], [iv.high - iv.mean]], fmt="o",
                    color=colour, capsize=3, label=None)
        if r.search_accuracy is not None and r.search_compression is not None:
            s = Interval.from_dict(r.search_ci) if r.search_ci else Interval.point(r.search_accuracy)
            ax.errorbar([r.search_compression], [s.mean], yerr=[[s.mean - s.low], [s.high - s.mean]], fmt="o",
                        mfc="none", color=colour, alpha=0.5, capsize=2)
        ax.annotate(r.label.replace("reference default", "reference"), (r.compression, iv.mean), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.plot([], [], "o", color="tab:blue", label="front config, validation split")
    ax.plot([], [], "o", mfc="none", color="tab:blue", alpha=0.5, label="same config, in the search")
    ax.plot([], [], "o", color="crimson", label="validation winner (exported)")
    ax.plot([], [], "o", color="black", label="reference default")
    ax.set_xlabel("compression (text tokens / visual tokens)")
    ax.set_ylabel(f"accuracy ({report.confidence:.0%} Wilson interval)")
    ax.set_title("validation of the Pareto front on the held-out split")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def build_evaluator(split: Mapping[str, Any], cache_dir: Path | None) -> Evaluator:
    return get_evaluator(split["name"], cache_dir=cache_dir, **dict(split.get("options") or {}))

"""What a search leaves behind: the best config, the Pareto front (CSV + plot), and the proposal log.

* ``best_config.json``: the best feasible config by score, in the reference's JSON shape with
  glyph's extension keys (the reference ignores keys it does not know). Fonts are named portably
  (a family name, or ``<package>:<path>`` for a font a package ships), so the file loads on any
  machine with that font; ``glyph config -c best_config.json --font-file`` writes the font's file
  path for the reference's ``word2png`` (reportlab needs a file).
* ``pareto.csv`` / ``trials.csv``: the front / every evaluated config, one knob per column.
* ``pareto.png``: accuracy against compression, coloured by generation, front marked.
* ``proposals.jsonl``: every proposal (LLM or classical) with its rationale and what repair did,
  appended live by whichever worker breeds.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glyph.render.config import RenderConfig
from glyph.search.selection import Scoring, TrialRecord, front_records, rank


class ProposalLog:
    """Append-only JSONL; one ``write`` per line (small lines in append mode interleave safely)."""

    def __init__(self, path: str | Path | None, **context: Any) -> None:
        self.path = Path(path) if path is not None else None
        self.context = context
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps({"time": round(time.time(), 3), "pid": os.getpid(), **self.context, **record},
                          ensure_ascii=False, default=str)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def best_record(records: Sequence[TrialRecord], scoring: Scoring) -> TrialRecord | None:
    """Best by score (the floor puts feasible configs first)."""
    ranked = rank(records, scoring)
    return ranked[0] if ranked else None


def reference_config(record: TrialRecord) -> RenderConfig:
    return RenderConfig.from_dict(record.config)


def write_best_config(record: TrialRecord, path: Path) -> Path:
    """The config JSON, fonts named portably, so it loads where the search did not run.

    A font no family name or package finds elsewhere (a file only this machine has) is copied into
    ``fonts/`` beside the config and named relative to it: never an absolute path of this machine."""
    from glyph.render.fonts import portable_font_name

    cfg = reference_config(record)
    updates: dict[str, Any] = {}
    main = portable_font_name(cfg.font_path)
    if Path(main).is_absolute():
        updates["font_path"] = str(_beside(Path(main), path.parent))
    fallbacks = [portable_font_name(f) for f in cfg.fallback_fonts or ()]
    if any(Path(f).is_absolute() for f in fallbacks):
        updates["fallback_fonts"] = tuple(str(_beside(Path(f), path.parent)) if Path(f).is_absolute() else f
                                          for f in fallbacks)
    (cfg.model_copy(update=updates) if updates else cfg).to_json(path)
    return path


def _beside(font: Path, folder: Path) -> Path:
    """Copy ``font`` into ``folder/fonts`` (once) and return the copy's path."""
    import shutil

    target = folder / "fonts" / font.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copyfile(font, target)
    return target.resolve()


def _rows(records: Sequence[TrialRecord], scoring: Scoring, front: set[int]) -> tuple[list[str], list[dict[str, Any]]]:
    knobs = sorted({k for r in records for k in r.values})
    head = ["trial", "generation", "origin", "accuracy", "compression", "score", "feasible", "pareto",
            "config_hash", *knobs, "rationale"]
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "trial": r.number, "generation": r.generation, "origin": r.origin, "accuracy": round(r.accuracy, 6),
            "compression": round(r.compression, 6), "score": round(scoring.score(r.accuracy, r.compression), 6),
            "feasible": scoring.feasible(r.accuracy), "pareto": r.number in front, "config_hash": r.config_hash,
            "rationale": r.rationale,
        }
        row.update({k: r.values.get(k, "") for k in knobs})
        rows.append(row)
    return head, rows


def write_csv(records: Sequence[TrialRecord], scoring: Scoring, path: Path, front: set[int]) -> Path:
    head, rows = _rows(records, scoring, front)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=head)
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_front(records: Sequence[TrialRecord], scoring: Scoring, path: Path, title: str = "") -> Path:
    """Accuracy (y) against compression (x); generations coloured, front stepped and ringed, best starred."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [r.compression for r in records]
    ys = [r.accuracy for r in records]
    gens = [r.generation for r in records]
    points = ax.scatter(xs, ys, c=gens, cmap="viridis", s=28, alpha=0.85, edgecolors="none",
                        vmin=min(gens, default=0), vmax=max(max(gens, default=0), 1))
    fig.colorbar(points, ax=ax, label="generation", ticks=sorted(set(gens)) if len(set(gens)) <= 12 else None)
    front = sorted(front_records(records), key=lambda r: r.compression)
    if front:
        ax.scatter([r.compression for r in front], [r.accuracy for r in front], s=90, facecolors="none",
                   edgecolors="crimson", linewidths=1.4, label=f"Pareto front ({len(front)})")
        ax.step([r.compression for r in front], [r.accuracy for r in front], where="pre", color="crimson", lw=1,
                alpha=0.7)
    ax.axhline(scoring.accuracy_floor, ls="--", color="gray", lw=1, label=f"accuracy floor {scoring.accuracy_floor}")
    best = best_record(records, scoring)
    if best is not None:
        ax.scatter([best.compression], [best.accuracy], marker="*", s=220, color="gold", edgecolors="black",
                   zorder=5, label=f"best score (trial {best.number})")
    ax.set_xlabel("compression (text tokens / visual tokens)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "rendering search")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def export(records: Sequence[TrialRecord], scoring: Scoring, out_dir: str | Path, title: str = "",
           winner: int | None = None) -> dict[str, Path]:
    """Write best_config.json, pareto.csv, trials.csv and pareto.png into ``out_dir``.

    ``winner`` (a trial number: the validation winner) is the best config when given; else the best
    by the in-search ranking."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if not records:
        return paths
    front = front_records(records)
    front_ids = {r.number for r in front}
    best = next((r for r in records if r.number == winner), None) if winner is not None else None
    best = best or best_record(records, scoring)
    if best is not None:
        paths["best_config"] = write_best_config(best, out / "best_config.json")
    paths["pareto_csv"] = write_csv(sorted(front, key=lambda r: -r.accuracy), scoring, out / "pareto.csv", front_ids)
    paths["trials_csv"] = write_csv(records, scoring, out / "trials.csv", front_ids)
    paths["plot"] = plot_front(records, scoring, out / "pareto.png", title)
    return paths

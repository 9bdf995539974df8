"""Sweep a grid of config values: compression and fidelity per point, and the Pareto front.

This is the picture a user wants before choosing a config: every point is one rendering of
the same text, x = compression (text tokens / visual tokens on one VLM), y = how much of the
text a reader gets back. Fidelity is measured on a few pages spread evenly over the document
(``fidelity_pages``), because OCR costs seconds per page while rendering costs milliseconds.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from glyph.measure.compression import measure_compression
from glyph.measure.fidelity import Fidelity, score_pages
from glyph.measure.pareto import pareto_front
from glyph.readers.base import Reader
from glyph.render.config import RenderConfig
from glyph.render.pages import RenderedPage
from glyph.tokens.text import TextTokenizer, get_tokenizer

DEFAULT_GRID: dict[str, list[Any]] = {"dpi": [60, 72, 96, 120], "font-size": [7, 9, 11]}


@dataclass
class SweepPoint:
    params: dict[str, Any]
    pages: int = 0
    text_tokens: int | None = None
    visual_tokens: int = 0
    ratio: float | None = None
    chars_per_visual_token: float = 0.0
    char_accuracy: float | None = None
    word_accuracy: float | None = None
    class_accuracy: dict[str, float | None] = field(default_factory=dict)
    pages_read: int = 0
    render_seconds: float = 0.0
    read_seconds: float = 0.0
    error: str | None = None  # an invalid combination of values: skipped, not fatal

    def row(self) -> dict[str, Any]:
        """A flat dict for CSV: params as columns, per-class accuracies as ``acc_<class>``."""
        data = {k: v for k, v in asdict(self).items() if k not in ("params", "class_accuracy")}
        data.update({f"acc_{k}": v for k, v in self.class_accuracy.items()})
        return {**self.params, **data}


def _number(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["dpi=72,96", "font-size=7:11:2"]`` -> ``{"dpi": [72, 96], "font-size": [7, 9, 11]}``.

    Values are comma lists or ``start:stop:step`` ranges (stop included); JSON scalars are
    parsed (``true``, ``9.5``), anything else stays a string.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ValueError(f"grid entry must look like key=v1,v2 or key=start:stop:step, got {spec!r}")
        if ":" in raw and "," not in raw and not raw.startswith("#"):
            parts = raw.split(":")
            if len(parts) != 3:
                raise ValueError(f"range for {key!r} must be start:stop:step, got {raw!r}")
            start, stop, step = (float(p) for p in parts)
            if step <= 0 or stop < start:
                raise ValueError(f"range for {key!r} needs step > 0 and stop >= start, got {raw!r}")
            n = math.floor((stop - start) / step + 1e-9) + 1
            values = [round(start + i * step, 6) for i in range(n)]
            grid[key] = [int(v) if float(v).is_integer() else v for v in values]
        else:
            grid[key] = [_number(v.strip()) for v in raw.split(",") if v.strip()]
        if not grid[key]:
            raise ValueError(f"grid entry {spec!r} has no values")
    return grid


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def spread(n_pages: int, k: int) -> list[int]:
    """``k`` page indices spread evenly over ``n_pages``, skipping a short last page when possible."""
    if n_pages <= 0 or k <= 0:
        return []
    usable = n_pages - 1 if n_pages > k else n_pages
    if k >= usable:
        return list(range(usable))
    return sorted({round(i * (usable - 1) / (k - 1)) for i in range(k)}) if k > 1 else [0]


def _config_for(base: RenderConfig, params: dict[str, Any]) -> RenderConfig:
    changes = dict(params)
    # a font-size axis without a line-height axis keeps the reference's leading (size + 1 pt)
    if "font-size" in changes and "line-height" not in changes and "line_height" not in changes:
        changes["line-height"] = float(changes["font-size"]) + 1
    return base.with_updates(**changes)


def run_sweep(
    text: str,
    base: RenderConfig,
    grid: dict[str, list[Any]],
    reader: Reader | None = None,
    vlm: str = "glm4v",
    tokenizer: str | TextTokenizer | None = "qwen",
    fidelity_pages: int = 2,
    on_point: Callable[[SweepPoint], None] | None = None,
) -> list[SweepPoint]:
    """Render the text at every grid point; read ``fidelity_pages`` pages of each with ``reader``."""
    tok = get_tokenizer(tokenizer) if tokenizer is not None else None
    points = []
    for params in grid_points(grid):
        point = SweepPoint(params=params)
        try:
            cfg = _config_for(base, params)
        except ValueError as exc:
            point.error = str(exc).splitlines()[0] if str(exc) else repr(exc)
            points.append(point)
            if on_point:
                on_point(point)
            continue
        report, pages = measure_compression(text, cfg, (vlm,), tok, keep_pages=reader is not None)
        cost = report.cost(vlm)
        point.pages, point.text_tokens = report.pages, report.text_tokens
        point.visual_tokens, point.ratio = cost.visual_tokens, cost.ratio
        point.chars_per_visual_token = cost.chars_per_visual_token
        point.render_seconds = report.render_seconds
        if reader is not None and pages:
            chosen: list[RenderedPage] = [pages[i] for i in spread(len(pages), fidelity_pages)]
            start = time.perf_counter()
            reads = reader.transcribe(chosen)
            point.read_seconds = time.perf_counter() - start
            fid, _ = score_pages([p.text for p in chosen], reads)
            _fill_fidelity(point, fid)
        points.append(point)
        if on_point:
            on_point(point)
    return points


def _fill_fidelity(point: SweepPoint, fid: Fidelity) -> None:
    point.char_accuracy = fid.char_accuracy
    point.word_accuracy = fid.word_accuracy
    point.class_accuracy = fid.class_accuracy()
    point.pages_read = fid.pages


def scored(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    return [p for p in points if p.error is None and p.ratio is not None and p.char_accuracy is not None]


def write_sweep(points: Sequence[SweepPoint], out_dir: Path) -> tuple[Path, Path]:
    """``sweep.csv`` (one row per point) and ``sweep.json`` (everything, front flagged)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    good = scored(points)
    front_ids = {id(good[i]) for i in pareto_front([(p.ratio, p.char_accuracy) for p in good])}  # type: ignore[misc]
    rows = [{**p.row(), "pareto": id(p) in front_ids} for p in points]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    csv_path, json_path = out_dir / "sweep.csv", out_dir / "sweep.json"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps([{**asdict(p), "pareto": id(p) in front_ids} for p in points], indent=2))
    return csv_path, json_path


def plot_sweep(points: Sequence[SweepPoint], path: Path, title: str = "", vlm: str = "glm4v") -> Path:
    """Fidelity against compression, one dot per config, the Pareto front drawn and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = scored(points)
    if not good:
        raise ValueError("no sweep point has both a compression ratio and a fidelity score to plot")
    xs = [p.ratio for p in good]
    ys = [100 * p.char_accuracy for p in good]  # type: ignore[operator]
    front = sorted(pareto_front(list(zip(xs, ys))), key=lambda i: xs[i])  # type: ignore[arg-type]  # drawn left to right
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    ax.scatter(xs, ys, s=28, color="#9aa5b1", label="config", zorder=2)
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "-o", color="#d1495b", ms=6, label="Pareto front", zorder=3)
    for i in front:
        label = ", ".join(f"{k}={v}" for k, v in good[i].params.items())
        ax.annotate(label, (xs[i], ys[i]), textcoords="offset points", xytext=(6, -10), fontsize=7)
    ax.set_xlabel(f"compression (text tokens / {vlm} visual tokens)")
    ax.set_ylabel("character accuracy read back (%)")
    ax.set_title(title or "Fidelity against compression")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

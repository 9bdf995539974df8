"""Mixture statistics of a CPT shard set: samples and tokens per task, theme and dpi band; pages per sample.

Computed from the manifest (what was actually built, not what the config asked for), written as
``stats.json`` and drawn as ``mixture.png`` beside the shards.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from glyph.render.batch import read_manifest

__all__ = ["mixture_stats", "plot_mixture", "write_stats"]

STATS = "stats.json"
PLOT = "mixture.png"


def mixture_stats(out_dir: str | Path) -> dict[str, Any]:
    """The statistics of the committed shards of ``out_dir`` (tokens counted for the first VLM family)."""
    lines = read_manifest(out_dir)
    samples = [s for line in lines for s in line.get("samples", [])]
    errors = [e for line in lines for e in line.get("errors", [])]
    family = next(iter(samples[0]["tokens"])) if samples else "glm4v"
    groups: dict[str, dict[str, dict[str, float]]] = {}
    for key in ("task", "theme", "dpi_band", "font_kind"):
        table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for s in samples:
            row = table[str(s[key])]
            row["samples"] += 1
            row["tokens"] += s["tokens"][family]
            row["visual_tokens"] += s["visual_tokens"][family]
            row["target_tokens"] += s["target_tokens"]
            row["pages"] += s["pages"]
        groups[key] = {k: {m: int(v) for m, v in row.items()} for k, row in sorted(table.items())}
    pages = Counter(s["pages"] for s in samples)
    timing: dict[str, float] = defaultdict(float)
    for line in lines:
        for k, v in line.get("timing", {}).items():
            timing[k] += v
    total_tokens = sum(s["tokens"][family] for s in samples)
    return {
        "family": family,
        "shards": len(lines),
        "records": len(samples),
        "failed": len(errors),
        "failures": Counter(e["error"].split(" (")[0][:80] for e in errors).most_common(10),
        "tokens": total_tokens,
        "visual_tokens": sum(s["visual_tokens"][family] for s in samples),
        "target_tokens": sum(s["target_tokens"] for s in samples),
        "pages": sum(pages.elements()),
        "pages_per_sample": {
            "mean": round(sum(pages.elements()) / max(1, len(samples)), 3),
            "histogram": {str(k): pages[k] for k in sorted(pages)},
        },
        "by_task": groups["task"],
        "by_theme": groups["theme"],
        "by_dpi_band": groups["dpi_band"],
        "by_font_kind": groups["font_kind"],
        "timing_seconds": {k: round(v, 3) for k, v in timing.items()},
    }


def plot_mixture(stats: dict[str, Any], out: str | Path, title: str | None = None) -> Path:
    """Four panels: samples and tokens per task, per theme, per dpi band; pages per sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    band_order = ["45-59", "60-71", "72-119", "normal", ">300"]
    for ax, key, label in zip(
        axes[:3], ("by_task", "by_theme", "by_dpi_band"), ("task", "theme", "dpi band")
    ):
        table = stats[key]
        names = (
            [b for b in band_order if b in table] + [b for b in table if b not in band_order]
            if key == "by_dpi_band"
            else list(table)
        )
        share_s = [table[n]["samples"] / max(1, stats["records"]) for n in names]
        share_t = [table[n]["tokens"] / max(1, stats["tokens"]) for n in names]
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], share_s, width=0.4, label="samples")
        ax.bar([i + 0.2 for i in x], share_t, width=0.4, label=f"tokens ({stats['family']})")
        ax.set_xticks(list(x), names, rotation=20)
        ax.set(title=f"by {label}", ylabel="share")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    hist = stats["pages_per_sample"]["histogram"]
    axes[3].bar([int(k) for k in hist], list(hist.values()), color="tab:gray")
    axes[3].set(
        title=f"pages per sample (mean {stats['pages_per_sample']['mean']:.2f})",
        xlabel="pages",
        ylabel="samples",
    )
    axes[3].grid(axis="y", alpha=0.3)
    fig.suptitle(
        title
        or f"CPT mixture: {stats['records']:,} records, {stats['tokens']:,} tokens, {stats['pages']:,} pages"
    )
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_stats(out_dir: str | Path) -> dict[str, Any]:
    """Write ``stats.json`` and ``mixture.png`` for ``out_dir``; returns the statistics."""
    out_dir = Path(out_dir)
    stats = mixture_stats(out_dir)
    (out_dir / STATS).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    if stats["records"]:
        plot_mixture(stats, out_dir / PLOT)
    return stats

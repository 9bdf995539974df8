"""Summarise the offline RULER run by dpi: a markdown table and a plot of accuracy and compression.

Reads what ``bash benchmarks/ruler_offline.sh`` wrote (one results folder per dpi) and writes
``benchmarks/results/ruler_offline/by_dpi.md`` and ``by_dpi.png``. The reader is ``ocr-extract``
(the default offline reader + rule-based extraction): a legibility bound, not a language model.
When ``benchmarks/results/ruler_offline_ppocr/`` is there (the same run of 2026-11-21, when ``ocr``
was PP-OCRv4, now ``ppocr``), its means are set beside the new ones, in the table and the plot.

    python benchmarks/ruler_offline_summary.py
"""

from __future__ import annotations

import statistics
from pathlib import Path

from glyph.eval.runner import Result, read_results

ROOT = Path("benchmarks/results/ruler_offline")
OLD = Path("benchmarks/results/ruler_offline_ppocr")  # the PP-OCRv4 run, kept for provenance
DPIS = (48, 60, 72, 96, 120)
TASKS = ("niah_single_2", "niah_single_3", "vt", "cwe")
LENGTHS = ("8k", "32k")

Table = dict[tuple[int, str], float]


def load(root: Path) -> dict[int, list[Result]]:
    return {dpi: read_results(root / f"dpi{dpi}" / "results.jsonl") for dpi in DPIS if (root / f"dpi{dpi}").is_dir()}


def means(rows: dict[int, list[Result]]) -> tuple[Table, Table, dict[tuple[int, str], dict[str, list[float]]]]:
    """Mean of the task means and mean compression per (dpi, length), and the scores by task."""
    acc: Table = {}
    comp: Table = {}
    scores: dict[tuple[int, str], dict[str, list[float]]] = {}
    for length in LENGTHS:
        for dpi in DPIS:
            rs = [r for r in rows.get(dpi, []) if r.bucket == length and not r.error]
            if not rs:
                continue
            by_task = {t: [r.score for r in rs if r.task == t] for t in TASKS}
            scores[dpi, length] = by_task
            acc[dpi, length] = statistics.mean(statistics.mean(v) for v in by_task.values() if v)
            comp[dpi, length] = statistics.mean(r.ratio for r in rs if r.ratio)
    return acc, comp, scores


def main() -> None:
    rows = load(ROOT)
    acc, comp, scores = means(rows)
    old_acc, _, _ = means(load(OLD)) if OLD.is_dir() else ({}, {}, {})
    revisions = sorted({r.reader_revision for rs in rows.values() for r in rs if r.reader_revision})
    table = [
        (
            "| dpi | length | niah numbers | niah UUIDs | vt | cwe | mean of tasks | PP-OCRv4 (2026-11-21) | samples "
            "| compression (GLM-4.1V) |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for length in LENGTHS:
        for dpi in DPIS:
            if (dpi, length) not in acc:
                continue
            by_task = scores[dpi, length]
            cells = [f"{100 * statistics.mean(v):.1f} ({len(v)})" if v else "-" for v in by_task.values()]
            old = f"{100 * old_acc[dpi, length]:.1f}" if (dpi, length) in old_acc else "-"
            n = sum(len(v) for v in by_task.values())
            table.append(
                f"| {dpi} | {length} | " + " | ".join(cells)
                + f" | **{100 * acc[dpi, length]:.1f}** | {old} | {n} | {comp[dpi, length]:.2f}x |"
            )
    text = "\n".join(
        [
            "# RULER with the offline reader (legibility bound, not a language model), by dpi",
            "",
            "Reference default config at dpi 48/60 (8K) and 72/96/120 (8K, 32K), seed 0; `bash "
            "benchmarks/ruler_offline.sh` then `python benchmarks/ruler_offline_summary.py`. Cells: score x 100 "
            "(samples). Reader: `ocr-extract`, the default `ocr` (glyphrec) plus rule-based extraction"
            + (f"; reader revision `{revisions[-1]}`" if revisions else "")
            + ". The PP-OCRv4 column is the mean of tasks of the same run made on 2026-11-21 when `ocr` was "
            "PP-OCRv4 (now `ppocr`; results in `../ruler_offline_ppocr/`).",
            "",
            *table,
            "",
            "![by dpi](by_dpi.png)",
            "",
        ]
    )
    (ROOT / "by_dpi.md").write_text(text)
    plot(acc, comp, old_acc, ROOT / "by_dpi.png")
    print(text)


def plot(acc: Table, comp: Table, old_acc: Table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for length, style in zip(LENGTHS, ("-o", "--s")):
        dpis = [d for d in DPIS if (d, length) in acc]
        left.plot(dpis, [100 * acc[d, length] for d in dpis], style, label=f"{length}, ocr (glyphrec)")
        right.plot(dpis, [comp[d, length] for d in dpis], style, label=length)
        old = [d for d in DPIS if (d, length) in old_acc]
        if old:
            left.plot(old, [100 * old_acc[d, length] for d in old], style, color="0.6", alpha=0.8,
                      label=f"{length}, PP-OCRv4 (11-21)")
    left.set(xlabel="dpi", ylabel="accuracy (mean of tasks, x100)", title="ocr-extract (legibility bound)")
    right.set(xlabel="dpi", ylabel="compression (text / GLM-4.1V visual tokens)", title="compression")
    for ax in (left, right):
        ax.set_xticks(DPIS)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()

"""Summarise the offline RULER run by dpi: a markdown table and a plot of accuracy and compression.

Reads what ``bash benchmarks/ruler_offline.sh`` wrote (one results folder per dpi) and writes
``benchmarks/results/ruler_offline/by_dpi.md`` and ``by_dpi.png``. The reader is ``ocr-extract``
(offline OCR + rule-based extraction): a legibility bound, not a language model.

    python benchmarks/ruler_offline_summary.py
"""

from __future__ import annotations

import statistics
from pathlib import Path

from glyph.eval.runner import read_results

ROOT = Path("benchmarks/results/ruler_offline")
DPIS = (48, 60, 72, 96, 120)
TASKS = ("niah_single_2", "niah_single_3", "vt", "cwe")
LENGTHS = ("8k", "32k")


def main() -> None:
    rows = {dpi: read_results(ROOT / f"dpi{dpi}" / "results.jsonl") for dpi in DPIS if (ROOT / f"dpi{dpi}").is_dir()}
    table = [
        "| dpi | length | niah numbers | niah UUIDs | vt | cwe | mean of tasks | samples | compression (GLM-4.1V) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    acc: dict[tuple[int, str], float] = {}
    comp: dict[tuple[int, str], float] = {}
    for length in LENGTHS:
        for dpi in DPIS:
            rs = [r for r in rows.get(dpi, []) if r.bucket == length and not r.error]
            if not rs:
                continue
            by_task = {t: [r.score for r in rs if r.task == t] for t in TASKS}
            cells = [f"{100 * statistics.mean(v):.1f} ({len(v)})" if v else "-" for v in by_task.values()]
            acc[dpi, length] = statistics.mean(statistics.mean(v) for v in by_task.values() if v)
            comp[dpi, length] = statistics.mean(r.ratio for r in rs)
            table.append(
                f"| {dpi} | {length} | " + " | ".join(cells)
                + f" | {100 * acc[dpi, length]:.1f} | {len(rs)} | {comp[dpi, length]:.2f}x |"
            )
    text = "\n".join(
        [
            "# RULER with the offline reader (legibility bound, not a language model), by dpi",
            "",
            "Reference default config at dpi 48/60 (8K) and 72/96/120 (8K, 32K); `bash benchmarks/ruler_offline.sh` then "
            "`python benchmarks/ruler_offline_summary.py`. Cells: score x 100 (samples).",
            "",
            *table,
            "",
            "![by dpi](by_dpi.png)",
            "",
        ]
    )
    (ROOT / "by_dpi.md").write_text(text)
    plot(acc, comp, ROOT / "by_dpi.png")
    print(text)


def plot(acc: dict, comp: dict, path: Path) -> None:  # noqa: ANN001
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for length, style in zip(LENGTHS, ("-o", "--s")):
        dpis = [d for d in DPIS if (d, length) in acc]
        left.plot(dpis, [100 * acc[d, length] for d in dpis], style, label=length)
        right.plot(dpis, [comp[d, length] for d in dpis], style, label=length)
    left.set(xlabel="dpi", ylabel="accuracy (mean of tasks, x100)", title="ocr-extract (legibility bound)")
    right.set(xlabel="dpi", ylabel="compression (text / GLM-4.1V visual tokens)", title="compression")
    for ax in (left, right):
        ax.set_xticks(DPIS)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()

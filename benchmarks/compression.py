"""Compression and fidelity of the reference default config at dpi 72, 96 and 120.

Compression: texts of 8K, 32K and 128K Qwen tokens cut from the bundled Paul Graham essays,
rendered with the reference default config (595x842 pt, 9/10 pt DejaVu Sans, LEFT, newlines
kept, auto-crop) at each dpi; visual tokens by the GLM-4.1V and Qwen3-VL rules (wrapper
tokens included); ratio = text tokens / visual tokens.

Fidelity: ``--pages`` full pages spread over the 128K text at each dpi, read back by the
PP-OCRv4 line reader (``ppocr``: layout-aware PP-OCRv4 line recognition, one thread; the default
``ocr`` reader is trained on most of these essays, so it is measured on held-out text by
``benchmarks/reader_speed.py`` instead) and by Tesseract
(``--psm 6``, 2x upscale below 12 px/em, OMP_THREAD_LIMIT=1), plus the peer the issue names,
RapidOCR's whole-page pipeline with default settings, at dpi 72. Character accuracy is
1 - CER on whitespace-normalised text; seconds are per page on one core.

    python benchmarks/compression.py [--pages 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

from glyph.data import text_of_tokens
from glyph.measure import compression_from_sizes, score_pages
from glyph.measure.sweep import spread
from glyph.readers import ReaderUnavailableError, get_reader
from glyph.render import render_pages
from glyph.render.config import reference_default
from glyph.tokens import get_tokenizer

LENGTHS = {"8K": 8_192, "32K": 32_768, "128K": 131_072}
DPIS = (72, 96, 120)
VLMS = ("glm4v", "qwen3vl")


def read_pages(reader_name: str, pages: list) -> dict:  # noqa: ANN001
    try:
        reader = get_reader(reader_name)
    except ReaderUnavailableError as exc:
        return {"reader": reader_name, "error": str(exc)}
    start = time.perf_counter()
    reads = reader.transcribe(pages)
    seconds = time.perf_counter() - start
    fid, per_page = score_pages([p.text for p in pages], reads)
    return {
        "reader": reader_name,
        "pages": len(pages),
        "char_accuracy": fid.char_accuracy,
        "word_accuracy": fid.word_accuracy,
        "class_accuracy": fid.class_accuracy(),
        "per_page_char_accuracy": [f.char_accuracy for f in per_page],
        "seconds_per_page": seconds / len(pages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=3, help="pages read per dpi and reader")
    parser.add_argument("--page-ocr-pages", type=int, default=2, help="pages for whole-page RapidOCR (slow)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    tok = get_tokenizer("qwen")
    texts = {name: text_of_tokens(n) for name, n in LENGTHS.items()}
    compression = []
    fidelity = []
    for dpi in DPIS:
        cfg = reference_default().with_updates(dpi=dpi)
        for name, text in texts.items():
            start = time.perf_counter()
            pages = list(render_pages(text, cfg))
            seconds = time.perf_counter() - start
            report = compression_from_sizes(text, [p.image.size for p in pages], cfg, VLMS, tok, seconds)
            row = {"dpi": dpi, "length": name, "text_tokens": report.text_tokens, "pages": report.pages}
            for vlm in VLMS:
                cost = report.cost(vlm)
                row[f"{vlm}_visual_tokens"] = cost.visual_tokens
                row[f"{vlm}_ratio"] = cost.ratio
            compression.append(row)
            print(json.dumps(row), flush=True)
            if name == "128K":
                chosen = [pages[i] for i in spread(len(pages), args.pages)]
                for reader in ("ppocr", "tesseract"):
                    result = {"dpi": dpi, **read_pages(reader, chosen)}
                    fidelity.append(result)
                    print(json.dumps(result), flush=True)
                if dpi == 72:
                    few = chosen[: args.page_ocr_pages]
                    result = {"dpi": dpi, **read_pages("rapidocr-page", few)}
                    fidelity.append(result)
                    print(json.dumps(result), flush=True)
    meta = {
        "date": dt.date.today().isoformat(),
        "command": "python benchmarks/compression.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compression.json").write_text(
        json.dumps({"meta": meta, "compression": compression, "fidelity": fidelity}, indent=2)
    )
    (args.out / "compression.md").write_text(markdown(meta, compression, fidelity))
    plot(compression, fidelity, args.out / "compression.png")
    print((args.out / "compression.md").read_text())


def markdown(meta: dict, compression: list[dict], fidelity: list[dict]) -> str:
    lines = [
        "# Compression and fidelity, reference default config",
        "",
        f"{meta['date']}, `{meta['command'].strip()}`, {meta['machine']}.",
        "",
        "| dpi | text | text tokens | pages | GLM-4.1V visual | GLM-4.1V ratio | Qwen3-VL visual | Qwen3-VL ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in compression:
        lines.append(
            f"| {r['dpi']} | {r['length']} | {r['text_tokens']:,} | {r['pages']} | {r['glm4v_visual_tokens']:,} | "
            f"{r['glm4v_ratio']:.2f}x | {r['qwen3vl_visual_tokens']:,} | {r['qwen3vl_ratio']:.2f}x |"
        )
    lines += [
        "",
        "Fidelity on full pages of the 128K text (character accuracy = 1 - CER, whitespace normalised; "
        "one core):",
        "",
        "| dpi | reader | pages | char accuracy | word accuracy | punct | digits | s / page |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in fidelity:
        if "error" in r:
            lines.append(f"| {r['dpi']} | {r['reader']} | - | unavailable: {r['error']} | | | | |")
            continue
        ca = r["class_accuracy"]
        fmt = lambda v: f"{100 * v:.1f}%" if v is not None else "-"  # noqa: E731
        lines.append(
            f"| {r['dpi']} | {r['reader']} | {r['pages']} | {100 * r['char_accuracy']:.2f}% | "
            f"{100 * r['word_accuracy']:.2f}% | {fmt(ca.get('punct'))} | {fmt(ca.get('digit'))} | "
            f"{r['seconds_per_page']:.1f} |"
        )
    ocr = {r["dpi"]: r for r in fidelity if r["reader"] == "ppocr" and "error" not in r}
    page = [r for r in fidelity if r["reader"] == "rapidocr-page" and "error" not in r]
    if page and 72 in ocr:
        p, o = page[0], ocr[72]
        lines += [
            "",
            f"Layout-aware line reader vs whole-page RapidOCR at dpi 72: {100 * o['char_accuracy']:.2f}% vs "
            f"{100 * p['char_accuracy']:.2f}% characters, {p['seconds_per_page'] / o['seconds_per_page']:.1f}x "
            "faster per page.",
        ]
    lines += ["", "![compression and fidelity](compression.png)", ""]
    return "\n".join(lines)


def plot(compression: list[dict], fidelity: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    for vlm, style in (("glm4v", "-o"), ("qwen3vl", "--s")):
        for length in LENGTHS:
            rows = [r for r in compression if r["length"] == length]
            left.plot([r["dpi"] for r in rows], [r[f"{vlm}_ratio"] for r in rows], style, label=f"{vlm}, {length}")
    left.set_xlabel("dpi")
    left.set_ylabel("compression (text tokens / visual tokens)")
    left.set_title("Compression, reference default config")
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    for reader, style in (("ppocr", "-o"), ("tesseract", "--s"), ("rapidocr-page", "x")):
        rows = [r for r in fidelity if r["reader"] == reader and "error" not in r]
        if rows:
            right.plot([r["dpi"] for r in rows], [100 * r["char_accuracy"] for r in rows], style, label=reader, ms=8)
    right.set_xlabel("dpi")
    right.set_ylabel("character accuracy (%)")
    right.set_title("Read back from the pixels")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()

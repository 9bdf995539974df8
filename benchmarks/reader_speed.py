"""Offline readers side by side on the same pages: speed, characters, needles, confusions, layout-free.

Pages (all text held out from the compact recogniser's training: every fifth essay and
Debian's licence texts, see ``glyph.train.recognizer.data``):

* speed and characters: ``--pages`` full pages of held-out prose at the reference default
  config (9 pt DejaVu Sans on 10 pt, dpi 72; ~80 lines a page);
* needles: RULER-like pages, held-out prose with a needle sentence ("The special magic uuid
  for <key> is <value>.", the prompts' template) after every ``--every`` sentences, UUIDs and
  7-digit numbers alternating, at dpi 72, 96, 120 and 150; a needle counts as read back when
  ``glyph.eval.extract.extract_niah`` finds exactly its value after its key in the transcript;
* layout-free: reference default with line height font size -3 .. +3 pt and margins 0/10/40 pt,
  read by ``ocr`` (the layout's line boxes) and ``ocr-pixels`` (lines found from the pixels).

Per reader: seconds per page on one core (process pinned to one CPU, one thread; CPU and
wall time) and on two (``workers=2`` for the line readers, two pages at a time otherwise),
character and word accuracy, needle read-back per dpi, and the most frequent confusion pairs
(``glyph.measure.confusions``).

    python benchmarks/reader_speed.py [--pages 4] [--needle-pages 6] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from glyph.eval.extract import extract_niah
from glyph.eval.prompts import fill, load_prompts
from glyph.eval.ruler import random_value
from glyph.measure import confusions, score_pages
from glyph.readers import ReaderUnavailableError, get_reader
from glyph.readers.lines import find_lines
from glyph.render import render_pages
from glyph.render.config import reference_default
from glyph.train.recognizer.data import prose

READERS = ("ocr", "ocr-pixels", "ppocr", "rapidocr-page", "tesseract")
PARALLEL_OPTION = {"ocr": {"workers": 2}, "ocr-pixels": {"workers": 2}, "ppocr": {"workers": 2}}
NEEDLE_DPIS = (72, 96, 120, 150)
LINE_OFFSETS = (-3, -2, -1, 0, 1, 2, 3)
MARGINS = (0, 10, 40)


def heldout_prose() -> str:
    return "\n\n".join(prose("heldout"))


def needle_text(every: int, seed: int = 13) -> tuple[str, list[tuple[str, str, str]]]:
    """Held-out prose with a needle after every ``every`` sentences; (key, kind, value) of each."""
    import random

    rng = random.Random(seed)
    template = load_prompts()["ruler"]["niah"]["needle"]
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(heldout_prose().split()))
    out, needles, keys = [], [], set()
    for i, sentence in enumerate(sentences[: 60 * every * 4]):
        out.append(sentence)
        if i % every == every - 1:
            kind = ("uuids", "numbers")[len(needles) % 2]
            key = random_value("words", rng)
            while key in keys:
                key = random_value("words", rng)
            keys.add(key)
            value = random_value(kind, rng)
            out.append(fill(template, kind={"uuids": "uuid", "numbers": "number"}[kind], key=key, value=value))
            needles.append((key, kind, value))
    return " ".join(out), needles


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime  # tesseract runs as a child


def timed(fn: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - wall, cpu_seconds() - cpu


def make_reader(name: str, two_cores: bool) -> Any:
    options = {"cache_lines": 0} if name in PARALLEL_OPTION else {}
    if two_cores:
        options |= PARALLEL_OPTION.get(name, {})
    return get_reader(name, **options)


def transcribe(reader: Any, pages: list, two_cores: bool, name: str) -> list[str]:
    if two_cores and name not in PARALLEL_OPTION:
        with ThreadPoolExecutor(2) as pool:
            return [r for part in pool.map(lambda p: reader.transcribe([p]), pages) for r in part]
    return reader.transcribe(pages)


def needle_readback(reader: Any, pages: list, needles: list[tuple[str, str, str]]) -> dict[str, Any]:
    transcript = "\n".join(reader.transcribe(pages))
    drawn = "\n".join(p.text for p in pages)
    shown = [n for n in needles if n[2] in " ".join(drawn.split())]  # needles on the pages read
    got = Counter()
    total = Counter()
    misses = []
    for key, kind, value in shown:
        total[kind] += 1
        read = extract_niah(transcript, [key], kind)
        if read == value:
            got[kind] += 1
        elif len(misses) < 8:
            misses.append({"key": key, "value": value, "read": read})
    return {
        "needles": sum(total.values()),
        "read_back": sum(got.values()) / max(1, sum(total.values())),
        "by_kind": {k: got[k] / total[k] for k in total},
        "misses": misses,
    }


def run_reader(name: str, speed_pages: list, needle_sets: dict[int, list], needles: list) -> dict[str, Any]:
    row: dict[str, Any] = {"reader": name}
    try:
        reader = make_reader(name, two_cores=False)
    except ReaderUnavailableError as exc:
        return {"reader": name, "error": str(exc)}
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})  # one core: the process may run on one CPU only
    try:
        reads, wall, cpu = timed(lambda: reader.transcribe(speed_pages))
    finally:
        os.sched_setaffinity(0, cpus)
    fid, _ = score_pages([p.text for p in speed_pages], reads)
    pairs = sum((confusions(p.text, r) for p, r in zip(speed_pages, reads)), Counter())
    row |= {
        "pages": len(speed_pages),
        "lines": sum(len(p.lines) for p in speed_pages),
        "one_core": {"wall_per_page": wall / len(speed_pages), "cpu_per_page": cpu / len(speed_pages)},
        "char_accuracy": fid.char_accuracy,
        "word_accuracy": fid.word_accuracy,
        "class_accuracy": fid.class_accuracy(),
        "confusions": [[a, b, n] for (a, b), n in pairs.most_common(12)],
    }
    print(json.dumps({k: row[k] for k in ("reader", "one_core", "char_accuracy")}), flush=True)
    reader.close()
    if len(cpus) >= 2:
        reader2 = make_reader(name, two_cores=True)
        _, wall, cpu = timed(lambda: transcribe(reader2, speed_pages, True, name))
        row["two_cores"] = {"wall_per_page": wall / len(speed_pages), "cpu_per_page": cpu / len(speed_pages)}
        reader2.close()
    reader = get_reader(name)  # needles: the reader as users get it (line cache on)
    row["needles"] = {}
    for dpi, pages in needle_sets.items():
        row["needles"][str(dpi)] = needle_readback(reader, pages, needles)
        print(json.dumps({"reader": name, "dpi": dpi, **{k: v for k, v in row["needles"][str(dpi)].items()
                                                           if k != "misses"}}), flush=True)
    reader.close()
    return row


def layout_free(text: str, pages_per_point: int) -> list[dict[str, Any]]:
    """Line-box vs pixel line finding across line heights and margins (reference default otherwise)."""
    layout, pixels = get_reader("ocr"), get_reader("ocr-pixels")
    rows = []
    base = reference_default()
    for margin in MARGINS:
        for offset in LINE_OFFSETS:
            cfg = base.with_updates(**{"line-height": base.font_size + offset, "margin-x": margin, "margin-y": margin})
            pages = list(render_pages(text, cfg))[:pages_per_point]
            truths = [p.text for p in pages]
            a, _ = score_pages(truths, layout.transcribe(pages))
            b, _ = score_pages(truths, pixels.transcribe(pages))
            found = sum(len(find_lines(np.asarray(p.image.convert("L")))) for p in pages)
            row = {"margin": margin, "line_height": cfg.line_height, "offset": offset,
                   "lines": sum(len(p.lines) for p in pages), "lines_found": found,
                   "layout_char_accuracy": a.char_accuracy, "pixels_char_accuracy": b.char_accuracy}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=4, help="reference-default pages for speed and characters")
    parser.add_argument("--needle-pages", type=int, default=6, help="needle pages per dpi")
    parser.add_argument("--every", type=int, default=3, help="a needle after every N sentences")
    parser.add_argument("--layout-pages", type=int, default=2, help="pages per line-height/margin point")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--layout-only", action="store_true",
                        help="re-measure only 'line boxes vs pixels' (after a line finder change); the readers' "
                        "rows are kept from the results file, and the section says when it was re-measured")
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    load_before = os.getloadavg()
    started = time.time()
    text = heldout_prose()
    if args.layout_only:
        previous = json.loads((args.out / "reader_speed.json").read_text())
        sweep = layout_free(text, args.layout_pages)
        meta = {**previous["meta"], "layout_free": {
            "date": dt.datetime.now().isoformat(timespec="minutes"),
            "command": "python benchmarks/reader_speed.py " + " ".join(sys.argv[1:]),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }}
        write(args.out, meta, previous["readers"], sweep)
        return
    cfg = reference_default()
    speed_pages = list(render_pages(text, cfg))[1 : 1 + args.pages]  # full pages (the first may be short)
    ntext, needles = needle_text(args.every)
    needle_sets = {dpi: list(render_pages(ntext, cfg.with_updates(dpi=dpi)))[: args.needle_pages]
                   for dpi in NEEDLE_DPIS}
    readers = [run_reader(name, speed_pages, needle_sets, needles) for name in args.readers.split(",")]
    sweep = layout_free(text, args.layout_pages)
    meta = {
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "command": "python benchmarks/reader_speed.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.time() - started),
    }
    write(args.out, meta, readers, sweep)


def write(out: Path, meta: dict, readers: list[dict], sweep: list[dict]) -> None:
    """The results file, its markdown and its figure."""
    options_file = out / "reader_options.json"
    options = json.loads(options_file.read_text()) if options_file.is_file() else None
    out.mkdir(parents=True, exist_ok=True)
    (out / "reader_speed.json").write_text(
        json.dumps({"meta": meta, "readers": readers, "layout_free": sweep}, indent=2) + "\n"
    )
    (out / "reader_speed.md").write_text(markdown(meta, readers, sweep, options))
    plot(readers, sweep, out / "reader_speed.png")
    print((out / "reader_speed.md").read_text())


def _pct(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def markdown(meta: dict, readers: list[dict], sweep: list[dict], options: dict | None) -> str:
    lines = [
        "# Offline readers: speed, accuracy, needles, confusions",
        "",
        (f"{meta['date']}, `{meta['command'].strip()}`, {meta['machine']}; load average (1/5/15 min) "
         f"{meta['load_before']} before, {meta['load_after']} after ({meta['seconds']} s). All text is held out "
         "from the compact recogniser's training."),
        "",
        "## Speed and characters (reference default pages: 9 pt DejaVu Sans, dpi 72)",
        "",
        ("| reader | pages (lines) | 1 core: CPU s/page | 1 core: wall s/page | 2 cores: CPU s/page "
         "| 2 cores: wall s/page | char accuracy | word accuracy | digits | rare strings |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in readers:
        if "error" in r:
            lines.append(f"| {r['reader']} | unavailable: {r['error']} | | | | | | | | |")
            continue
        one, two = r["one_core"], r.get("two_cores", {})
        ca = r["class_accuracy"]
        lines.append(
            f"| `{r['reader']}` | {r['pages']} ({r['lines']}) | {one['cpu_per_page']:.2f} | {one['wall_per_page']:.2f} | "
            f"{two.get('cpu_per_page', float('nan')):.2f} | {two.get('wall_per_page', float('nan')):.2f} | "
            f"{_pct(r['char_accuracy'])} | {_pct(r['word_accuracy'])} | {_pct(ca.get('digit'), 1)} | "
            f"{_pct(ca.get('rare'), 1)} |"
        )
    lines += [
        "",
        "## Needle read-back (RULER-like pages: UUIDs and 7-digit numbers in held-out prose)",
        "",
        "Exact value extracted after its key by `glyph.eval.extract.extract_niah`; needles on the pages read.",
        "",
        "| reader | " + " | ".join(f"dpi {d}" for d in NEEDLE_DPIS) + " |",
        "|---|" + "---:|" * len(NEEDLE_DPIS),
    ]
    for r in readers:
        if "error" in r:
            continue
        cells = []
        for d in NEEDLE_DPIS:
            n = r["needles"][str(d)]
            kinds = n["by_kind"]
            cells.append(f"{_pct(n['read_back'], 1)} of {n['needles']} (UUID {_pct(kinds.get('uuids'), 0)}, "
                         f"number {_pct(kinds.get('numbers'), 0)})")
        lines.append(f"| `{r['reader']}` | " + " | ".join(cells) + " |")
    lines += ["", "## Confusion pairs (drawn -> read, count; speed pages)", "",
              "| reader | most frequent confusions |", "|---|---|"]
    for r in readers:
        if "error" in r:
            continue
        pairs = ", ".join(f"`{a or '∅'}`→`{b or '∅'}` {n}" for a, b, n in r["confusions"])
        lines.append(f"| `{r['reader']}` | {pairs or 'none'} |")
    lines += [
        "",
        "## Line boxes vs lines found from the pixels",
        "",
        ("`ocr` crops the boxes the layout knows; `ocr-pixels` finds the lines from the image "
         "(`glyph.readers.lines.find_lines`) with the same recogniser. Reference default, 9 pt font, "
         "line height and margins varied."),
        *([(f"Re-measured {lf['date']} after the line finder changed (`{lf['command'].strip()}`, load average "
            f"{lf['load_before']} before, {lf['load_after']} after); the sections above are from {meta['date']}.")]
          if (lf := meta.get("layout_free")) else []),
        "",
        "| margin (pt) | line height (pt) | lines drawn / found | line boxes: char accuracy | from pixels: char accuracy |",
        "|---:|---:|---:|---:|---:|",
    ]
    for s in sweep:
        lines.append(f"| {s['margin']} | {s['line_height']:g} | {s['lines']} / {s['lines_found']} | "
                     f"{_pct(s['layout_char_accuracy'])} | {_pct(s['pixels_char_accuracy'])} |")
    if options:
        lines += ["", "## Decision record: where PP-OCRv4's time goes and what each option buys", "",
                  options.get("summary", ""), "",
                  f"`{options['meta']['command']}`, {options['meta']['date']}, load {options['meta']['load']}.", "",
                  "| option | CPU s/page (1 thread) | wall s/page | char accuracy | word accuracy |",
                  "|---|---:|---:|---:|---:|"]
        for o in options["options"]:
            lines.append(f"| {o['option']} | {o['cpu_per_page']:.2f} | {o['wall_per_page']:.2f} | "
                         f"{_pct(o['char_accuracy'])} | {_pct(o['word_accuracy'])} |")
    lines += ["", "![readers](reader_speed.png)", ""]
    return "\n".join(lines)


def plot(readers: list[dict], sweep: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in readers if "error" not in r]
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(15, 4.2), dpi=110)
    for r in ok:
        left.scatter(r["one_core"]["cpu_per_page"], 100 * r["char_accuracy"], s=50)
        left.annotate(r["reader"], (r["one_core"]["cpu_per_page"], 100 * r["char_accuracy"]), fontsize=8,
                      xytext=(4, 4), textcoords="offset points")
    left.set_xscale("log")
    left.set_xlabel("CPU seconds per 80-line page, one core")
    left.set_ylabel("character accuracy (%)")
    left.set_title("Speed and accuracy, 9 pt at dpi 72")
    left.grid(alpha=0.3)
    for r in ok:
        mid.plot(NEEDLE_DPIS, [100 * r["needles"][str(d)]["read_back"] for d in NEEDLE_DPIS], "o-", label=r["reader"])
    mid.set_xlabel("dpi")
    mid.set_ylabel("needles read back exactly (%)")
    mid.set_title("UUID and 7-digit needles")
    mid.grid(alpha=0.3)
    mid.legend(fontsize=7)
    for margin, style in zip(MARGINS, ("-", "--", ":")):
        rows = [s for s in sweep if s["margin"] == margin]
        xs = [s["line_height"] for s in rows]
        right.plot(xs, [100 * s["layout_char_accuracy"] for s in rows], "o" + style, color="tab:blue",
                   label=f"line boxes, margin {margin}")
        right.plot(xs, [100 * s["pixels_char_accuracy"] for s in rows], "s" + style, color="tab:orange",
                   label=f"from pixels, margin {margin}")
    right.axvline(9, color="gray", lw=0.8)
    right.set_xlabel("line height (pt), 9 pt font")
    right.set_ylabel("character accuracy (%)")
    right.set_title("Layout boxes vs layout-free reading")
    right.grid(alpha=0.3)
    right.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()

"""Render speed: glyph's renderer against the reference pipeline (reportlab -> PDF -> poppler), same run.

Texts of 8K, 32K and 128K Qwen tokens cut from the bundled Paul Graham essays are rendered
with the reference default config (595x842 pt, dpi 72, 9/10 pt, LEFT, auto-crop; DejaVu
Sans in place of Verdana, which cannot ship) both ways in one process, single-threaded:
pages in memory, and pages written as PNG files. Each measurement is repeated (reference and
glyph alternating) and the best time of each is kept, so a busy machine skews the ratio less.
Then a ~1M-token text (the essays repeated) is rendered in memory by glyph alone, in a fresh
process to read its peak RSS.

    python benchmarks/render_speed.py [--repeat 3] [--out benchmarks/results/render_speed.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from glyph.data import text_of_tokens
from glyph.render.config import reference_default
from glyph.render.layout import iter_layout
from glyph.render.raster import rasterizer_for, save_png
from glyph.render.reference import reference_available, reference_render
from glyph.tokens import get_tokenizer


def ours(text: str, cfg, out_dir: Path | None) -> tuple[float, int]:
    start = time.perf_counter()
    raster = rasterizer_for(cfg)  # a long-running process keeps its glyph atlas
    n = 0
    for page in iter_layout(text, cfg):
        image = raster.render(page)
        if out_dir is not None:
            save_png(image, out_dir / f"page_{page.index + 1:03d}.png")
        n += 1
    return time.perf_counter() - start, n


def reference(text: str, cfg, out_dir: Path | None) -> tuple[float, int]:
    start = time.perf_counter()
    result = reference_render(text, cfg)
    if out_dir is not None:  # the reference saves each page with PIL's default PNG settings
        for i, image in enumerate(result.pages, start=1):
            image.save(out_dir / f"page_{i:03d}.png", "PNG")
    return time.perf_counter() - start, len(result.pages)


def million_token_run(n_tokens: int) -> dict:
    """Run in a child process so its peak RSS is the renderer's alone.

    The peak is the child's own VmHWM: Linux folds the parent's peak RSS at fork into the child's
    ``ru_maxrss`` across exec, so that would report the (big) benchmark process instead.
    """
    code = (
        "import json,resource,time,sys\n"
        "def peak_mb():\n"
        "    try:\n"
        "        with open('/proc/self/status') as f:\n"
        "            return next(int(l.split()[1]) / 1024 for l in f if l.startswith('VmHWM:'))\n"
        "    except (OSError, StopIteration):\n"
        "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "from glyph.render.config import reference_default;"
        "from glyph.data import demo_text;"
        "from glyph.render.layout import iter_layout;"
        "from glyph.render.raster import PageRasterizer;"
        f"text=demo_text(repeat_to={n_tokens * 43 // 10});"  # ~4.3 chars per Qwen token on these essays
        "cfg=reference_default();r=PageRasterizer(cfg);t=time.perf_counter();n=0\n"
        "for p in iter_layout(text,cfg): r.render(p); n+=1\n"
        "s=time.perf_counter()-t;"
        "print(json.dumps({'chars':len(text),'pages':n,'seconds':s,"
        "'peak_rss_mb':peak_mb()}))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/render_speed.md"))
    parser.add_argument("--lengths", default="8000,32000,128000")
    parser.add_argument(
        "--million", type=int, default=1_000_000, help="tokens for the big in-memory run (0: skip)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each measurement; the best time counts"
    )
    args = parser.parse_args()
    why_not = reference_available()
    if why_not:
        sys.exit(f"the reference pipeline cannot run: {why_not}")
    cfg = reference_default()
    tok = get_tokenizer("qwen")
    rows = []
    for n_tokens in [int(x) for x in args.lengths.split(",")]:
        text = text_of_tokens(n_tokens)
        ours(text[:2000], cfg, None)  # load fonts once, as a long-running process would have
        reference(text[:2000], cfg, None)
        for mode in ("memory", "png"):
            t_ref = t_our = float("inf")
            for _ in range(max(1, args.repeat)):
                with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                    dt_ref, p_ref = reference(text, cfg, Path(a) if mode == "png" else None)
                    dt_our, p_our = ours(text, cfg, Path(b) if mode == "png" else None)
                    t_ref, t_our = min(t_ref, dt_ref), min(t_our, dt_our)
                    bytes_ref, bytes_our = (sum(f.stat().st_size for f in Path(d).iterdir()) for d in (a, b))
            rows.append(
                {
                    "tokens": tok.count(text),
                    "chars": len(text),
                    "mode": mode,
                    "repeat": max(1, args.repeat),
                    "pages_ref": p_ref,
                    "pages_ours": p_our,
                    "ref_ms_per_page": 1e3 * t_ref / p_ref,
                    "ours_ms_per_page": 1e3 * t_our / p_our,
                    "ref_pages_s": p_ref / t_ref,
                    "ours_pages_s": p_our / t_our,
                    "ours_chars_s": len(text) / t_our,
                    "ref_chars_s": len(text) / t_ref,
                    "speedup": t_ref / t_our,
                }
            )
            if mode == "png":
                rows[-1]["ref_png_kib_per_page"] = bytes_ref / 1024 / p_ref
                rows[-1]["ours_png_kib_per_page"] = bytes_our / 1024 / p_our
            r = rows[-1]
            print(
                f"{r['tokens']:>7} tok {mode:>6}: reference {r['ref_pages_s']:7.1f} pages/s, "
                f"glyph {r['ours_pages_s']:7.1f} pages/s, {r['ours_chars_s'] / 1e6:.2f} M chars/s -> "
                f"{r['speedup']:.1f}x (pages {p_ref} vs {p_our})"
                + (
                    f"; PNG {r['ref_png_kib_per_page']:.0f} vs {r['ours_png_kib_per_page']:.0f} KiB/page"
                    if mode == "png"
                    else ""
                ),
                flush=True,
            )
    big = million_token_run(args.million) if args.million else None
    if big:
        print(
            f"~{args.million:,} tokens ({big['chars']:,} chars): {big['pages']} pages in memory in "
            f"{big['seconds']:.2f} s, peak RSS {big['peak_rss_mb']:.0f} MB"
        )
    write_report(args.out, rows, big, args.repeat)


def write_report(path: Path, rows: list[dict], big: dict | None, repeat: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Render speed: glyph vs the reference pipeline (reportlab + poppler)",
        "",
        (
            f"- date: {dt.date.today().isoformat()}; machine: {platform.processor() or platform.machine()}, "
            f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}; single process"
        ),
        (
            f"- command: `python benchmarks/render_speed.py --repeat {repeat}` (best of {repeat} runs each, "
            "reference and glyph alternating)"
        ),
        "- config: reference default (595x842 pt, dpi 72, 9 pt / 10 pt leading, LEFT, auto-crop), DejaVu Sans",
        "- PNG: the reference saves RGB pages with PIL's defaults; glyph saves 1-channel gray PNGs (same pixels)",
        "",
        (
            "| tokens | chars | output | pages (ref / ours) | reference ms/page | glyph ms/page | glyph chars/s "
            "| PNG KiB/page (ref / ours) | speed-up |"
        ),
        "|---:|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        size = (
            f"{r['ref_png_kib_per_page']:.0f} / {r['ours_png_kib_per_page']:.0f}"
            if "ours_png_kib_per_page" in r
            else ""
        )
        lines.append(
            f"| {r['tokens']:,} | {r['chars']:,} | {r['mode']} | {r['pages_ref']} / {r['pages_ours']} | "
            f"{r['ref_ms_per_page']:.1f} | {r['ours_ms_per_page']:.2f} | {r['ours_chars_s'] / 1e6:.2f} M | "
            f"{size} | **{r['speedup']:.1f}x** |"
        )
    if big:
        lines += [
            "",
            (
                f"1M-token text in memory (glyph only, one process): {big['chars']:,} chars, {big['pages']} pages, "
                f"{big['seconds']:.2f} s, peak RSS {big['peak_rss_mb']:.0f} MB (the child process's own VmHWM)."
            ),
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (path.with_suffix(".json")).write_text(json.dumps({"rows": rows, "million": big}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

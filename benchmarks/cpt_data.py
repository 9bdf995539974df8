"""CPT data engine speed: records/s and pages/s, where the time goes, and the reference renderer as the peer.

1. ``glyph data cpt`` on the bundled essays with the default data config (8K context, GLM-4.1V
   visual tokens, five themes, three tasks), one process and then all cores: records/s, pages/s,
   wall and CPU seconds, and the share of worker time in rendering (layout + raster), PNG
   encoding, text tokenisation and shard writing.
2. The peer: the same (text, sampled config) pairs rendered by glyph and by the reference
   pipeline (reportlab -> PDF -> poppler, ``glyph.render.reference``), alternating in one
   process, best of ``--repeat``: ms per page and the ratio. The reference ships no CPT data
   engine; its renderer is the part a CPT pipeline built on it would spend its time in.
3. The figures the README shows: the mixture statistics plot of run 1 and the theme gallery.

    python benchmarks/cpt_data.py [--samples 64] [--peer-samples 16] [--out benchmarks/results/cpt]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from glyph.render.raster import render_pages
from glyph.render.reference import reference_available, reference_render
from glyph.train.cpt import load_data_config
from glyph.train.cpt.engine import build_cpt_data, plan_samples
from glyph.train.cpt.gallery import theme_gallery
from glyph.train.cpt.sampler import ConfigSampler
from glyph.train.cpt.sources import document_factory
from glyph.train.cpt.stats import mixture_stats, plot_mixture


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def engine_run(samples: int, workers: int, out: Path, seed: int) -> dict:
    cfg = load_data_config()
    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = cpu_seconds(), time.perf_counter()
    summary = build_cpt_data("essays", out, cfg, seed=seed, samples=samples, shard_size=16, workers=workers)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    stats = mixture_stats(out)
    timing = stats["timing_seconds"]
    worker = timing.get("total", 0.0)
    shares = (
        {k: timing.get(k, 0.0) / worker for k in ("render", "encode", "tokenize", "write")} if worker else {}
    )
    shares["other"] = max(0.0, 1 - sum(shares.values()))
    return {
        "workers": workers,
        "records": summary.records,
        "failed": summary.failed,
        "pages": summary.pages,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_per_s": round(summary.records / wall, 3),
        "pages_per_s": round(summary.pages / wall, 3),
        "worker_s": round(worker, 2),
        "shares": {k: round(v, 4) for k, v in shares.items()},
        "stats": stats,
    }


def peer_run(samples: int, repeat: int, seed: int, chars: int = 12000) -> dict:
    """glyph vs the reference renderer on the same (text, config) pairs drawn as the engine draws them."""
    missing = reference_available()
    if missing:
        return {"skipped": missing}
    cfg = load_data_config()
    sampler = ConfigSampler(cfg)
    pairs = []
    for spec in plan_samples(document_factory("essays"), cfg, seed, samples):
        rng = np.random.default_rng([seed, spec.index, 1])
        draw = sampler.draw(rng, spec.theme, spec.text)
        pairs.append((spec.text[:chars], draw.config))
    best = {"glyph": float("inf"), "reference": float("inf")}
    pages = {"glyph": 0, "reference": 0}
    for _ in range(repeat):
        for name in ("reference", "glyph"):
            t0 = time.perf_counter()
            n = 0
            for text, config in pairs:
                if name == "glyph":
                    n += sum(1 for _ in render_pages(text, config))
                else:
                    n += len(reference_render(text, config).pages)
            best[name] = min(best[name], time.perf_counter() - t0)
            pages[name] = n
    return {
        "samples": samples,
        "chars_per_sample": chars,
        "pages": pages,
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "ms_per_page": {k: round(1000 * best[k] / max(1, pages[k]), 2) for k in best},
        "speedup": round(best["reference"] / best["glyph"], 2),
        "dpi": [c.dpi for _, c in pairs],
    }


def machine() -> dict:
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "uptime": load,
    }


def report(results: dict, out: Path) -> str:
    m = results["machine"]
    lines = [
        "# CPT data engine speed",
        "",
        f"`python benchmarks/cpt_data.py --samples {results['samples']} --peer-samples {results['peer'].get('samples', 0)}`"
        f" -- {m['date']}, {m['cores']} cores ({m['cpu']}), Python {m['python']}",
        f"load: `{m['uptime']}`",
        "",
        "Bundled essays, default data config (8,192-token records for GLM-4.1V; five themes; OCR / LM / gen "
        "0.35 / 0.40 / 0.25; the paper's dpi bands), seed 0.",
        "",
        "| workers | records | failed | pages | wall s | CPU s | records/s | pages/s | render | encode | tokenise | write | other |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        s = run["shares"]
        lines.append(
            f"| {run['workers']} | {run['records']} | {run['failed']} | {run['pages']} | {run['wall_s']} | {run['cpu_s']} "
            f"| {run['records_per_s']:.2f} | {run['pages_per_s']:.2f} | {s['render']:.1%} | {s['encode']:.1%} "
            f"| {s['tokenize']:.1%} | {s['write']:.1%} | {s['other']:.1%} |"
        )
    lines += ["", "Shares are of worker time (all processes), per stage: render = layout + raster (and the"
              " horizontal-scale resize), encode = PNG, tokenise = text-token counting, write = Parquet.", ""]  # fmt: skip
    peer = results["peer"]
    if "skipped" in peer:
        lines.append(f"Peer comparison skipped: {peer['skipped']}")
    else:
        lines += [
            f"**Peer**: the render stage on {peer['samples']} of the same (text, sampled config) pairs, "
            f"{peer['chars_per_sample']:,} characters each, one process, best of the repeats:",
            "",
            "| renderer | pages | seconds | ms/page |",
            "|---|---:|---:|---:|",
            f"| reference (reportlab + poppler) | {peer['pages']['reference']} | {peer['seconds']['reference']} "
            f"| {peer['ms_per_page']['reference']} |",
            f"| glyph | {peer['pages']['glyph']} | {peer['seconds']['glyph']} | {peer['ms_per_page']['glyph']} |",
            "",
            f"glyph renders the CPT mix **{peer['speedup']}x** faster than the reference pipeline "
            f"(dpi of the pairs: {min(peer['dpi'])}-{max(peer['dpi'])}).",
        ]
    stats = results["runs"][0]["stats"]
    lines += [
        "",
        f"Mixture of the one-process run: {stats['records']} records, {stats['tokens']:,} tokens, "
        f"{stats['pages']} pages ({stats['pages_per_sample']['mean']:.2f} per sample). ![mixture](mixture.png)",
    ]
    text = "\n".join(lines) + "\n"
    (out / "cpt_data.md").write_text(text, encoding="utf-8")
    (out / "cpt_data.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--peer-samples", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpt"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "samples": args.samples, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in sorted({1, args.workers}):
            run = engine_run(args.samples, workers, Path(tmp) / f"w{workers}", args.seed)
            results["runs"].append(run)
            print(f"workers {workers}: {run['records']} records in {run['wall_s']} s "
                  f"({run['records_per_s']:.2f}/s, {run['pages_per_s']:.2f} pages/s), shares {run['shares']}")  # fmt: skip
            if workers == 1:
                plot_mixture(run["stats"], args.out / "mixture.png")
    results["peer"] = (
        peer_run(args.peer_samples, args.repeat, args.seed) if args.peer_samples else {"skipped": "off"}
    )
    print(results["peer"])
    theme_gallery(load_data_config(), args.out / "themes.png", seed=0)
    results["machine"]["uptime_after"] = machine()["uptime"]
    print(report(results, args.out))


if __name__ == "__main__":
    main()

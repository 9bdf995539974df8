"""What a worker process does with documents: pages streamed into a PNG folder or a parquet shard.

Each worker keeps one :class:`PageRasterizer` per config hash, so fonts are parsed and glyph
bitmaps rendered once per worker, not once per document. Outputs are complete and renamed into
place before the driver writes their manifest lines.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from glyph.render.batch.manifest import TMP_PREFIX
from glyph.render.batch.sources import Doc, error_entry
from glyph.render.config import RenderConfig
from glyph.render.layout import MissingGlyphs, iter_layout
from glyph.render.raster import PageRasterizer

_PARQUET_FLUSH_ROWS = 16  # pages buffered before a row group is written: bounds worker memory
_RASTERS: dict[str, PageRasterizer] = {}


def _rasterizer(config: dict[str, Any], config_hash: str) -> PageRasterizer:
    """The worker's rasteriser for a config: fonts and glyph bitmaps are reused across documents."""
    raster = _RASTERS.get(config_hash)
    if raster is None:
        if len(_RASTERS) >= 32:
            _RASTERS.pop(next(iter(_RASTERS)))
        raster = _RASTERS[config_hash] = PageRasterizer(RenderConfig.from_dict(config))
    return raster


def _iter_doc_pages(doc: Doc, missing: MissingGlyphs) -> Iterator[Any]:
    raster = _rasterizer(doc.config, doc.config_hash)
    for page in iter_layout(doc.text, raster.cfg, missing):
        yield raster.render(page)


def _entry(doc: Doc, t0: float, missing: MissingGlyphs, n_pages: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": doc.id,
        "record": doc.record,
        "n_pages": n_pages,
        **extra,
        "chars": len(doc.text),
        "missing_glyphs": missing.total,
        "missing_examples": missing.examples(5),
        "seconds": round(time.perf_counter() - t0, 4),
        "config_hash": doc.config_hash,
    }


def _render_png(out_dir: str, doc: Doc) -> dict[str, Any]:
    """Write pages into a temp dir, fsync them, then rename the dir into place in one step."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    tmp = out / f"{TMP_PREFIX}{doc.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    missing = MissingGlyphs()
    files: list[str] = []
    try:
        for n, img in enumerate(_iter_doc_pages(doc, missing), 1):
            name = f"page_{n:03d}.png"
            with open(tmp / name, "wb") as f:
                img.save(f, format="PNG")
                f.flush()
                os.fsync(f.fileno())
            files.append(f"{doc.name}/{name}")
        final = out / doc.name
        if final.exists():  # left by a crash between rename and manifest line, or resume=False
            shutil.rmtree(final)
        os.replace(tmp, final)
    except Exception as exc:  # noqa: BLE001 - one bad document must not stop the batch
        shutil.rmtree(tmp, ignore_errors=True)
        return error_entry(doc.record, doc.id, f"render failed: {type(exc).__name__}: {exc}")
    return _entry(doc, t0, missing, len(files), pages=files)


def _render_parquet(out_dir: str, shard: str, docs: list[Doc]) -> list[dict[str, Any]]:
    """Render a chunk of documents into one shard, closed and renamed before any manifest line exists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(out_dir) / shard
    tmp = path.with_name(path.name + ".tmp")
    entries: list[dict[str, Any]] = []
    rows: dict[str, list[Any]] = {k: [] for k in _SCHEMA_NAMES}
    with pq.ParquetWriter(tmp, _parquet_schema()) as writer:

        def flush() -> None:
            if rows["id"]:
                writer.write_table(pa.table(rows, schema=_parquet_schema()))
                for v in rows.values():
                    v.clear()

        for doc in docs:
            t0 = time.perf_counter()
            missing = MissingGlyphs()
            n = 0
            try:
                for n, img in enumerate(_iter_doc_pages(doc, missing), 1):
                    buf = io.BytesIO()
                    img.save(buf, format="PNG")
                    for k, v in zip(_SCHEMA_NAMES, (doc.id, n, buf.getvalue(), img.width, img.height)):
                        rows[k].append(v)
                    if len(rows["id"]) >= _PARQUET_FLUSH_ROWS:
                        flush()
            except Exception as exc:  # noqa: BLE001 - rows already written stay uncommitted
                why = f"render failed: {type(exc).__name__}: {exc}"
                entries.append(error_entry(doc.record, doc.id, why))
                continue
            entries.append(_entry(doc, t0, missing, n, shard=shard))
        flush()
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return entries


_SCHEMA_NAMES = ("id", "page", "png", "width", "height")


def _parquet_schema() -> Any:
    import pyarrow as pa

    types = (pa.string(), pa.int32(), pa.binary(), pa.int32(), pa.int32())
    return pa.schema(list(zip(_SCHEMA_NAMES, types)))


def run_job(fmt: str, out_dir: str, shard: str | None, docs: list[Doc]) -> list[dict[str, Any]]:
    if fmt == "png":
        return [_render_png(out_dir, doc) for doc in docs]
    assert shard is not None
    return _render_parquet(out_dir, shard, docs)

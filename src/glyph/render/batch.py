"""Batch rendering: many documents -> page PNGs or parquet shards, on all cores, resumable.

Why this shape:

* **One process per core.** Layout and rasterising are CPU-bound Python/numpy, so threads would
  serialise on the GIL. Each worker keeps one :class:`PageRasterizer` per config hash, so fonts are
  parsed and glyph bitmaps rendered once per worker, not once per document.
* **Pages are streamed.** A document is laid out and rasterised one page at a time and every page is
  written as soon as it exists, so a document with more pages than fit in memory still renders.
* **The manifest is the commit log.** ``OUT/manifest.jsonl`` gets one line per finished document,
  appended (flush + fsync) only after the document's outputs are complete and in place:

  - PNG: pages go to ``OUT/.tmp-<name>-<pid>/page_001.png ...`` and the directory is renamed to
    ``OUT/<name>/`` in one step; then the manifest line is written.
  - parquet: a worker renders a chunk of documents into ``pages-NNNNN.parquet.tmp``, closes it and
    renames it to ``pages-NNNNN.parquet``; then the chunk's manifest lines are written together.

  A crash or Ctrl-C therefore leaves at worst a temp directory/file or an unreferenced output, never
  a manifest line for an unfinished document. On restart (``resume=True``) temp files are removed,
  the manifest is rewritten keeping only documents whose outputs exist, shards that no kept line
  names are deleted, and ids already done are skipped. Error lines are dropped and their records
  re-checked, so each id has one line and a transient failure is retried.

  **Parquet rule for readers:** a row is committed iff the manifest has a line without ``error``
  for its ``id`` whose ``shard`` is the row's file (a document that failed half-way may leave rows
  behind in a shard). :func:`iter_committed_pages` applies this rule.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from hashlib import sha1
from pathlib import Path
from typing import Any, Literal

from glyph.render.config import RenderConfig
from glyph.render.layout import MissingGlyphs, iter_pages_with_spans
from glyph.render.raster import PageRasterizer

MANIFEST = "manifest.jsonl"
_TMP_PREFIX = ".tmp-"
_SHARD = re.compile(r"^pages-(\d{5,})\.parquet$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,150}$")
_PARQUET_FLUSH_ROWS = 16  # pages buffered before a row group is written: bounds worker memory
_CHUNK_CHARS = 20_000_000  # text characters per parquet task: bounds what a task pickles


@dataclass
class BatchSummary:
    """What a run did; ``errors`` holds ``"<id or record #n>: <message>"`` for each failed record."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    pages: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Doc:
    """One valid record, ready to send to a worker."""

    record: int
    id: str
    name: str  # directory name for PNG output
    text: str
    config: dict[str, Any]  # reference dict of the effective config
    config_hash: str


# ------------------------------------------------------------------------------------------ input


def _iter_raw(source: Any) -> Iterator[dict[str, Any] | str]:
    """Rows of the source as dicts; a string row is an error message (e.g. a bad JSONL line)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson"):
            yield from _iter_jsonl(path)
            return
        source = _load_dataset(path)
    for row in source:
        yield row if isinstance(row, dict) else f"expected a mapping, got {type(row).__name__}"


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any] | str]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"{path.name} line {n}: invalid JSON ({exc.msg})"
                continue
            yield row if isinstance(row, dict) else f"{path.name} line {n}: expected a JSON object"


def _load_dataset(path: Path) -> Any:
    """A saved ``datasets`` directory, or a local data file (parquet, csv, json, arrow) via ``datasets``."""
    try:
        import datasets
    except ImportError:
        raise ImportError(
            f"reading {path} needs the Hugging Face 'datasets' package (pip install 'glyph-vtc[datasets]'); "
            "JSONL files (.jsonl) need nothing extra"
        ) from None
    if path.is_dir():
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if len(ds) != 1:
                raise ValueError(f"{path} holds splits {list(ds)}; pass one: load_from_disk(path)['train']")
            ds = next(iter(ds.values()))
        return ds
    if not path.is_file():
        raise FileNotFoundError(f"batch source not found: {path}")
    kind = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".arrow": "arrow"}.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown format; use .jsonl, .json, .parquet, .csv, .arrow or a dataset")
    return datasets.load_dataset(kind, data_files=str(path), split="train")


def _source_len(source: Any) -> int | None:
    """Number of rows when cheap to know (for the progress bar), else None."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson"):
            with path.open("rb") as f:
                return sum(1 for line in f if line.strip())
        return None
    try:
        return len(source)
    except TypeError:
        return None


def _dir_name(doc_id: str) -> str:
    """A file-system-safe directory name; unsafe ids get a readable slug plus a hash to stay unique."""
    if _SAFE_NAME.match(doc_id) and not doc_id.startswith(("manifest", "pages-")):  # ours, at the top level
        return doc_id
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", doc_id).strip("._")[:100] or "doc"
    return f"{slug}-{sha1(doc_id.encode()).hexdigest()[:10]}"


class _ConfigCache:
    """Validates per-record overrides once per distinct override (font resolution is not free)."""

    def __init__(self, base: RenderConfig) -> None:
        self.base = base
        self._hit: dict[str, tuple[dict[str, Any], str] | str] = {}

    def get(self, overrides: Any) -> tuple[dict[str, Any], str] | str:
        """(reference dict, hash), or an error message.

        A JSON string is parsed, and None values are dropped: a ``datasets`` struct column gives every
        row every key, with None where the row set nothing.
        """
        if isinstance(overrides, str):
            try:
                overrides = json.loads(overrides) if overrides.strip() else None
            except json.JSONDecodeError as exc:
                return f"config override is not valid JSON ({exc.msg})"
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, dict):
            return f"config override must be an object, got {type(overrides).__name__}"
        overrides = {k: v for k, v in overrides.items() if v is not None}
        key = json.dumps(overrides, sort_keys=True, default=str)
        if key not in self._hit:
            if len(self._hit) > 1024:
                self._hit.clear()
            try:
                cfg = self.base.with_updates(**overrides) if overrides else self.base
                self._hit[key] = (cfg.to_reference_dict(), cfg.content_hash())
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                self._hit[key] = f"invalid config override: {_short_error(exc)}"
        return self._hit[key]


def _short_error(exc: Exception) -> str:
    """One line per problem, 'key: message', instead of pydantic's multi-line report."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
    return str(exc).splitlines()[0]


def _records(
    source: Any, base: RenderConfig, text_field: str, id_field: str, done: set[str]
) -> Iterator[_Doc | dict[str, Any] | str]:
    """Validated documents; an error manifest entry (dict) for a bad record; the id (str) of a skipped one."""
    configs = _ConfigCache(base)
    seen: dict[str, int] = {}
    id_keys = (id_field, "unique_id") if id_field == "id" else (id_field,)
    text_keys = (text_field, "context") if text_field == "text" else (text_field,)
    for i, row in enumerate(_iter_raw(source)):
        if isinstance(row, str):
            yield _error_entry(i, None, row)
            continue
        raw_id = next((row[k] for k in id_keys if row.get(k) is not None), None)
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)
        if not isinstance(raw_id, str) or not raw_id.strip():
            got = "" if raw_id is None else f", got {raw_id!r}"
            yield _error_entry(i, None, f"missing id (field {id_field!r}{got})")
            continue
        if raw_id in seen:
            yield _error_entry(i, raw_id, f"duplicate id {raw_id!r} (first at record {seen[raw_id]})")
            continue
        seen[raw_id] = i
        if raw_id in done:
            yield raw_id
            continue
        text = next((row[k] for k in text_keys if row.get(k) is not None), None)
        if not isinstance(text, str) or not text.strip():
            what = "missing" if text is None else "not a string" if not isinstance(text, str) else "empty"
            yield _error_entry(i, raw_id, f"text is {what} (field {text_field!r})")
            continue
        cfg = configs.get(row.get("config"))
        if isinstance(cfg, str):
            yield _error_entry(i, raw_id, cfg)
            continue
        yield _Doc(i, raw_id, _dir_name(raw_id), text, cfg[0], cfg[1])


def _error_entry(record: int, doc_id: str | None, message: str) -> dict[str, Any]:
    return {"id": doc_id, "record": record, "error": message}


# ------------------------------------------------------------------------------------------ worker

_RASTERS: dict[str, PageRasterizer] = {}


def _rasterizer(config: dict[str, Any], config_hash: str) -> PageRasterizer:
    """The worker's rasteriser for a config: fonts and glyph bitmaps are reused across documents."""
    raster = _RASTERS.get(config_hash)
    if raster is None:
        if len(_RASTERS) >= 32:
            _RASTERS.pop(next(iter(_RASTERS)))
        raster = _RASTERS[config_hash] = PageRasterizer(RenderConfig.from_dict(config))
    return raster


def _iter_doc_pages(doc: _Doc, missing: MissingGlyphs) -> Iterator[Any]:
    raster = _rasterizer(doc.config, doc.config_hash)
    for page in iter_pages_with_spans(doc.text, raster.cfg, missing):
        yield raster.render(page)


def _entry(doc: _Doc, t0: float, missing: MissingGlyphs, n_pages: int, **extra: Any) -> dict[str, Any]:
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


def _render_png(out_dir: str, doc: _Doc) -> dict[str, Any]:
    """Write pages into a temp dir, fsync them, then rename the dir into place in one step."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    tmp = out / f"{_TMP_PREFIX}{doc.name}-{os.getpid()}"
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
        return _error_entry(doc.record, doc.id, f"render failed: {type(exc).__name__}: {exc}")
    return _entry(doc, t0, missing, len(files), pages=files)


def _render_parquet(out_dir: str, shard: str, docs: list[_Doc]) -> list[dict[str, Any]]:
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
                entries.append(_error_entry(doc.record, doc.id, why))
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


def _run_job(fmt: str, out_dir: str, shard: str | None, docs: list[_Doc]) -> list[dict[str, Any]]:
    if fmt == "png":
        return [_render_png(out_dir, doc) for doc in docs]
    assert shard is not None
    return _render_parquet(out_dir, shard, docs)


# ------------------------------------------------------------------------------------------ manifest


def read_manifest(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every parseable manifest line (a torn last line from a crash is ignored)."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def _prepare(out: Path, fmt: str, resume: bool) -> tuple[set[str], int]:
    """Clean up after a crash and rewrite the manifest to its committed, valid lines.

    Returns the ids already done and the next free shard number.
    """
    out.mkdir(parents=True, exist_ok=True)
    for p in out.iterdir():
        if p.name.startswith(_TMP_PREFIX) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.endswith(".parquet.tmp") or p.name == MANIFEST + ".tmp":
            p.unlink(missing_ok=True)
    entries = [e for e in read_manifest(out) if not e.get("error") and isinstance(e.get("id"), str)]
    other = "pages" if fmt == "parquet" else "shard"
    if any(other in e for e in entries):
        raise ValueError(
            f"{out} holds {'png' if fmt == 'parquet' else 'parquet'} output; use another out_dir"
        )
    kept: dict[str, dict[str, Any]] = {}  # the first committed line per id
    shard_ids: dict[str, set[str]] = {}
    for e in entries if resume else ():
        if fmt == "png" and e.get("pages") and all((out / p).is_file() for p in e["pages"]):
            kept.setdefault(e["id"], e)
        elif fmt == "parquet" and (out / e.get("shard", "")).is_file():
            if e["shard"] not in shard_ids:
                shard_ids[e["shard"]] = _shard_ids(out / e["shard"])
            if e["id"] in shard_ids[e["shard"]]:
                kept.setdefault(e["id"], e)
    referenced = {e.get("shard") for e in kept.values()}
    numbers = [-1]
    for p in out.glob("pages-*.parquet"):
        m = _SHARD.match(p.name)
        if m and p.name not in referenced:
            p.unlink()  # rows of documents without a manifest line
        elif m:
            numbers.append(int(m.group(1)))
    tmp = out / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in kept.values())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / MANIFEST)
    return set(kept), max(numbers) + 1


def _shard_ids(path: Path) -> set[str]:
    import pyarrow.parquet as pq

    try:
        return set(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    except Exception:  # noqa: BLE001 - an unreadable shard commits nothing
        return set()


def iter_committed_pages(out_dir: str | Path) -> Iterator[Any]:
    """Parquet output as pyarrow tables (one per shard) holding only committed rows (see module doc)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    by_shard: dict[str, list[str]] = {}
    for e in read_manifest(out_dir):
        if not e.get("error") and e.get("shard"):
            by_shard.setdefault(e["shard"], []).append(e["id"])
    for shard, ids in sorted(by_shard.items()):
        table = pq.read_table(Path(out_dir) / shard)
        yield table.filter(pc.is_in(table.column("id"), value_set=pa.array(ids, pa.string())))


# ------------------------------------------------------------------------------------------ driver


def _jobs(
    items: Iterable[_Doc | dict[str, Any] | str], fmt: str, chunk_docs: int
) -> Iterator[list[_Doc] | dict[str, Any] | str]:
    """Group documents into tasks: one per document for PNG, chunks (one shard each) for parquet."""
    chunk: list[_Doc] = []
    chars = 0
    for item in items:
        if not isinstance(item, _Doc):
            yield item
            continue
        if fmt == "png":
            yield [item]
            continue
        chunk.append(item)
        chars += len(item.text)
        if len(chunk) >= chunk_docs or chars >= _CHUNK_CHARS:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


def _make_progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]rendering"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("docs {task.fields[pages]} pages {task.fields[rate]:.1f} pages/s"),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        disable=not enabled,
        auto_refresh=False,  # no refresh thread: forking worker processes stays safe
    )


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Kill the workers: after Ctrl-C they would otherwise finish every task already queued to them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public API before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()


def render_batch(
    source: Any,
    out_dir: str | Path,
    config: RenderConfig | None = None,
    fmt: Literal["png", "parquet"] = "png",
    workers: int | None = None,
    resume: bool = True,
    progress: bool = True,
    text_field: str = "text",
    id_field: str = "id",
    shard_docs: int = 64,
) -> BatchSummary:
    """Render every record of ``source`` (JSONL path, ``datasets`` Dataset/dir/file, or iterable of dicts).

    ``workers`` processes (default: all cores; 1 renders in this process). Per-record ``config``
    overrides use the reference's hyphenated keys. Bad records become manifest error lines, never
    exceptions. ``shard_docs`` caps the documents per parquet shard.
    """
    if fmt not in ("png", "parquet"):
        raise ValueError(f"fmt must be 'png' or 'parquet', got {fmt!r}")
    config = config or RenderConfig()
    workers = max(1, workers or os.cpu_count() or 1)
    out = Path(out_dir)
    t0 = time.perf_counter()
    done_ids, next_shard = _prepare(out, fmt, resume)
    total = _source_len(source)
    chunk_docs = max(1, min(shard_docs, -(-total // (workers * 4)) if total else shard_docs))
    summary = BatchSummary()
    manifest = open(out / MANIFEST, "a", encoding="utf-8")  # noqa: SIM115 - closed in finally

    def commit(entries: list[dict[str, Any]]) -> None:
        """Append the lines, then flush + fsync: a line exists only for outputs already in place."""
        manifest.write("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
        manifest.flush()
        os.fsync(manifest.fileno())
        for e in entries:
            if e.get("error"):
                summary.failed += 1
                who = e["id"] if e.get("id") else f"record #{e['record']}"
                summary.errors.append(f"{who}: {e['error']}")
            else:
                summary.done += 1
                summary.pages += e["n_pages"]
        bar.update(
            task, completed=summary.done + summary.failed + summary.skipped, pages=summary.pages,
            failed=summary.failed, rate=summary.pages / max(time.perf_counter() - t0, 1e-9),
        )  # fmt: skip
        bar.refresh()

    pool: ProcessPoolExecutor | None = None
    pending: dict[Future, list[_Doc]] = {}

    def new_pool() -> ProcessPoolExecutor:
        # fork on Linux: scripts without an `if __name__ == "__main__"` guard work, and workers start
        # fast. It is safe because this process runs no threads of ours (the bar refreshes manually).
        method = "fork" if sys.platform.startswith("linux") else None
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))

    def drain(block_until: int) -> None:
        nonlocal pool
        while len(pending) > block_until:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                docs = pending.pop(fut)
                try:
                    commit(fut.result())
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its documents, not the run
                    if isinstance(exc, BrokenProcessPool) and pool is not None:
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = new_pool()
                    why = f"worker failed: {type(exc).__name__}: {exc}"
                    commit([_error_entry(d.record, d.id, why) for d in docs])

    with _make_progress(progress) as bar:
        task = bar.add_task("render", total=total, pages=0, rate=0.0, failed=0)
        try:
            if workers > 1:
                pool = new_pool()
            for job in _jobs(_records(source, config, text_field, id_field, done_ids), fmt, chunk_docs):
                if isinstance(job, str):
                    summary.skipped += 1
                    bar.update(task, advance=1)
                    bar.refresh()
                    continue
                if isinstance(job, dict):
                    commit([job])
                    continue
                shard = None
                if fmt == "parquet":
                    shard, next_shard = f"pages-{next_shard:05d}.parquet", next_shard + 1
                if pool is None:
                    commit(_run_job(fmt, str(out), shard, job))
                    continue
                drain(2 * workers - 1)
                pending[pool.submit(_run_job, fmt, str(out), shard, job)] = job
            drain(0)
        finally:
            if pool is not None and pending:  # interrupted: stop now; temp outputs are cleaned on resume
                _terminate(pool)
            elif pool is not None:
                pool.shutdown()
            manifest.close()
    summary.seconds = time.perf_counter() - t0
    return summary

"""The batch driver: records -> tasks -> a process pool (or this process), committed as they finish."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from glyph.render.batch.manifest import MANIFEST, prepare_out_dir
from glyph.render.batch.sources import Doc, error_entry, iter_records, source_len
from glyph.render.batch.workers import run_job
from glyph.render.config import RenderConfig

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


def _jobs(
    items: Iterable[Doc | dict[str, Any] | str], fmt: str, chunk_docs: int
) -> Iterator[list[Doc] | dict[str, Any] | str]:
    """Group documents into tasks: one per document for PNG, chunks (one shard each) for parquet."""
    chunk: list[Doc] = []
    chars = 0
    for item in items:
        if not isinstance(item, Doc):
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


def terminate_pool(pool: ProcessPoolExecutor) -> None:
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
    done_ids, next_shard = prepare_out_dir(out, fmt, resume)
    total = source_len(source)
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
    pending: dict[Future, list[Doc]] = {}

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
                    commit([error_entry(d.record, d.id, why) for d in docs])

    with _make_progress(progress) as bar:
        task = bar.add_task("render", total=total, pages=0, rate=0.0, failed=0)
        try:
            if workers > 1:
                pool = new_pool()
            for job in _jobs(iter_records(source, config, text_field, id_field, done_ids), fmt, chunk_docs):
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
                    commit(run_job(fmt, str(out), shard, job))
                    continue
                drain(2 * workers - 1)
                pending[pool.submit(run_job, fmt, str(out), shard, job)] = job
            drain(0)
        finally:
            if pool is not None and pending:  # interrupted: stop now; temp outputs are cleaned on resume
                terminate_pool(pool)
            elif pool is not None:
                pool.shutdown()
            manifest.close()
    summary.seconds = time.perf_counter() - t0
    return summary

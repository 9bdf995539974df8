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

One module per part: ``sources`` (records from JSONL, ``datasets`` or an iterable, validated, with
per-record config overrides), ``manifest`` (the commit log, crash recovery, committed parquet
rows), ``workers`` (what one process does with a document: PNG folder or parquet shard) and
``driver`` (:func:`render_batch`: the process pool, progress bar and summary).
"""

from glyph.render.batch.driver import BatchSummary, render_batch
from glyph.render.batch.manifest import MANIFEST, iter_committed_pages, read_manifest

__all__ = ["MANIFEST", "BatchSummary", "iter_committed_pages", "read_manifest", "render_batch"]

"""Parquet shards of training records: images inline, one record per row group, readable by ``datasets``.

* **Inline images** as ``datasets`` image structs (``{bytes, path}``) with the Hugging Face
  feature metadata in the schema, so ``datasets.load_dataset("parquet", data_files=...)`` gives
  PIL images and TRL-ready ``messages`` with no conversion step.
* **One record per row group**, so a trainer reads any record alone (random access for shuffled
  epochs) without decoding its neighbours. Pages are large, so the per-group overhead is noise.
* **Deterministic bytes**: the same records give the same file (no timestamps; fixed compression).
* **Atomic**: written to ``NAME.tmp``, fsynced, renamed; a reader never sees half a shard.

:func:`iter_shard` yields every row as a validated :class:`~glyph.train.records.Record` or as the
:class:`~glyph.train.records.RecordError` naming it (shard, row, id), so one corrupt record costs
that record only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from glyph.train.records import Record, RecordError, record_from_row

__all__ = ["RECORD_SCHEMA", "iter_shard", "list_shards", "read_record", "scan_shard", "write_shard"]

_STR = {"dtype": "string", "_type": "Value"}
#: The ``datasets.Features`` of a record row, as ``Features.to_dict()`` writes it (tests check the match).
HF_FEATURES: dict[str, Any] = {
    "id": _STR,
    "task": _STR,
    "theme": _STR,
    "template": _STR,
    "images": {"feature": {"_type": "Image"}, "_type": "List"},
    "messages": {
        "feature": {
            "role": _STR,
            "content": {"feature": {"type": _STR, "text": _STR}, "_type": "List"},
        },
        "_type": "List",
    },
    "meta": _STR,
}
_PART = pa.struct([("type", pa.string()), ("text", pa.string())])
_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.list_(_PART))])
RECORD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("task", pa.string()),
        ("theme", pa.string()),
        ("template", pa.string()),
        ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
        ("messages", pa.list_(_MESSAGE)),
        ("meta", pa.string()),
    ],
    metadata={"huggingface": json.dumps({"info": {"features": HF_FEATURES}})},
)
SHARD_SUFFIX = ".parquet"


def write_shard(path: str | Path, records: Iterable[Record]) -> int:
    """Write ``records`` to ``path`` atomically (temp file, fsync, rename); returns how many were written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with pq.ParquetWriter(tmp, RECORD_SCHEMA, compression="zstd", compression_level=3) as writer:
        for record in records:
            writer.write_table(pa.Table.from_pylist([record.to_row()], schema=RECORD_SCHEMA))
            n += 1
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path, memory_map=True)
    except (OSError, pa.ArrowException) as exc:
        raise RecordError(None, f"unreadable shard: {exc}", where=path.name) from exc


def iter_shard(path: str | Path, check_images: bool = False) -> Iterator[Record | RecordError]:
    """Every row of a shard, validated: a :class:`Record`, or the :class:`RecordError` naming the bad one.

    ``check_images`` also verifies each image file's checksums (PIL ``verify``). A shard that cannot be
    opened at all yields one error for the whole file; a row group that fails to decode, one per row.
    """
    for _, _, item in scan_shard(path, check_images):
        yield item


def scan_shard(
    path: str | Path, check_images: bool = False
) -> Iterator[tuple[int, int, Record | RecordError]]:
    """Like :func:`iter_shard`, with each row's (row group, offset in the group) for random access."""
    path = Path(path)
    try:
        pf = _open(path)
    except RecordError as exc:
        yield -1, -1, exc
        return
    row = 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        try:
            rows = pf.read_row_group(g).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            for k in range(n):
                yield g, k, RecordError(None, f"unreadable row: {exc}", where=f"{path.name} row {row + k}")
            row += n
            continue
        for k, data in enumerate(rows):
            where = f"{path.name} row {row}"
            try:
                record = record_from_row(data, where=where)
                if check_images:
                    record.check_images()
                yield g, k, record
            except RecordError as exc:
                yield g, k, exc if exc.where else RecordError(exc.record_id, exc.reason, where)
            row += 1


def read_record(pf: pq.ParquetFile, row_group: int, offset: int = 0, where: str = "") -> Record:
    """One record by position (the random-access path trainers use; shards hold one per row group)."""
    table = pf.read_row_group(row_group)
    return record_from_row(table.slice(offset, 1).to_pylist()[0], where=where)


def list_shards(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Shard files named by ``paths``: files as given, directories expanded to their committed shards.

    A directory written by ``glyph data`` has a manifest; only shards it lists as committed are used
    (a shard a crash left behind is not). A plain directory gives every ``*.parquet`` in name order.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            committed = committed_shards(p)
            out += committed if committed is not None else sorted(p.glob(f"*{SHARD_SUFFIX}"))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no shard file or directory {str(p)!r}")
    if not out:
        raise FileNotFoundError(f"no parquet shards in {', '.join(map(str, paths))}")
    return out


def committed_shards(directory: Path) -> list[Path] | None:
    """Shards the directory's manifest lists as committed, in order; None if it has no manifest."""
    from glyph.render.batch import MANIFEST, read_manifest

    if not (directory / MANIFEST).is_file():
        return None
    names = [e["shard"] for e in read_manifest(directory) if not e.get("error") and e.get("shard")]
    return [directory / n for n in sorted(set(names)) if (directory / n).is_file()]

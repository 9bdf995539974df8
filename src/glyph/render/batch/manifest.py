"""The manifest: one line per finished document, the batch's commit log (see the package docstring).

On restart :func:`prepare_out_dir` removes temp outputs, keeps only lines whose outputs exist,
deletes shards no kept line names and returns the ids already done.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MANIFEST = "manifest.jsonl"
TMP_PREFIX = ".tmp-"
_SHARD = re.compile(r"^pages-(\d{5,})\.parquet$")


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


def prepare_out_dir(out: Path, fmt: str, resume: bool) -> tuple[set[str], int]:
    """Clean up after a crash and rewrite the manifest to its committed, valid lines.

    Returns the ids already done and the next free shard number.
    """
    out.mkdir(parents=True, exist_ok=True)
    for p in out.iterdir():
        if p.name.startswith(TMP_PREFIX) and p.is_dir():
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

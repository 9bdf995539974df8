"""Batch input: records from a JSONL file, a ``datasets`` dataset/dir/file or an iterable of dicts.

Every row becomes either a validated :class:`Doc` (its config overrides applied and hashed once
per distinct override), the id of a document already done, or an error manifest entry naming
the bad record: a bad record never stops the batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha1
from pathlib import Path
from typing import Any

from glyph.render.config import RenderConfig

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,150}$")


@dataclass
class Doc:
    """One valid record, ready to send to a worker."""

    record: int
    id: str
    name: str  # directory name for PNG output
    text: str
    config: dict[str, Any]  # reference dict of the effective config
    config_hash: str


def iter_raw_records(source: Any) -> Iterator[dict[str, Any] | str]:
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


def source_len(source: Any) -> int | None:
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


def iter_records(
    source: Any, base: RenderConfig, text_field: str, id_field: str, done: set[str]
) -> Iterator[Doc | dict[str, Any] | str]:
    """Validated documents; an error manifest entry (dict) for a bad record; the id (str) of a skipped one."""
    configs = _ConfigCache(base)
    seen: dict[str, int] = {}
    id_keys = (id_field, "unique_id") if id_field == "id" else (id_field,)
    text_keys = (text_field, "context") if text_field == "text" else (text_field,)
    for i, row in enumerate(iter_raw_records(source)):
        if isinstance(row, str):
            yield error_entry(i, None, row)
            continue
        raw_id = next((row[k] for k in id_keys if row.get(k) is not None), None)
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)
        if not isinstance(raw_id, str) or not raw_id.strip():
            got = "" if raw_id is None else f", got {raw_id!r}"
            yield error_entry(i, None, f"missing id (field {id_field!r}{got})")
            continue
        if raw_id in seen:
            yield error_entry(i, raw_id, f"duplicate id {raw_id!r} (first at record {seen[raw_id]})")
            continue
        seen[raw_id] = i
        if raw_id in done:
            yield raw_id
            continue
        text = next((row[k] for k in text_keys if row.get(k) is not None), None)
        if not isinstance(text, str) or not text.strip():
            what = "missing" if text is None else "not a string" if not isinstance(text, str) else "empty"
            yield error_entry(i, raw_id, f"text is {what} (field {text_field!r})")
            continue
        cfg = configs.get(row.get("config"))
        if isinstance(cfg, str):
            yield error_entry(i, raw_id, cfg)
            continue
        yield Doc(i, raw_id, _dir_name(raw_id), text, cfg[0], cfg[1])


def error_entry(record: int, doc_id: str | None, message: str) -> dict[str, Any]:
    return {"id": doc_id, "record": record, "error": message}

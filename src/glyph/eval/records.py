"""Reading benchmark records from local files (JSONL, JSON, Parquet) or the Hugging Face hub.

Loaders take either a path or the word ``hub``; both give plain dicts in the official field
layout, so the same conversion code serves users with and without hub access.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a ``.jsonl``, ``.json`` (a list) or ``.parquet`` file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        yield from (data if isinstance(data, list) else [data])
    else:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{lineno}: not JSON ({exc.msg})") from None


def hub_records(repo: str, name: str | None = None, split: str = "test") -> Iterator[dict[str, Any]]:
    """Records of a Hugging Face dataset via ``datasets.load_dataset`` (needs access to the hub)."""
    try:
        import datasets
    except ImportError:
        raise RuntimeError(
            "loading from the hub needs the 'datasets' package: pip install datasets"
        ) from None
    try:
        ds = datasets.load_dataset(repo, name, split=split)
    except Exception as exc:  # network, auth, script-dataset and missing-config errors all land here
        where = f"{repo}" + (f" ({name})" if name else "")
        raise RuntimeError(
            f"cannot load {where} from the Hugging Face hub: {exc}. Download the data files and "
            "pass their path instead of 'hub'."
        ) from exc
    yield from ds

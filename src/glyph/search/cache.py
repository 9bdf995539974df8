"""On-disk cache of renders and reads, keyed by (text hash, render key[, reader]).

The config part of a key is :func:`glyph.render.render_key`: config, font file contents and the
renderer's own code, so an entry never outlives the pixels it was measured on.

A search revisits configs (elites re-proposed, resumed runs, a second worker), and OCR is
the slow part, so a config seen twice must cost nothing. Entries are small JSON files
(measurements and transcriptions, not images), written atomically (temp file + rename) so
that several worker processes can share one folder without locks.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def key_hash(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (e.g. reader options)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class DiskCache:
    """``get``/``put`` JSON values under ``root/<kind>/<text hash>/<render key>[-<extra>].json``."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, text_key: str, config_key: str, extra: str = "") -> Path:
        assert self.root is not None
        name = f"{config_key}-{extra}.json" if extra else f"{config_key}.json"
        return self.root / kind / text_key / name

    def get(self, kind: str, text_key: str, config_key: str, extra: str = "") -> Any | None:
        if self.root is None:
            self.misses += 1
            return None
        try:
            value = json.loads(self._path(kind, text_key, config_key, extra).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, text_key: str, config_key: str, value: Any, extra: str = "") -> None:
        if self.root is None:
            return
        path = self._path(kind, text_key, config_key, extra)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False)
        os.replace(tmp, path)

"""Reading benchmark records from local files (JSONL, JSON, Parquet) or the Hugging Face hub.

Loaders take either a path or the word ``hub``; both give plain dicts in the official field
layout, so the same conversion code serves users with and without hub access.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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


def render_overrides(
    config: Any, record: str, search_dirs: Sequence[str | Path] = ()
) -> tuple[dict[str, Any] | None, str | None]:
    """A record's own rendering ``config`` (reference JSON keys) as overrides, and a note on what was dropped.

    Glyph's evaluation records carry the config they were rendered with; its scripts read an
    absent or ``None``/``"None"`` ``newline-markup`` as plain line breaks, and resolve a
    relative ``font-path`` against their ``config/`` folder. Here a relative font is looked
    up by path and by file name in ``search_dirs``; a font not found is left out (the run's
    font is used) and the note says so, since the pages then differ from the published ones.
    """
    if config is None:
        return None, None
    if not isinstance(config, dict):
        raise ValueError(f"record {record!r}: 'config' must be an object of rendering keys, got {config!r}")  # noqa: TRY004
    out = dict(config)
    if out.get("newline-markup") in (None, "None", ""):
        out.pop("newline-markup", None)
    note = None
    font = out.get("font-path")
    if isinstance(font, str):
        found = _find_font(font, search_dirs)
        if found is None:
            out.pop("font-path")
            note = f"font {font} of the records not found (searched {', '.join(map(str, search_dirs)) or 'nowhere'})"
        else:
            out["font-path"] = str(found)
    return out, note


def _find_font(font: str, search_dirs: Sequence[str | Path]) -> Path | None:
    path = Path(font)
    if path.is_absolute():
        return path if path.is_file() else None
    for folder in search_dirs:
        for candidate in (Path(folder) / path, Path(folder) / path.name):
            if candidate.is_file():
                return candidate.resolve()
    return None


#: What Glyph's evaluation renderers (thu-coai/Glyph ``evaluation/<benchmark>/scripts/word2png_*.py``)
#: do that a record's config does not say: the whole context in one reportlab Paragraph (not 30 lines
#: per Paragraph, as ``word2png_function.py``), and for RULER a crop at the last ink + 1 + half the margin.
GLYPH_RENDERERS: dict[str, dict[str, Any]] = {
    "longbench": {"paragraph-lines": 0},
    "mrcr": {"paragraph-lines": 0},
    "ruler": {"paragraph-lines": 0, "crop-margin": "half"},
}


def glyph_render_overrides(
    benchmark: str, config: Any, record: str, search_dirs: Sequence[str | Path] = ()
) -> tuple[dict[str, Any], str | None]:
    """A Glyph evaluation record's rendering keys: its renderer's (:data:`GLYPH_RENDERERS`), then its own config.

    With these the pages are the ones Glyph's evaluation scripts render for the record (the same
    lines on the same pages), not the ones ``word2png_function.py`` would.
    """
    own, note = render_overrides(config, record, search_dirs)
    return {**GLYPH_RENDERERS[benchmark], **(own or {})}, note

"""Text sources for the data engine: bundled essays, a folder of .txt, JSONL, a Hugging Face dataset.

Every source is an iterator of :class:`Document` (id, text), read lazily so a corpus larger than
memory streams through; a row that cannot be used is yielded as an error string naming it. JSONL
and local ``datasets`` files go through ``glyph.render.batch``'s reader (the one ``glyph batch``
uses); a hub dataset is streamed (``hf:NAME[:CONFIG]``, or ``owner/name`` when no such path exists).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Document", "describe_source", "document_factory"]


@dataclass(frozen=True)
class Document:
    id: str
    text: str


def _essays() -> Iterator[Document | str]:
    from glyph.data.essays import essay_texts

    for name, text in essay_texts():
        yield Document(f"essays/{name}", text)


def _text_files(root: Path) -> Iterator[Document | str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*.txt") if p.is_file())
    for p in files:
        try:
            yield Document(str(p.relative_to(root)) if p != root else p.name, p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            yield f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        except OSError as exc:
            yield f"{p}: cannot read ({exc})"


def _rows(rows: Any, text_field: str, id_field: str, label: str) -> Iterator[Document | str]:
    for n, row in enumerate(rows):
        if isinstance(row, str):  # the batch reader's error for a bad JSONL line
            yield row
            continue
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            yield f"{label} row {n}: no text in field {text_field!r}"
            continue
        rid = row.get(id_field)
        yield Document(str(rid) if rid is not None else f"{label}#{n}", text)


def _hub(name: str, split: str) -> Any:
    import datasets

    repo, _, config = name.partition(":")
    return datasets.load_dataset(repo, config or None, split=split, streaming=True)


def document_factory(
    source: str | Path, text_field: str = "text", id_field: str = "id", split: str = "train"
) -> Callable[[], Iterator[Document | str]]:
    """A function that (re)opens the source and iterates its documents (the planner may pass twice)."""
    spec = str(source)
    if spec == "essays":
        return _essays
    if spec.startswith("hf:"):
        return lambda: _rows(_hub(spec[3:], split), text_field, id_field, spec)
    path = Path(spec)
    if path.is_dir() and not (path / "dataset_info.json").exists() and not (path / "state.json").exists():
        return lambda: _text_files(path)
    if path.is_file() and path.suffix.lower() == ".txt":
        return lambda: _text_files(path)
    if path.exists():
        from glyph.render.batch import _iter_raw

        return lambda: _rows(_iter_raw(path), text_field, id_field, path.name)
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        return lambda: _rows(_hub(spec, split), text_field, id_field, spec)
    raise FileNotFoundError(
        f"text source {spec!r}: no such file or folder; give 'essays' (bundled), a folder of .txt, a .txt, "
        "a .jsonl/.parquet/.csv file, a saved dataset, or a hub dataset as hf:owner/name[:config]"
    )


def describe_source(source: str | Path) -> str:
    return "bundled Paul Graham essays" if str(source) == "essays" else str(source)

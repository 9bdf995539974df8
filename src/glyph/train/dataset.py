"""A map-style dataset over record shards: validated once up front, records read one at a time.

Opening a shard set scans every record once: it must parse, its images must pass a checksum
check, and it must fit ``max_length`` tokens as the collator counts them (exactly, without
running the image processor). A record that fails is reported by name -- shard, row, id and
why -- and left out; the rest of its shard is kept. The dataset then holds only positions
(shard, row group), so memory does not grow with the corpus, and ``__getitem__`` reads one
record (shards hold one per row group).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glyph.train.records import Record, RecordError
from glyph.train.shards import list_shards, read_record, scan_shard

__all__ = ["RecordDataset", "ScanReport"]


@dataclass
class ScanReport:
    """What opening a shard set found: records kept, and each one left out with its reason."""

    kept: int = 0
    errors: list[RecordError] = field(default_factory=list)
    tasks: Counter = field(default_factory=Counter)
    tokens: int = 0

    def summary(self) -> str:
        mix = ", ".join(f"{k or '-'} {v}" for k, v in sorted(self.tasks.items()))
        skipped = f"; {len(self.errors)} left out" if self.errors else ""
        return f"{self.kept} records ({mix}), {self.tokens:,} tokens{skipped}"


@dataclass(frozen=True)
class _Ref:
    shard: int
    group: int
    offset: int
    id: str
    length: int


class RecordDataset:
    """Records of a shard set, by position; ``dataset[i]`` is a :class:`~glyph.train.records.Record`."""

    def __init__(self, shards: Sequence[Path], refs: Sequence[_Ref]) -> None:
        self.shards = list(shards)
        self._refs = list(refs)
        self._files: dict[int, Any] = {}
        self._pid = os.getpid()

    @classmethod
    def from_shards(
        cls,
        paths: str | Path | Iterable[str | Path],
        length: Callable[[Record], int] | None = None,
        max_length: int | None = None,
        tasks: Iterable[str] | None = None,
        check_images: bool = True,
    ) -> tuple[RecordDataset, ScanReport]:
        """Scan the shards (files or ``glyph data`` output directories) and index the usable records.

        ``length`` counts a record's tokens (``VisionCollator.length``); records over ``max_length``
        are left out with an error naming them. ``tasks`` keeps only records of those tasks.
        """
        files = list_shards(paths)
        wanted = set(tasks) if tasks else None
        report = ScanReport()
        refs: list[_Ref] = []
        seen: dict[str, str] = {}
        for s, path in enumerate(files):
            for g, k, item in scan_shard(path, check_images=check_images):
                if isinstance(item, RecordError):
                    report.errors.append(item)
                    continue
                where = f"{path.name} row group {g}"
                if wanted is not None and item.task not in wanted:
                    continue
                if item.id in seen:
                    report.errors.append(
                        RecordError(item.id, f"duplicate id (first in {seen[item.id]})", where)
                    )
                    continue
                try:
                    n = length(item) if length is not None else 0
                except RecordError as exc:
                    report.errors.append(RecordError(item.id, exc.reason, where))
                    continue
                if max_length is not None and n > max_length:
                    report.errors.append(
                        RecordError(item.id, f"{n} tokens exceed max_length {max_length}", where)
                    )
                    continue
                seen[item.id] = where
                refs.append(_Ref(s, g, k, item.id, n))
                report.kept += 1
                report.tasks[item.task] += 1
                report.tokens += n
        return cls(files, refs), report

    def __len__(self) -> int:
        return len(self._refs)

    def __getitem__(self, i: int) -> Record:
        ref = self._refs[i]
        path = self.shards[ref.shard]
        return read_record(
            self._file(ref.shard), ref.group, ref.offset, where=f"{path.name} row group {ref.group}"
        )

    def _file(self, shard: int) -> Any:
        import pyarrow.parquet as pq

        if os.getpid() != self._pid:  # a dataloader worker: its own file handles
            self._files, self._pid = {}, os.getpid()
        pf = self._files.get(shard)
        if pf is None:
            pf = self._files[shard] = pq.ParquetFile(self.shards[shard], memory_map=True)
        return pf

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self._refs]

    @property
    def lengths(self) -> list[int]:
        """Token lengths as counted when the dataset was opened (for length-grouped batching)."""
        return [r.length for r in self._refs]

    def as_hf_dataset(self, row: Callable[[Record], dict[str, Any]] | None = None) -> Any:
        """A ``datasets.Dataset`` view for TRL's trainers, which accept no other dataset type.

        It holds only the positions (``index``, ``length``); each access reads the record and
        maps it through ``row`` (default: :meth:`Record.to_row`, TRL's ``images`` + ``messages``
        layout), so the corpus is not copied into an Arrow cache.
        """
        import datasets

        view = datasets.Dataset.from_dict({"index": list(range(len(self))), "length": self.lengths})
        view.set_transform(_RowTransform(self, row or Record.to_row))
        return view

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_files"] = {}  # file handles stay in the process that opened them
        return state


class _RowTransform:
    """``datasets`` transform: a batch of positions -> the rows of those records (picklable for workers)."""

    def __init__(self, dataset: RecordDataset, row: Callable[[Record], dict[str, Any]]) -> None:
        self.dataset = dataset
        self.row = row

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [self.row(self.dataset[int(i)]) for i in batch["index"]]
        return {key: [r[key] for r in rows] for key in rows[0]} if rows else {}

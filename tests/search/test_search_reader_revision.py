"""The search's caches key reads by the reader's revision: a new reader behind an old name
(PP-OCRv4 -> glyphrec as ``ocr``) is never served the old one's reads or scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glyph.readers import register_reader
from glyph.readers.oracle import OracleReader
from glyph.render.config import reference_default
from glyph.search.evaluators import get_evaluator

CFG = reference_default()


class RevisionedOracle(OracleReader):
    """The oracle under one name whose ``revision`` the test sets; counts its reads."""

    name = "revisioned-oracle"
    current = "weights-a"
    calls = 0

    @property
    def revision(self) -> str:
        return type(self).current

    def transcribe(self, pages: Sequence[Any]) -> list[str]:
        type(self).calls += 1
        return super().transcribe(pages)


register_reader("revisioned-oracle", RevisionedOracle, "test: oracle whose revision the test sets")


def test_fidelity_reads_are_not_shared_across_revisions(tmp_path: Path) -> None:
    RevisionedOracle.calls, RevisionedOracle.current = 0, "weights-a"
    opts = {"reader": "revisioned-oracle", "chars": 800}
    assert not get_evaluator("ocr-fidelity", cache_dir=tmp_path, **opts).evaluate(CFG).cached
    assert get_evaluator("ocr-fidelity", cache_dir=tmp_path, **opts).evaluate(CFG).cached
    assert RevisionedOracle.calls == 1
    RevisionedOracle.current = "weights-b"  # same name, same options, other weights
    assert not get_evaluator("ocr-fidelity", cache_dir=tmp_path, **opts).evaluate(CFG).cached
    assert RevisionedOracle.calls == 2
    RevisionedOracle.current = "weights-a"  # the first reader's entries are still there
    assert get_evaluator("ocr-fidelity", cache_dir=tmp_path, **opts).evaluate(CFG).cached
    assert RevisionedOracle.calls == 2
    reads = sorted(p.name for p in (tmp_path / "read").rglob("*.json"))
    assert len(reads) == 2  # one read entry per revision, the render entry shared
    assert len(list((tmp_path / "render").rglob("*.json"))) == 1


def test_ruler_scores_are_not_shared_across_revisions(tmp_path: Path) -> None:
    RevisionedOracle.current = "weights-a"
    opts = {"reader": "revisioned-oracle", "tasks": ["niah_single_2"], "lengths": [1024]}
    first = get_evaluator("ocr-ruler", cache_dir=tmp_path, **opts)
    assert not first.evaluate(CFG).cached and first.evaluate(CFG).cached
    RevisionedOracle.current = "weights-b"
    other = get_evaluator("ocr-ruler", cache_dir=tmp_path, **opts)
    assert not other.evaluate(CFG).cached and other.score_calls == 1

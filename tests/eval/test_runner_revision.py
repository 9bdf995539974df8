"""Resuming a run redoes what another revision of the same reader recorded."""

from __future__ import annotations

from pathlib import Path

from glyph.eval.extract import ExtractReader
from glyph.eval.ruler import generate_ruler
from glyph.eval.runner import RESULTS, read_results, run_eval
from glyph.readers.oracle import OracleReader


class Oracle(OracleReader):
    """The oracle with a revision of the test's choosing, under the oracle's own name."""

    name = "oracle"

    def __init__(self, revision: str) -> None:
        self._revision = revision

    @property
    def revision(self) -> str:
        return self._revision


def test_resume_skips_only_the_same_revision(tok, cfg, tmp_path: Path) -> None:
    samples = list(generate_ruler(["niah_single_1"], [1024], samples=2, seed=3, tokenizer=tok))
    first = run_eval(samples, ExtractReader(Oracle("a")), cfg, tmp_path)
    assert len(first.new) == 2 and first.skipped == 0
    again = run_eval(samples, ExtractReader(Oracle("a")), cfg, tmp_path)
    assert again.new == [] and again.skipped == 2
    other = run_eval(samples, ExtractReader(Oracle("b")), cfg, tmp_path)
    assert len(other.new) == 2 and other.skipped == 0  # same name, options and config: redone
    recs = read_results(tmp_path / RESULTS)
    assert {r.reader for r in recs} == {"oracle-extract"}
    assert [r.reader_revision.split(";")[0] for r in recs] == ["a", "a", "b", "b"]

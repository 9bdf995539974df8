"""The offline extractor on ground-truth (oracle) transcripts, and the legibility fitness function."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from glyph.eval.extract import (
    ExtractReader,
    extract_answer,
    extract_cwe,
    extract_fwe,
    extract_mrcr,
    extract_niah,
    extract_vt,
    resolve_reader,
)
from glyph.eval.legibility import PROBE_TASKS, Legibility, legibility_probe, legibility_score
from glyph.eval.metrics import string_match_all
from glyph.eval.mrcr import load_mrcr
from glyph.eval.ruler import RULER_TASKS, generate_ruler
from glyph.measure import measure_compression
from glyph.readers.base import get_reader
from glyph.readers.oracle import OracleReader
from glyph.render.pages import RenderedPage

from .conftest import FIXTURES


def test_extractor_on_oracle_transcripts_of_every_task(cfg, tok) -> None:
    oracle = get_reader("oracle")
    rewrapped = 0
    for sample in generate_ruler(list(RULER_TASKS), [4096], samples=1, seed=5, tokenizer=tok):
        _, pages = measure_compression(sample.context, cfg, ["glm4v"], tok, keep_pages=True)
        transcript = "\n".join(oracle.transcribe(pages))
        rewrapped += transcript != sample.context  # line-wrapped, page-split: not the source text
        prediction = extract_answer(sample, transcript)
        assert string_match_all(prediction, sample.answers) == 1.0, (sample.task, prediction, sample.answers)
    assert rewrapped == 7  # essays, cwe, fwe; the line-per-sentence haystacks fit as they are


def test_niah_rules() -> None:
    text = (
        "Noise. The special magic number for red-cat is\n1234567. The special magic number for\n"
        "bored-cat is 7654321. The special magic uuid for 0f0e0d0c-0000-4000-8000-000000000001 is "
        "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee."
    )
    assert extract_niah(text, ["red-cat"], "numbers") == "1234567"  # across a line break
    assert extract_niah(text, ["bored-cat"], "numbers") == "7654321"  # "red-cat" is not inside it
    assert extract_niah(text, ["red-cat", "bored-cat"], "numbers") == "1234567, 7654321"
    assert (
        extract_niah(text, ["0f0e0d0c-0000-4000-8000-000000000001"], "uuids")
        == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    )
    assert extract_niah(text, ["blue-dog"], "numbers") == ""
    many = "magic for k-k is 1111111. text. magic for k-k is 2222222. magic for k-k is 1111111."
    assert extract_niah(many, ["k-k"], "numbers") == "1111111, 2222222"  # all values, once each


def test_vt_rules() -> None:
    noise = "The grass is green.\n"
    text = (
        f"{noise}VAR AAAAA = 12345\n{noise}VAR BBBBB = VAR AAAAA\nVAR ZZZZZ = 99999\n"
        f"VAR CCCCC = VAR BBBBB. {noise}VAR YYYYY = VAR ZZZZZ\nVAR DDDDD = VAR\nCCCCC"
    )
    assert extract_vt(text, "12345") == "AAAAA BBBBB CCCCC DDDDD"
    assert extract_vt(text, "99999") == "ZZZZZ YYYYY"
    assert extract_vt(text, "55555") == ""


def test_word_count_rules() -> None:
    listing = " ".join(
        f"{i + 1}. {w}" for i, w in enumerate(["apple", "pear", "apple", "fig", "apple", "pear", "kiwi"])
    )
    assert extract_cwe(listing, 2) == "apple, pear"
    assert extract_cwe(listing.replace(" 4. ", "\n4. "), 1) == "apple"
    coded = "... abcdef ... ghijkl abcdef ... .... abcdef mnopqr ghijkl"
    assert extract_fwe(coded, 2) == "abcdef, ghijkl"


def test_mrcr_rule_on_fixture(cfg, tok) -> None:
    oracle = OracleReader()
    for sample in load_mrcr(FIXTURES / "mrcr" / "2needle.jsonl", tokenizer=tok):
        _, pages = measure_compression(sample.context, cfg, ["glm4v"], tok, keep_pages=True)
        prediction = extract_answer(sample, "\n".join(oracle.transcribe(pages)))
        assert prediction == sample.answers[0]
    text = "User: write a poem about cats\nAssistant: one\nUser: write a poem about cats\nAssistant: two"
    assert extract_mrcr(text, "Prepend XY to the 2nd (1 indexed) poem about cats. Do not", "XY") == "XYtwo"
    assert extract_mrcr(text, "Prepend XY to the 3rd (1 indexed) poem about cats.", "XY") == ""


def test_unsupported_tasks_get_an_empty_answer(tok) -> None:
    from glyph.eval.longbench import load_longbench

    sample = next(iter(load_longbench(FIXTURES / "longbench", tasks=["hotpotqa"], tokenizer=tok)))
    assert extract_answer(sample, sample.context) == ""


def test_reader_resolution() -> None:
    assert resolve_reader("oracle").name == "oracle-extract"
    assert isinstance(resolve_reader("oracle-extract"), ExtractReader)
    with pytest.raises(NotImplementedError):  # alone, it has no query to extract for
        resolve_reader("oracle").answer([], "question?")


class GarblingReader(OracleReader):
    """Ground truth with every 7 read as 1: what a blurry rendering does to an OCR engine."""

    name = "garbling"

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        return [t.replace("7", "1") for t in super().transcribe(pages)]


def test_legibility_score_is_a_fitness_function(cfg, tok) -> None:
    probe = legibility_probe(tokenizer=tok)
    assert [s.task for s in probe] == list(PROBE_TASKS)
    perfect = legibility_score(probe, cfg, "oracle", tokenizer=tok)
    assert isinstance(perfect, Legibility)
    accuracy, compression, details = perfect
    assert accuracy == 1.0 and compression > 1.0 and details["failures"] == []
    assert details["reader"] == "oracle-extract" and set(details["by_task"]) == set(PROBE_TASKS)
    garbled = legibility_score(probe, cfg, GarblingReader(), tokenizer=tok)
    assert garbled.accuracy < 1.0 and garbled.compression == pytest.approx(compression)
    assert garbled.details["failures"] and all(f["task"] in PROBE_TASKS for f in garbled.details["failures"])
    # a finer rendering costs more visual tokens: lower compression
    finer = legibility_score(probe, cfg.with_updates(dpi=144), "oracle", tokenizer=tok)
    assert finer.compression < compression and finer.accuracy == 1.0

"""Fidelity metrics against hand-computed values (edit distances counted by hand)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glyph.measure.fidelity import char_classes, normalize, score_pages, score_text, total


def test_identical_text_is_perfect() -> None:
    f = score_text("The quick brown fox.", "The quick brown fox.")
    assert f.char_accuracy == 1.0 and f.word_accuracy == 1.0 and f.char_edits == 0


def test_one_substitution() -> None:
    # 9 characters after normalisation, one substituted; 2 words, one wrong
    f = score_text("abcd efgh", "abcd efgx")
    assert f.chars == 9 and f.char_edits == 1
    assert f.char_accuracy == pytest.approx(8 / 9)
    assert f.word_accuracy == pytest.approx(0.5)


def test_whitespace_runs_and_newlines_do_not_count() -> None:
    assert score_text("a  b\nc", "a b c").char_accuracy == 1.0
    assert score_text("  x y  ", "x\ny").char_edits == 0


def test_insertions_beyond_truth_clamp_to_zero() -> None:
    f = score_text("ab", "ab" + "z" * 10)
    assert f.char_edits == 10 and f.char_accuracy == 0.0


def test_empty_truth_is_a_documented_value_not_nan() -> None:
    assert score_text("", "").char_accuracy == 1.0
    f = score_text("", "noise")
    assert f.char_accuracy == 0.0 and not math.isnan(f.word_accuracy)


def test_per_class_accuracy() -> None:
    # digits: '1','2','3' -> '3' dropped; punctuation '!','!' -> one dropped; letters all kept
    f = score_text("abc 123 !!", "abc 12 !")
    acc = f.class_accuracy()
    assert acc["letter"] == 1.0
    assert acc["digit"] == pytest.approx(2 / 3)
    assert acc["punct"] == pytest.approx(1 / 2)
    assert acc["cjk"] is None


def test_rare_strings_are_their_own_class() -> None:
    truth = "key 3f2a9c1e-77b0 is here"
    classes = char_classes(normalize(truth))
    assert classes[4:17] == ["rare"] * 13  # the 13-character id, letters and digits alike
    assert classes[17] is None
    assert classes[0:3] == ["letter"] * 3
    f = score_text(truth, "key 3f2a9cle-77b0 is here")  # '1' read as 'l'
    assert f.rare_strings == 1 and f.rare_string_accuracy == 0.0
    assert f.class_accuracy()["rare"] == pytest.approx(12 / 13)
    assert score_text(truth, truth).rare_string_accuracy == 1.0


def test_cjk_class() -> None:
    f = score_text("中文字", "中字")
    assert f.class_accuracy()["cjk"] == pytest.approx(2 / 3)


def test_document_is_micro_average_of_pages() -> None:
    doc, pages = score_pages(["aaaa", "bb"], ["aaab", "bb"])
    assert [p.char_edits for p in pages] == [1, 0]
    assert doc.chars == 6 and doc.char_edits == 1 and doc.pages == 2
    assert doc.char_accuracy == pytest.approx(5 / 6)


def test_page_count_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 ground-truth pages but 1"):
        score_pages(["a", "b"], ["a"])


@given(st.text(max_size=200), st.text(max_size=200))
def test_accuracies_are_bounded(truth: str, read: str) -> None:
    f = score_text(truth, read)
    for value in (f.char_accuracy, f.word_accuracy):
        assert 0.0 <= value <= 1.0
    assert total([f, f]).char_accuracy == pytest.approx(f.char_accuracy)


@given(st.text(max_size=200))
def test_reading_back_the_truth_is_perfect(truth: str) -> None:
    f = score_text(truth, truth)
    assert f.char_accuracy == 1.0 and f.word_accuracy == 1.0
    assert all(v in (None, 1.0) for v in f.class_accuracy().values())


# ----------------------------------------------------------------------------- alignment
def test_align_marks_misread_dropped_and_inserted_characters() -> None:
    from glyph.measure.fidelity import align

    # hand-aligned: "0" read for "O", "s" dropped, "!" inserted
    segs = [(s.tag, s.truth, s.read) for s in align("FOO bars\nend", "F0O bar end!")]
    assert segs == [
        ("equal", "F", "F"),
        ("replace", "O", "0"),
        ("equal", "O bar", "O bar"),
        ("delete", "s", ""),
        ("equal", "\nend", " end"),  # the page's line break is kept for display, not counted
        ("insert", "", "!"),
    ]


@given(st.text(alphabet="ab \n", max_size=40), st.text(alphabet="abc \n", max_size=40))
def test_align_partitions_both_texts_and_its_edits_are_the_score(truth: str, read: str) -> None:
    from rapidfuzz.distance import Levenshtein

    from glyph.measure.fidelity import align

    segs = align(truth, read)
    assert normalize("".join(s.truth for s in segs)) == normalize(truth)
    assert normalize("".join(s.read for s in segs)) == normalize(read)
    for s in segs:  # equal stretches are the same characters (line breaks aside); others are edits
        same = s.truth.replace("\n", " ") == s.read.replace("\n", " ")
        assert same == (s.tag == "equal")
    edits = sum(max(len(s.truth), len(s.read)) for s in segs if s.tag != "equal")
    assert edits == Levenshtein.distance(normalize(truth), normalize(read)) == score_text(truth, read).char_edits


def test_confusion_pairs_of_known_substitutions() -> None:
    from collections import Counter

    from glyph.measure import confusions

    truth = "the number 2634501 is held by IZYYV"
    read = "the numiber 26345oi is held by iZYYV"
    assert confusions(truth, read) == Counter({("", "i"): 1, ("01", "oi"): 1, ("I", "i"): 1})
    assert confusions("abc  def", "abc def") == Counter()  # whitespace runs are not confusions
    assert confusions("abc", "ab") == Counter({("c", ""): 1})
    assert confusions("x", "x") + confusions("ab", "b") == Counter({("a", ""): 1})

"""Official metrics on hand-computed cases (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from glyph.eval.metrics import (
    classification,
    code_sim,
    count,
    mrcr,
    normalize_answer,
    qa_f1,
    qa_f1_zh,
    retrieval,
    retrieval_zh,
    rouge,
    rouge_zh,
    score,
    string_match_all,
    string_match_part,
    zh_tokenizer_name,
)


def test_ruler_string_match() -> None:
    # RULER: each reference found (case-insensitively) counts 1/len(refs)
    assert string_match_all("The numbers are 7 and 9", ["7", "8"]) == 0.5
    assert string_match_all("ALPHA-BETA", ["alpha-beta"]) == 1.0
    assert string_match_all("nothing", ["x", "y", "z"]) == 0.0
    assert string_match_part("The numbers are 7 and 9", ["7", "8"]) == 1.0
    assert string_match_part("none", ["7", "8"]) == 0.0


def test_qa_f1() -> None:
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    # "cat sat" vs "cat sat down": 2 common; P = 2/2, R = 2/3; F1 = 2PR/(P+R) = 0.8
    assert qa_f1("The cat sat", "cat sat down") == pytest.approx(0.8)
    # "paris france" vs "paris": P = 1/2, R = 1 -> 2/3
    assert qa_f1("Paris, France!", "paris") == pytest.approx(2 / 3)
    assert qa_f1("a an the", "the") == 0.0  # both normalise to nothing
    # repeated tokens count with multiplicity: "a a b"->"b"? no: articles go; "x x y" vs "x y": common x1 y1 = 2; P=2/3 R=1
    assert qa_f1("x x y", "x y") == pytest.approx(0.8)


def test_qa_f1_zh() -> None:
    assert qa_f1_zh("2001年", "2001年") == 1.0
    if zh_tokenizer_name() == "chars":
        # characters: pred [北,京,大,学], ref [北,京]; P = 2/4, R = 1 -> 2/3
        assert qa_f1_zh("北京大学。", "北京") == pytest.approx(2 / 3)
    else:  # jieba keeps 北京大学 as one word
        assert qa_f1_zh("北京大学。", "北京") == 0.0


def test_rouge_l_as_the_rouge_package_computes_it() -> None:
    # one sentence each; LCS "the cat on the mat" -> distinct words {the, cat, on, mat} = 4;
    # distinct ref words 5, distinct pred words 5: R = P = 0.8, F = 0.8 (minus the 1e-8 guard)
    assert rouge("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(0.8, abs=1e-7)
    # summary level over '.'-split sentences: ref "a c" gets {a} from "a b" and {c} from "c d",
    # ref "b d" adds {b, d}: union 4 of 4 distinct words each side -> F = 1, where a plain
    # word-level LCS of "a b c d" and "a c b d" would give 3/4
    assert rouge("a b. c d", "a c. b d") == pytest.approx(1.0, abs=1e-7)
    # ties: ref ", d cat b f a a a" and pred "a g g cat , , a" have LCSs of length 2 with
    # different words ("cat a", ", a", "a a"); the package's backtracking keeps "a a": union {a},
    # R = 1/8 (8 distinct ref words over both sentences), P = 1/4 -> F = 1/6
    assert rouge("a g g cat , , a", "h e . , d cat b f a a a") == pytest.approx(1 / 6, abs=1e-7)
    assert rouge("", "anything") == 0.0 and rouge("...", "x") == 0.0  # empty side: 0 as LongBench catches it
    assert rouge_zh("今天 天气 很好", "今天 天气 很好") == pytest.approx(1.0, abs=1e-7)


def test_classification() -> None:
    classes = ["Location", "Loc", "Person", "Number"]
    assert classification("Person", "Person", all_classes=classes) == 1.0
    assert classification("Person or Number", "Person", all_classes=classes) == 0.5  # 1/2 classes named
    assert classification("Number", "Person", all_classes=classes) == 0.0
    # "Loc" is inside the right class "Location" and is dropped: 1/1
    assert classification("Location", "Location", all_classes=classes) == 1.0
    # the official loop removes while iterating: after dropping "Loc" it skips the next name
    assert classification("Location Loc Person", "Location", all_classes=["Location", "Loc", "Person"]) == 0.5


def test_retrieval_and_count() -> None:
    assert retrieval("Paragraph 3", "Paragraph 3") == 1.0
    assert retrieval("Paragraph 3 or Paragraph 4", "Paragraph 3") == 0.5  # 1 of 2 numbers right
    assert retrieval("I don't know", "Paragraph 3") == 0.0
    assert retrieval_zh("段落12", "段落12") == 1.0
    assert count("There are 12 unique paragraphs, not 13.", "12") == 0.5
    assert count("twelve", "12") == 0.0


def test_code_sim() -> None:
    # fences and comments are skipped; "x = foo(1)" vs "x = foo(2)": 9 of 10 chars match,
    # SequenceMatcher ratio 2*9/20 = 0.9
    assert code_sim("```python\n# next line\nx = foo(1)\n```", "x = foo(2)") == 0.9
    assert code_sim("\nreturn a * b", "return a * b") == 1.0
    assert code_sim("// only a comment", "x = 1") == 0.0
    # "abcd" vs "abce": 2*3/8 = 0.75
    assert code_sim("abcd", "abce") == 0.75


def test_mrcr_grade() -> None:
    truth = "abcHello world"
    assert mrcr("abcHello world", truth, random_string_to_prepend="abc") == 1.0
    assert mrcr("Hello world", truth, random_string_to_prepend="abc") == 0.0  # no prefix, no credit
    assert mrcr(" abcHello world", truth, random_string_to_prepend="abc") == 0.0  # must *start* with it
    # rest "Hello" vs "Hello world": 2*5/16 = 0.625
    assert mrcr("abcHello", truth, random_string_to_prepend="abc") == 0.625


def test_score_dispatch() -> None:
    # LongBench: max over references
    assert score("qa_f1", "The cat sat", ["cat", "cat sat down"]) == pytest.approx(0.8)
    # first-line rule for trec/triviaqa/samsum/lsht (and their _e variants)
    classes = ["HUM", "LOC"]
    assert score("classification", "\nHUM\nLOC", ["HUM"], task="trec", all_classes=classes) == 1.0
    assert score("classification", "HUM LOC", ["HUM"], task="trec_e", all_classes=classes) == 0.5
    assert score("classification", "\nHUM\nLOC", ["HUM"], task="other", all_classes=classes) == 0.5
    assert score("string_match_all", "7 9", ["7", "8"]) == 0.5
    assert score("mrcr", "pxA", ["pxA"], random_string_to_prepend="px") == 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        score("bleu", "a", ["a"])

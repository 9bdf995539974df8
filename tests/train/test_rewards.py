"""Reward functions against hand-computed values: the format rules one by one, OCR similarity,
accuracy under the official metrics, which rows each reward scores, and TRL's call shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glyph.train.rewards import (
    AccuracyReward,
    FormatReward,
    OcrReward,
    completion_text,
    format_score,
    ocr_similarity,
    parse_completion,
    thinking_response,
)


@pytest.mark.parametrize(
    ("text", "score", "answer"),
    [
        ("<think>the number is 7</think>7", 1.0, "7"),
        ("  \n<think>\nreason\n</think>\n\nParis  ", 1.0, "Paris"),  # whitespace around is fine
        ("<think>r</think><answer>Paris</answer>", 1.0, "Paris"),  # GLM-4.1V-Thinking's wrapper
        ("<think>r</think> <answer> Paris </answer> ", 1.0, "Paris"),
        ("", 0.0, ""),  # empty completion
        ("   ", 0.0, ""),
        ("Paris", 0.0, "Paris"),  # no thinking: all answer, wrong format
        ("<think>still thinking about it", 0.0, ""),  # never closed (what a cut-off completion looks like)
        ("<think>r</think>", 0.0, ""),  # no answer
        ("<think>r</think>   \n", 0.0, ""),
        ("<think>   </think>Paris", 0.0, "Paris"),  # empty thinking
        ("<think></think>Paris", 0.0, "Paris"),
        ("Sure! <think>r</think>Paris", 0.0, "Paris"),  # text before <think>
        ("r</think>Paris", 0.0, "Paris"),  # no opening tag
        ("<think>a</think><think>b</think>Paris", 0.0, "Paris"),  # two blocks
        ("<think>a<think>b</think>Paris", 0.0, "Paris"),  # nested opening
        ("<think>r</think>Paris<think>more</think>", 0.0, ""),  # thinking after the answer: last block wins
        ("<think>r</think><answer>Paris", 0.0, "<answer>Paris"),  # unbalanced wrapper
        ("<think>r</think><answer></answer>", 0.0, ""),  # empty wrapped answer
        ("<think>r</think>Paris <answer>x</answer>", 0.0, "Paris <answer>x</answer>"),  # wrapper not whole
        ("<think>r</think>Paris</think>", 0.0, ""),
    ],
)
def test_format_rules_on_hand_made_completions(text: str, score: float, answer: str) -> None:
    assert format_score(text) == score
    parsed = parse_completion(text)
    assert parsed.answer == answer
    assert parsed.well_formed is (score == 1.0)
    if score == 0.0:
        assert parsed.problem  # it says why


def test_a_completion_cut_by_the_length_limit_scores_zero_however_it_looks() -> None:
    reward = FormatReward(stop_ids=[9, 10])
    done, cut = [5, 6, 9], [5, 6, 7]  # the last token is a stop token / is not
    text = "<think>r</think>42"
    assert reward([None, None], [text, text], completion_ids=[done, cut], task=["qa", "qa"]) == [1.0, 0.0]
    assert reward([None], [text], completion_ids=[[]], task=["qa"]) == [0.0]  # nothing generated
    assert FormatReward()([None], [text], completion_ids=[cut], task=["qa"]) == [1.0]  # stop ids unknown


def test_over_long_completion_of_thinking_only_is_malformed() -> None:
    text = "<think>" + "and then " * 2000  # ran out of tokens mid-thought
    assert format_score(text) == 0.0 and parse_completion(text).answer == ""


def test_thinking_response_round_trips_through_the_parser() -> None:
    text = thinking_response(" 42 ", "\nsix times seven\n")
    assert text == "<think>\nsix times seven\n</think>\n\n42"
    assert parse_completion(text).well_formed and parse_completion(text).answer == "42"
    assert thinking_response("42", None) == "42"


@given(st.text(alphabet=st.characters(blacklist_characters="<>"), min_size=1).filter(str.strip),
       st.text(alphabet=st.characters(blacklist_characters="<>"), min_size=1).filter(str.strip))  # fmt: skip
def test_any_thinking_and_answer_without_tags_make_a_well_formed_completion(
    thinking: str, answer: str
) -> None:
    parsed = parse_completion(thinking_response(answer, thinking))
    assert parsed.well_formed and parsed.answer == answer.strip()


@pytest.mark.parametrize(
    ("prediction", "reference", "value"),
    [
        ("hello", "hello", 1.0),
        ("hallo", "hello", 0.8),  # 1 substitution / 5
        ("", "hello", 0.0),  # empty completion
        ("", "", 1.0),
        ("abcabc", "abc", 0.5),  # over-long: 3 insertions / 6 (the longer length)
        ("hello\n  world", "hello world", 1.0),  # line breaks and runs of spaces are layout
        ("Hello World", "hello world", 1 - 2 / 11),  # case counts
        ("xyz", "hello", 0.0),  # 5 edits / 5
    ],
)
def test_ocr_similarity_by_hand(prediction: str, reference: str, value: float) -> None:
    assert ocr_similarity(prediction, reference) == pytest.approx(value)


def test_rewards_score_only_their_rows_in_trls_call_shape() -> None:
    # conversational completions, as GRPOTrainer passes them for chat prompts
    completions = [
        [{"role": "assistant", "content": "<think>look</think>The key is 4096."}],
        [{"role": "assistant", "content": "<think>look</think>hallo"}],
        [{"role": "assistant", "content": "4096"}],
    ]
    columns = {
        "task": ["qa", "ocr", "qa"],
        "references": [["4096"], ["hello"], ["4096", "7"]],
        "metric": ["string_match_all", "", "string_match_all"],
        "question": ["What is the key?", "", "What are the keys?"],
    }
    acc = AccuracyReward()
    assert acc([None] * 3, completions, **columns) == [1.0, None, 0.5]  # 1 of 2 references found
    assert AccuracyReward(threshold=1.0)([None] * 3, completions, **columns) == [1.0, None, 0.0]
    assert FormatReward()([None] * 3, completions, **columns) == [1.0, None, 0.0]
    assert OcrReward()([None] * 3, completions, **columns) == [None, pytest.approx(0.8), None]
    f1 = AccuracyReward(metric="qa_f1")([None] * 3, completions, **columns)
    # SQuAD normalisation: "The key is 4096." -> [key, is, 4096] against [4096]: P = 1/3, R = 1, F1 = 0.5
    assert f1[0] == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert acc.__name__ == "accuracy" and OcrReward().__name__ == "ocr"


def test_accuracy_needs_a_known_metric() -> None:
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        AccuracyReward(metric="bleu")
    with pytest.raises(ValueError, match="has no metric"):
        AccuracyReward()([None], ["x"], task=["qa"], references=[["x"]], metric=[""])
    with pytest.raises(ValueError, match="'references' has 1 values for 2 completions"):
        AccuracyReward(metric="qa_f1")([None] * 2, ["x", "y"], task=["qa", "qa"], references=[["x"]])


def test_completion_text_accepts_strings_messages_and_content_parts() -> None:
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "abc"}]) == "abc"
    assert (
        completion_text(
            [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
        )
        == "ab"
    )
    assert completion_text([{"role": "assistant", "content": None}]) == ""
    with pytest.raises(TypeError):
        completion_text(3)

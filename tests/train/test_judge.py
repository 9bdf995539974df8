"""The LLM judge against scripted OpenAI-compatible servers on loopback: fixed, malformed and
failing verdicts, retries, the cache, and the JudgeReward that GRPO calls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # shared loopback helpers
from serve_helpers import FakeUpstream, completion, json_response

from glyph.train.judge import JudgeSpec, LlmJudge, parse_verdict
from glyph.train.rewards import JudgeReward

FAST = {"backoff_initial": 0.01, "timeout": 10}


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("CORRECT", True), ("INCORRECT", False), ("correct", True), ("  Incorrect.\n", False),
        ("<think>the reference says 7</think>\nCORRECT", True),
        ("", None), ("Correct!", None), ("CORRECT INCORRECT", None), ("The answer is CORRECT", None),
        ("yes", None), ("**CORRECT**", None), ("CORRECT.\nbecause...", None), ("<think>x</think>", None),
    ],
)  # fmt: skip
def test_verdicts_are_parsed_strictly(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


def _graded(body: dict[str, Any]) -> str:
    """The answer a judge request asks about (the line after 'Answer to grade:')."""
    return body["messages"][0]["content"].split("Answer to grade:\n", 1)[1].split("\n")[0]


def _judge(url: str, **spec: Any) -> LlmJudge:
    return LlmJudge(JudgeSpec(base_url=url, api_key_env=None, **{**FAST, **spec}))


def test_fixed_verdicts_and_what_the_judge_is_shown() -> None:
    def respond(body: dict[str, Any], n: int) -> Any:
        prompt = body["messages"][-1]["content"]
        return json_response(completion("CORRECT" if "Answer to grade:\n4096" in prompt else "INCORRECT"))

    upstream = FakeUpstream(respond, model="judge-model")
    with upstream.running() as url:
        judge = _judge(url)
        verdicts = judge.judge_many(
            [("What is the key?", ["4096"], "4096"), ("What is the key?", ["4096"], "17")]
        )
    assert [v.status for v in verdicts] == ["correct", "incorrect"] and [v.score for v in verdicts] == [
        1.0,
        0.0,
    ]
    body = upstream.requests[0]
    assert body["model"] == "judge-model"  # taken from /v1/models
    assert body["temperature"] == 0.0 and body["max_tokens"] == 8
    text = body["messages"][0]["content"]
    assert "Question:\nWhat is the key?" in text and "Reference answer(s):\n4096" in text
    assert judge.counts == {"correct": 1, "incorrect": 1}


def test_malformed_and_failing_verdicts_score_zero_are_counted_and_never_raise() -> None:
    replies = {"a": "Correct!", "b": "CORRECT", "c": None}  # c: the server fails every time

    def respond(body: dict[str, Any], n: int) -> Any:
        reply = replies[_graded(body)]
        if reply is None:
            return json_response({"error": {"message": "overloaded"}}, status=503)
        return json_response(completion(reply))

    upstream = FakeUpstream(respond)
    with upstream.running() as url:
        judge = _judge(url, model="m", max_retries=2)
        reward = JudgeReward(judge)
        logged: dict[str, float] = {}
        scores = reward(
            [None] * 5,
            [
                "<think>x</think>a",
                "<think>x</think>b",
                "<think>x</think>c",
                "<think>never closed",
                "page text",
            ],
            task=["qa", "qa", "qa", "qa", "ocr"],
            references=[["r"]] * 5,
            question=["q"] * 5,
            log_metric=lambda k, v: logged.__setitem__(k, v),
        )
    assert scores == [0.0, 1.0, 0.0, 0.0, None]  # malformed, correct, failed, empty answer, not a QA row
    assert judge.counts == {"malformed": 1, "correct": 1, "failed": 1, "empty": 1}
    assert logged == {"judge/malformed": 0.25, "judge/failed": 0.25}
    answers = [_graded(body) for body in upstream.requests]
    assert answers.count("c") == 3  # the first try and 2 retries, then given up
    assert "" not in answers  # the empty answer was never sent


def test_an_unreachable_judge_fails_each_verdict_without_raising() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = _judge(f"http://127.0.0.1:{port}", model="m", max_retries=1)
    verdicts = judge.judge_many([("q", ["r"], "a"), ("q", ["r"], "b")])
    assert [v.status for v in verdicts] == ["failed", "failed"]
    assert "cannot reach" in verdicts[0].detail


def test_identical_answers_are_judged_once() -> None:
    upstream = FakeUpstream(lambda body, n: json_response(completion("CORRECT")))
    with upstream.running() as url:
        judge = _judge(url, model="m")
        verdicts = judge.judge_many([("q", ["r"], "same")] * 6 + [("q", ["r"], "other")])
        again = judge.judge_many([("q", ["r"], "same")])
    assert all(v.status == "correct" for v in verdicts + again)
    assert upstream.calls == 2  # repeats within a batch are sent once; later batches hit the cache
    assert judge.counts["correct"] == 8


def test_the_prompt_must_keep_its_placeholders() -> None:
    with pytest.raises(ValueError, match=r"must contain \{answer\}"):
        JudgeSpec(base_url="http://x", prompt="Is {question} answered by {reference}?")

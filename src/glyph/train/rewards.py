"""GRPO reward functions: accuracy (official metrics or an LLM judge), the thinking format, and OCR.

Every reward is a callable with TRL's reward signature,
``reward(prompts, completions, completion_ids, **columns) -> list[float | None]``, where the
columns are the GRPO dataset's (:mod:`glyph.train.grpo.data`): ``task``, ``references`` (the
reference answers, or for OCR the text drawn on the pages), ``question`` and ``metric``. A
reward returns ``None`` for a row it does not apply to (the OCR reward on a question, accuracy
on an OCR prompt); TRL then leaves that reward out of the row's sum and of its logged mean, so
``rewards/<name>/mean`` is the mean over the rows it scored.

The completion format (what :func:`parse_completion` accepts as well formed) is strict:

1. the completion starts (after optional whitespace) with ``<think>``;
2. it holds exactly one ``<think>`` and exactly one ``</think>``;
3. the thinking between them has a non-whitespace character;
4. the answer after ``</think>`` is non-empty after stripping; it may be wrapped whole in one
   ``<answer>...</answer>`` pair (GLM-4.1V-Thinking's style), whose inside must then be
   non-empty; the answer holds no further ``<think>``, ``</think>``, ``<answer>`` or ``</answer>``;
5. the completion ended on a stop token: one cut by ``max_completion_length`` scores 0 however
   it looks (its answer may be cut short). Checked when the stop token ids are known.

Accuracy and OCR rewards score the *answer*: the text after the last ``</think>`` (unwrapped from
``<answer>`` tags); a completion that opens ``<think>`` and never closes it has the empty answer;
one without any thinking tags is all answer (a model trained without thinking is still scored).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import Levenshtein

from glyph.eval.metrics import METRICS, score
from glyph.measure.fidelity import normalize

__all__ = [
    "OCR_TASKS",
    "AccuracyReward",
    "FormatReward",
    "JudgeReward",
    "OcrReward",
    "Parsed",
    "completion_text",
    "format_score",
    "ocr_similarity",
    "parse_completion",
    "thinking_response",
]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
#: Tasks whose reference is the text drawn on the pages (scored by the OCR reward, not accuracy).
OCR_TASKS = frozenset({"ocr"})


@dataclass(frozen=True)
class Parsed:
    """A completion split into thinking and answer; ``problem`` says why it is not well formed."""

    thinking: str | None
    answer: str
    problem: str = ""

    @property
    def well_formed(self) -> bool:
        return not self.problem


def _unwrap_answer(text: str) -> tuple[str, str]:
    """(answer, problem): the text without one whole-answer ``<answer>`` wrapper."""
    body = text.strip()
    if ANSWER_OPEN in body or ANSWER_CLOSE in body:
        if not (body.startswith(ANSWER_OPEN) and body.endswith(ANSWER_CLOSE)):
            return body, "<answer> tags do not wrap the whole answer"
        body = body[len(ANSWER_OPEN) : -len(ANSWER_CLOSE)].strip()
    return body, ""


def parse_completion(text: str) -> Parsed:
    """Thinking and answer of a completion, and whether it is well formed (module doc, rules 1-4)."""
    stripped = text.lstrip()
    opens, closes = text.count(THINK_OPEN), text.count(THINK_CLOSE)
    if closes:
        head, _, tail = text.rpartition(THINK_CLOSE)
        thinking = head.split(THINK_OPEN, 1)[1] if THINK_OPEN in head else head
        answer, problem = _unwrap_answer(tail)
    elif stripped.startswith(THINK_OPEN):
        return Parsed(stripped[len(THINK_OPEN) :], "", "the thinking is never closed with </think>")
    else:
        answer, problem = _unwrap_answer(text)
        return Parsed(None, answer, problem or "no <think>...</think> block")
    if not stripped.startswith(THINK_OPEN):
        problem = "the completion does not start with <think>"
    elif opens != 1 or closes != 1:
        problem = f"{opens} <think> and {closes} </think> tags (want one each)"
    elif not thinking.strip():
        problem = "the thinking is empty"
    elif not problem and not answer:
        problem = "the answer after </think> is empty"
    elif not problem and any(tag in answer for tag in TAGS):
        problem = "the answer holds further thinking or answer tags"
    return Parsed(thinking, answer, problem)


def thinking_response(answer: str, thinking: str | None) -> str:
    """An SFT target in the canonical form ``<think>\\n...\\n</think>\\n\\nanswer`` (plain answer without thinking).

    The canonical spacing is the one Qwen3-style chat templates re-render thinking into, so the
    text survives their templates unchanged (the collator checks that it does).
    """
    if thinking is None:
        return answer.strip()
    return f"{THINK_OPEN}\n{thinking.strip()}\n{THINK_CLOSE}\n\n{answer.strip()}"


def format_score(text: str, ended: bool = True) -> float:
    """1.0 for a well-formed completion that ended on a stop token, else 0.0 (module doc)."""
    return 1.0 if ended and parse_completion(text).well_formed else 0.0


def ocr_similarity(prediction: str, reference: str) -> float:
    """1 - normalised Levenshtein distance (rapidfuzz; divided by the longer length), whitespace-normalised.

    Whitespace runs count as one space (``glyph.measure.fidelity.normalize``): line breaks of a
    page are layout, not text. Two empty strings are identical (1.0).
    """
    return 1.0 - Levenshtein.normalized_distance(normalize(prediction), normalize(reference))


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational ``[{"role": "assistant", "content": ...}]``."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for message in completion:
            content = message.get("content") if isinstance(message, dict) else message
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            parts.append(content or "")
        return "".join(parts)
    raise TypeError(f"a completion must be a string or a list of messages, got {type(completion).__name__}")


def _column(columns: dict[str, Any], name: str, n: int, default: Any) -> list[Any]:
    value = columns.get(name)
    if value is None:
        return [default] * n
    if len(value) != n:
        raise ValueError(f"reward column {name!r} has {len(value)} values for {n} completions")
    return list(value)


class _Reward:
    """Shared plumbing: the name TRL logs under, which tasks the reward applies to."""

    #: the tasks this reward scores; None: every task not in ``exclude``
    def __init__(self, name: str, tasks: Collection[str] | None, exclude: Collection[str] = ()) -> None:
        self.__name__ = name
        self.tasks = frozenset(tasks) if tasks is not None else None
        self.exclude = frozenset(exclude)

    def applies(self, task: str) -> bool:
        if self.tasks is not None:
            return task in self.tasks
        return task not in self.exclude

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__!r})"


class FormatReward(_Reward):
    """The thinking-format reward: :func:`format_score` (1 or 0) on every row outside the OCR tasks.

    ``stop_ids`` are the tokens that end a completion (the checkpoint's EOS ids); with them a
    completion cut by ``max_completion_length`` scores 0 (rule 5).
    """

    def __init__(
        self, stop_ids: Collection[int] = (), tasks: Collection[str] | None = None, name: str = "format"
    ) -> None:
        super().__init__(name, tasks, exclude=OCR_TASKS)
        self.stop_ids = frozenset(int(i) for i in stop_ids)

    def ended(self, ids: Sequence[int] | None) -> bool:
        if not self.stop_ids or ids is None:
            return True
        return bool(len(ids)) and int(ids[-1]) in self.stop_ids

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Sequence[Any] | None = None,
        **columns: Any,
    ) -> list[float | None]:  # fmt: skip
        n = len(completions)
        tasks = _column(columns, "task", n, "")
        ids = list(completion_ids) if completion_ids is not None else [None] * n
        return [
            format_score(completion_text(c), self.ended(i)) if self.applies(t) else None
            for c, i, t in zip(completions, ids, tasks)
        ]


class AccuracyReward(_Reward):
    """Accuracy of the answer under one of the official metrics (``glyph.eval.metrics``).

    ``metric``: a metric name, or ``None`` to use each row's own ``metric`` column (RULER rows say
    ``string_match_all``); ``threshold`` makes the reward binary (1.0 iff the score reaches it),
    as the paper's {0, 1} rewards are.
    """

    def __init__(
        self, metric: str | None = None, threshold: float | None = None, tasks: Collection[str] | None = None,
        name: str = "accuracy",
    ) -> None:  # fmt: skip
        super().__init__(name, tasks, exclude=OCR_TASKS)
        if metric is not None and metric not in METRICS:
            raise ValueError(f"reward {name}: unknown metric {metric!r}; known: {', '.join(METRICS)}")
        if threshold is not None and not 0 < threshold <= 1:
            raise ValueError(f"reward {name}: threshold must be in (0, 1], got {threshold}")
        self.metric = metric
        self.threshold = threshold

    def score_one(self, text: str, references: Sequence[str], metric: str, task: str = "") -> float:
        if not metric:
            raise ValueError(f"reward {self.__name__}: the row has no metric and none is configured")
        value = score(metric, parse_completion(text).answer, list(references), task=task)
        return value if self.threshold is None else float(value >= self.threshold)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        n = len(completions)
        tasks = _column(columns, "task", n, "")
        refs = _column(columns, "references", n, [])
        metrics = _column(columns, "metric", n, "")
        out: list[float | None] = []
        for c, t, r, m in zip(completions, tasks, refs, metrics):
            out.append(
                self.score_one(completion_text(c), r, self.metric or m, t) if self.applies(t) else None
            )
        return out


class OcrReward(_Reward):
    """The OCR auxiliary reward: :func:`ocr_similarity` of the answer to the page text, on OCR rows only."""

    def __init__(self, tasks: Collection[str] | None = None, name: str = "ocr") -> None:
        super().__init__(name, tasks if tasks is not None else OCR_TASKS)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        n = len(completions)
        tasks = _column(columns, "task", n, "")
        refs = _column(columns, "references", n, [])
        return [
            ocr_similarity(parse_completion(completion_text(c)).answer, "\n".join(r))
            if self.applies(t)
            else None
            for c, t, r in zip(completions, tasks, refs)
        ]


class JudgeReward(_Reward):
    """Accuracy by a reference-based LLM judge (:class:`glyph.train.judge.LlmJudge`): 1 correct, 0 otherwise.

    A malformed or failed verdict scores 0 and is counted (``judge/malformed``, ``judge/failed``:
    the fraction of this batch's verdicts, logged through TRL's ``log_metric``); it never stops
    the run. Empty answers are judged incorrect without a request.
    """

    def __init__(self, judge: Any, tasks: Collection[str] | None = None, name: str = "judge") -> None:
        super().__init__(name, tasks, exclude=OCR_TASKS)
        self.judge = judge

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], log_metric: Callable[[str, float], None] | None = None,
        **columns: Any,
    ) -> list[float | None]:  # fmt: skip
        n = len(completions)
        tasks = _column(columns, "task", n, "")
        refs = _column(columns, "references", n, [])
        questions = _column(columns, "question", n, "")
        rows = [i for i, t in enumerate(tasks) if self.applies(t)]
        items = [
            (questions[i], list(refs[i]), parse_completion(completion_text(completions[i])).answer)
            for i in rows
        ]
        verdicts = self.judge.judge_many(items)
        out: list[float | None] = [None] * n
        for i, v in zip(rows, verdicts):
            out[i] = v.score
        if log_metric is not None and verdicts:
            for status in ("malformed", "failed"):
                log_metric(f"judge/{status}", sum(v.status == status for v in verdicts) / len(verdicts))
        return out

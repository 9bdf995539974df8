"""The LLM proposer against a real HTTP server on loopback (FastAPI under uvicorn, canned completions):
replies are parsed (fences, prose), validated, repaired or replaced and counted; rationales reach the log;
the prompt carries the space, the history and the failures."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState
from search_helpers import SMALL_SPACE, FakeLLM, reply

from glyph.search import session
from glyph.search.breed import Breeder
from glyph.search.proposer import LLMProposer, LLMSettings, failure_notes, parse_proposals
from glyph.search.runner import SearchSettings
from glyph.search.selection import Scoring, TrialRecord
from glyph.search.space import SearchSpace

SPACE = SearchSpace.from_dict(SMALL_SPACE)
SCORING = Scoring(0.9, 0.8)


def _history() -> list[TrialRecord]:
    seed = SPACE.seed_values
    rows = [
        (0, seed, 0.97, 2.0, {"letter": 0.99, "digit": 0.71, "punct": 0.9, "rare": 0.4}),
        (1, {**seed, "font-size": 7.0, "line-height": 8.0}, 0.93, 2.8, {"letter": 0.97, "digit": 0.62, "rare": 0.2}),
        (2, {**seed, "dpi": 48}, 0.6, 4.1, {"letter": 0.7, "digit": 0.3, "rare": 0.0}),
    ]
    return [TrialRecord(n, 0, "seed", dict(v), a, c, metrics={"class_accuracy": ca, "rare_string_accuracy": ca["rare"]})
            for n, v, a, c, ca in rows]


def _breeder(log: list[dict[str, Any]], history: list[TrialRecord]) -> Breeder:
    seen = {SPACE.config(r.values).content_hash() for r in history}
    return Breeder(SPACE, SCORING, random.Random(0), seen, log=log.append)


def _proposer(url: str) -> LLMProposer:
    return LLMProposer(LLMSettings(url, "fake-proposer", timeout=10, max_retries=2))


def test_parse_json_in_fences_prose_and_shapes() -> None:
    items = [{"rationale": "r", "config": {"dpi": 60}}]
    assert parse_proposals(json.dumps({"proposals": items})) == items
    assert parse_proposals(reply(items, fenced=True)) == items
    assert parse_proposals("Sure! " + json.dumps(items) + " hope it helps") == items
    assert parse_proposals('```\n{"configs": [{"dpi": 60}]}\n```') == [{"dpi": 60}]
    assert parse_proposals('{"dpi": 60, "rationale": "x"}') == [{"dpi": 60, "rationale": "x"}]
    with pytest.raises(ValueError):
        parse_proposals("I cannot help with that.")


def test_valid_fenced_invalid_duplicate_and_garbage_proposals_are_counted() -> None:
    history = _history()
    proposals = [
        {"rationale": "smaller type at the same dpi", "config": {"font-size": 8, "line-height": 9}},  # ok (partial)
        {"rationale": "huge and sloppy", "config": {"font_size": 100, "dpi": "abc", "alignment": "justify",
                                                     "colour": "red"}},  # repaired
        {"rationale": "back to the reference", "config": dict(history[0].values)},  # duplicate of trial 0
        {"rationale": "same again", "config": {"font-size": 8, "line-height": 9}},  # duplicate within the batch
        "make the text bigger",  # invalid: not a config
        {"rationale": "nothing known", "config": {"foo": 1}},  # invalid: no knob at all
        {"rationale": "one too many", "config": {"font-size": 6}},  # extra: ignored
    ]
    with FakeLLM([reply(proposals, fenced=True)]) as llm:
        log: list[dict[str, Any]] = []
        out, stats = _breeder(log, history).next(1, 8, history, llm_share=0.75, proposer=_proposer(llm.url),
                                                 failures=failure_notes(history, SCORING))
        prompt = llm.prompts()[0]
    assert (stats.llm_requested, stats.llm_received, stats.llm_extra) == (6, 7, 1)
    assert (stats.llm_accepted, stats.llm_repaired, stats.llm_duplicate, stats.llm_invalid) == (2, 1, 2, 2)
    assert stats.llm_missing == 0 and stats.llm_error is None
    assert len(out) == 8 and stats.classical == 6  # 4 replacements + 2 to fill the classical share
    assert len({SPACE.config(p.values).content_hash() for p in out}) == 8  # all distinct, all new
    for p in out:
        assert SPACE.contains(p.values)
    llm_out = [p for p in out if p.origin == "llm"]
    assert [p.rationale for p in llm_out] == ["smaller type at the same dpi", "huge and sloppy"]
    assert llm_out[0].values["font-size"] == 8 and llm_out[0].values["dpi"] == history[0].values["dpi"]
    assert llm_out[1].values["font-size"] == 12 and any("colour" in n for n in llm_out[1].notes)
    assert sum("replaces a" in p.rationale for p in out) == 4
    # every LLM proposal is in the log with its rationale and status
    logged = [r for r in log if r.get("event") == "proposal" and r["origin"] == "llm"]
    assert [r["status"] for r in logged] == ["ok", "repaired", "duplicate", "duplicate", "invalid", "invalid"]
    assert logged[0]["rationale"] == "smaller type at the same dpi"
    assert any(r.get("event") == "llm-reply" for r in log)
    # the prompt: space, history with scores, failures
    assert '"font-size": {"type": "float", "low": 6.0, "high": 12.0, "step": 1' in prompt
    assert '"trial": 1' in prompt and '"accuracy": 0.93' in prompt and '"compression": 2.8' in prompt
    assert "digit characters: mean accuracy" in prompt and "rare strings" in prompt
    assert "fell under the accuracy floor" in prompt and "Propose 6 NEW configs" in prompt


def test_garbage_reply_falls_back_to_classical_and_says_so() -> None:
    history = _history()
    with FakeLLM(["I am sorry, I cannot produce JSON today."]) as llm:
        log: list[dict[str, Any]] = []
        out, stats = _breeder(log, history).next(1, 4, history, 0.5, _proposer(llm.url))
    assert stats.llm_error and "no JSON" in stats.llm_error
    assert stats.llm_missing == 2 and stats.classical == 4 and len(out) == 4
    assert all(p.origin != "llm" for p in out)
    assert any(r.get("event") == "llm-error" for r in log)


def test_server_errors_are_retried_and_client_errors_are_not() -> None:
    history = _history()
    good = reply([{"rationale": "tighter leading", "config": {"line-height": 9}}])
    with FakeLLM([(503, {"error": {"message": "overloaded"}}), good]) as llm:
        out, stats = _breeder([], history).next(1, 2, history, 0.5, _proposer(llm.url))
        assert len(llm.requests) == 2  # retried once (tenacity) then answered
    assert stats.llm_accepted == 1 and out[0].rationale == "tighter leading"
    with FakeLLM([(400, {"error": {"message": "bad model"}}), good]) as llm:
        out, stats = _breeder([], history).next(1, 2, history, 0.5, _proposer(llm.url))
        assert len(llm.requests) == 1  # a 4xx is the caller's fault: no retry
    assert stats.llm_error and "bad model" in stats.llm_error and len(out) == 2


def test_search_with_llm_keeps_rationales_in_the_study_and_the_log(tmp_path: Path) -> None:
    answers = [reply([
        {"rationale": "shrink type, keep leading ratio", "config": {"font-size": 8, "line-height": 9, "dpi": 72}},
        {"rationale": "justify to fill lines", "config": {"alignment": "JUSTIFY", "font-size": 7, "line-height": 8}},
    ])]
    with FakeLLM(answers) as llm:
        search = session.start(
            f"sqlite:///{tmp_path / 's.db'}", "llm", tmp_path / "out", space=SPACE, evaluator="synthetic",
            settings=SearchSettings(generations=1, population=4, llm_share=0.5),
            llm=LLMSettings(llm.url, "fake-proposer", timeout=10), poll_seconds=0.05,
        )
        search.run()
        prompt = llm.prompts()[0]
    trials = search.store.trials(states=(TrialState.COMPLETE,))
    llm_trials = [t for t in trials if t.user_attrs["origin"] == "llm"]
    assert {t.user_attrs["rationale"] for t in llm_trials} == {"shrink type, keep leading ratio",
                                                                "justify to fill lines"}
    assert all(t.user_attrs["generation"] == 1 for t in llm_trials)
    gen0 = [t.number for t in trials if t.user_attrs["generation"] == 0]
    assert all(f'"trial": {n}' in prompt for n in gen0)  # the whole initial population is in the history
    log = [json.loads(line) for line in (tmp_path / "out" / "proposals.jsonl").read_text().splitlines()]
    assert {r["rationale"] for r in log if r.get("origin") == "llm"} >= {"shrink type, keep leading ratio"}

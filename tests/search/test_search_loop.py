"""The loop: it improves on a fitness with a known optimum, resumes without redoing work, and two
processes share one study (SQLite, and PostgreSQL when a server is up) without duplicating or losing a trial."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState
from search_helpers import SMALL_SPACE, counted

from glyph.search import SearchSettings, SearchSpace, session
from glyph.search.evaluators.synthetic import synthetic_objectives
from glyph.search.selection import Scoring, TrialRecord, front_records
from glyph.search.store import CANDIDATE, TICKET

SPACE = SearchSpace.from_dict(SMALL_SPACE)
HERE = Path(__file__).parent


def hypervolume(records: list[TrialRecord], ref: tuple[float, float] = (0.0, 0.0)) -> float:
    """Area dominated by the front above ``ref`` (accuracy x compression)."""
    front = sorted(front_records(records), key=lambda r: -r.accuracy)
    area, last_c = 0.0, ref[1]
    for r in front:
        if r.compression > last_c:
            area += (r.accuracy - ref[0]) * (r.compression - last_c)
            last_c = r.compression
    return area


def best_possible(scoring: Scoring) -> float:
    """Brute force over the whole (small) space: the known optimum of the synthetic fitness."""
    best = float("-inf")
    for values in itertools.product(*(
        [k.value_at(i) for i in range(k.n_steps + 1)] if hasattr(k, "n_steps") else k.choices
        for k in SPACE.knobs.values()
    )):
        candidate = dict(zip(SPACE.knobs, values))
        if not SPACE.contains(candidate):
            continue
        acc, comp, _ = synthetic_objectives(SPACE.config(candidate))
        best = max(best, scoring.score(acc, comp))
    return best


def test_front_improves_over_generations_towards_the_known_optimum(tmp_path: Path) -> None:
    settings = SearchSettings(generations=6, population=8, seed=3)
    search = session.start(f"sqlite:///{tmp_path / 's.db'}", "improve", tmp_path / "out", space=SPACE,
                           evaluator="synthetic", settings=settings, poll_seconds=0.01)
    search.run()
    records = search.store.records()
    seed_pop = [r for r in records if r.generation == 0]
    assert len(seed_pop) == 8 and len(records) == 8 * 7
    s = settings.scoring
    best_seed = max(s.score(r.accuracy, r.compression) for r in seed_pop)
    best_final = max(s.score(r.accuracy, r.compression) for r in records)
    optimum = best_possible(s)
    assert best_final > best_seed
    assert best_final >= optimum - 0.01 * abs(optimum), (best_final, optimum)
    assert hypervolume(records) > hypervolume(seed_pop)
    # monotone: the front after each generation is at least as good as before
    hv = [hypervolume([r for r in records if r.generation <= g]) for g in range(7)]
    assert hv == sorted(hv)


def _start(tmp_path: Path, name: str, count: Path, heartbeat: int = 5, **options: object) -> session.Search:
    return session.start(f"sqlite:///{tmp_path / 's.db'}", name, tmp_path / "out", space=SPACE,
                         evaluator="counting-synthetic", evaluator_options={"count_file": str(count), **options},
                         settings=SearchSettings(generations=2, population=5, seed=1), poll_seconds=0.01,
                         heartbeat_interval=heartbeat, grace_period=heartbeat)


def _check_no_duplicates(search: session.Search, count: Path) -> None:
    done = search.store.trials(CANDIDATE, (TrialState.COMPLETE,))
    hashes = [e["hash"] for e in counted(count)]
    assert len(set(hashes)) == len(hashes), Counter(hashes).most_common(3)  # no config evaluated twice
    assert sorted(hashes) == sorted(t.user_attrs["config_hash"] for t in done)
    assert not search.store.trials(None, (TrialState.WAITING, TrialState.RUNNING))


def test_resume_after_a_stop_continues_without_redoing_trials(tmp_path: Path) -> None:
    count = tmp_path / "count.jsonl"
    first = _start(tmp_path, "resume", count)
    summary = first.run(max_evaluations=7)  # stop mid generation 1
    assert summary.stopped_early and len(counted(count)) == 7
    again = session.resume(f"sqlite:///{tmp_path / 's.db'}", "resume", tmp_path / "out", poll_seconds=0.01)
    again.run()
    assert len(counted(count)) == 15  # 3 generations x 5, each evaluated exactly once
    _check_no_duplicates(again, count)
    # extending the target breeds on from where the study is
    more = session.resume(f"sqlite:///{tmp_path / 's.db'}", "resume", tmp_path / "out", generations=3,
                          poll_seconds=0.01)
    more.run()
    assert len(counted(count)) == 20
    assert more.store.last_generation() == 3
    _check_no_duplicates(more, count)


def test_resume_after_ctrl_c_requeues_the_interrupted_trial(tmp_path: Path) -> None:
    count = tmp_path / "count.jsonl"
    first = _start(tmp_path, "ctrlc", count, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    assert len(counted(count)) == 3
    interrupted = first.store.trials(CANDIDATE, (TrialState.FAIL,))
    assert len(interrupted) == 1 and "interrupted" in interrupted[0].user_attrs["error"]
    store, _ = session.load_records(f"sqlite:///{tmp_path / 's.db'}", "ctrlc")
    store.update_payload(evaluator={"name": "counting-synthetic", "options": {"count_file": str(count)}})
    again = session.resume(f"sqlite:///{tmp_path / 's.db'}", "ctrlc", tmp_path / "out", poll_seconds=0.01)
    again.run()
    assert len(counted(count)) == 15
    _check_no_duplicates(again, count)
    retried = [t for t in again.store.trials(CANDIDATE, (TrialState.COMPLETE,)) if "retry_of" in t.user_attrs]
    assert [t.user_attrs["retry_of"] for t in retried] == [interrupted[0].number]


def test_a_killed_worker_is_taken_over_on_resume(tmp_path: Path) -> None:
    count = tmp_path / "count.jsonl"
    first = _start(tmp_path, "killed", count)
    first.run(max_evaluations=2)
    stranded = first.store.pop()  # a worker took a trial and died without a word
    assert stranded is not None and stranded.user_attrs["kind"] == CANDIDATE
    again = session.resume(f"sqlite:///{tmp_path / 's.db'}", "killed", tmp_path / "out", takeover=True,
                           poll_seconds=0.01)
    again.run()
    assert len(counted(count)) == 15
    _check_no_duplicates(again, count)


def test_a_dead_workers_trial_is_requeued_when_its_heartbeat_stops(tmp_path: Path) -> None:
    count = tmp_path / "count.jsonl"
    first = _start(tmp_path, "stale", count, heartbeat=1)
    first.run(max_evaluations=2)
    stranded = first.store.pop()  # a worker takes a trial, beats once, and dies
    assert stranded is not None
    trial_id = first.store.storage.get_trial_id_from_study_id_trial_number(first.store.study_id, stranded.number)
    first.store.storage.record_heartbeat(trial_id)
    time.sleep(1.5)
    again = session.resume(f"sqlite:///{tmp_path / 's.db'}", "stale", tmp_path / "out", poll_seconds=0.01,
                           heartbeat_interval=1, grace_period=1)
    again.run()  # no takeover: optuna's stale check finds the silent trial
    assert len(counted(count)) == 15
    _check_no_duplicates(again, count)
    retried = [t for t in again.store.trials(CANDIDATE) if t.user_attrs.get("retry_of") == stranded.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE


def test_a_generation_that_only_fails_stops_the_search(tmp_path: Path) -> None:
    count = tmp_path / "count.jsonl"
    search = _start(tmp_path, "broken", count, broken=True)
    summary = search.run()
    assert summary.failed == 5 and summary.evaluations == 0
    assert "reader crashed" in search.store.payload["stopped"]
    errors = search.store.errors()
    assert len(errors) == 5 and all("RuntimeError: reader crashed" in e for e in errors)


def _postgres_url() -> str:
    """The test server's URL (scripts/start_postgres.sh, which scripts/test.sh runs), or skip saying why."""
    url = os.environ.get("GLYPH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: GLYPH_TEST_POSTGRES_URL is unset (eval \"$(bash scripts/start_postgres.sh)\" "
                    "starts one; scripts/test.sh does)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is the [postgres] extra: pip install 'psycopg[binary]'")
    return url  # set but unreachable is a failure, not a skip: the run asked for PostgreSQL


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_share_one_study(tmp_path: Path, backend: str) -> None:
    count = tmp_path / "count.jsonl"
    storage = f"sqlite:///{tmp_path / 'shared.db'}" if backend == "sqlite" else _postgres_url()
    study = f"shared-{uuid.uuid4().hex[:12]}"  # the PostgreSQL database outlives the test: a fresh study each run
    cmd = [sys.executable, str(HERE / "search_worker.py"), storage, study, str(count)]
    procs = [subprocess.Popen([*cmd, str(tmp_path / f"out{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    events = counted(count)
    hashes = [e["hash"] for e in events]
    assert len(hashes) == 4 * 6 and len(set(hashes)) == len(hashes)  # generations 0..3, nothing twice
    assert len({e["pid"] for e in events}) == 2  # both processes did real work
    search = session.resume(storage, study, tmp_path / "check")
    done = search.store.trials(CANDIDATE, (TrialState.COMPLETE,))
    assert Counter(t.user_attrs["generation"] for t in done) == {0: 6, 1: 6, 2: 6, 3: 6}  # nothing lost
    assert not search.store.trials(None, (TrialState.WAITING, TrialState.RUNNING))
    bred = [t for t in search.store.trials(TICKET) if t.user_attrs.get("outcome") == "bred"]
    assert sorted(t.user_attrs["generation"] for t in bred) == [0, 1, 2, 3]  # each generation bred once

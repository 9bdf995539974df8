"""The search's persistence: an optuna multi-objective study in RDB storage (SQLite, PostgreSQL, ...).

Why optuna: its RDB storage already gives durable trials, a queue of enqueued trials that
several processes pop atomically (``ask``), heartbeats that fail a dead worker's trials,
and a format its dashboards read. The search uses it in ask/tell mode only:

* a *candidate* is a WAITING trial added with its params (the knob values) and user attrs
  ``kind``, ``generation``, ``origin``, ``rationale``, ``parents``, ``repairs``, ``values``,
  ``config`` (reference JSON), ``config_hash``; a worker pops it with ``ask``, evaluates it,
  and ``tell``s (accuracy, compression) with ``metrics`` (the evaluator's details);
* a *breed ticket* is an enqueued trial without params (``kind = "breed"``). It is queued
  behind a generation's candidates, so whoever pops it is the one process that breeds the
  next generation; it ends PRUNED with its ``outcome``.

The study's user attr ``glyph`` holds what ``resume`` needs: space, evaluator, settings.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from glyph.search.evaluators.base import Evaluation
from glyph.search.knobs import encode_param
from glyph.search.selection import TrialRecord
from glyph.search.space import SearchSpace

_log = logging.getLogger(__name__)
CANDIDATE, TICKET, EMPTY = "candidate", "breed", "empty"
MAX_RETRIES = 2  # a candidate whose worker died this many times is given up
DIRECTIONS: list[optuna.study.StudyDirection] = [optuna.study.StudyDirection.MAXIMIZE] * 2  # accuracy, compression
ATTR = "glyph"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@retry(retry=retry_if_exception_type(Exception), stop=stop_after_attempt(4), wait=wait_exponential(0.2, max=2),
       reraise=True)
def _storage(url: str, heartbeat_interval: int, grace_period: int,
             on_stale: Any) -> optuna.storages.RDBStorage:
    """RDB storage with heartbeats; retried because two processes creating the tables race."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}  # wait for the other writer, don't fail
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat args are "experimental"
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                                             heartbeat_stale_trial_callback=on_stale, **kwargs)
    if url.startswith("sqlite"):
        _serialize_sqlite(storage.engine)
    return storage


def _serialize_sqlite(engine: Any) -> None:
    """Make SQLite transactions ``BEGIN IMMEDIATE`` (and the journal WAL).

    optuna pops an enqueued trial with read-state-then-write; PostgreSQL and MySQL lock the
    row (SELECT ... FOR UPDATE), SQLite ignores that, so two processes could both pop the same
    trial. Taking the write lock when a transaction begins (SQLAlchemy's documented pysqlite
    recipe) serializes them; WAL with synchronous=NORMAL keeps the many small commits cheap.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite: no implicit BEGIN, we emit our own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while optuna created the tables predate the hooks


class StudyStore:
    """One search study: creation/loading, the candidate queue, breed tickets, heartbeats."""

    def __init__(self, storage_url: str, name: str, space: SearchSpace | None = None, *,
                 heartbeat_interval: int = 5, grace_period: int = 30) -> None:
        self.url = storage_url
        self.name = name
        self.space = space
        self.storage = _storage(storage_url, heartbeat_interval, grace_period, self._requeue_stale)
        self.heartbeat_interval = heartbeat_interval
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    # ------------------------------------------------------------------ study
    def create(self, payload: Mapping[str, Any]) -> optuna.Study:
        """Create the study (or join it if ``payload`` matches what it was created with)."""
        self.study = optuna.create_study(study_name=self.name, storage=self.storage, directions=DIRECTIONS,
                                         sampler=optuna.samplers.RandomSampler(), load_if_exists=True)
        stored = self.study.user_attrs.get(ATTR)
        if stored is None:
            self.study.set_user_attr(ATTR, dict(payload))
        self.study_id = self.storage.get_study_id_from_name(self.name)
        return self.study

    def load(self) -> optuna.Study:
        try:
            self.study = optuna.load_study(study_name=self.name, storage=self.storage,
                                           sampler=optuna.samplers.RandomSampler())
        except KeyError:
            known = [s.study_name for s in optuna.get_all_study_summaries(self.storage)]
            raise ValueError(f"no study {self.name!r} in {self.url}; studies there: {', '.join(known) or 'none'}") from None
        if ATTR not in self.study.user_attrs:
            raise ValueError(f"study {self.name!r} was not made by glyph search (no '{ATTR}' user attr)")
        self.study_id = self.storage.get_study_id_from_name(self.name)
        return self.study

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.study.user_attrs.get(ATTR) or {})

    def update_payload(self, **changes: Any) -> None:
        self.study.set_user_attr(ATTR, {**self.payload, **changes})

    # ------------------------------------------------------------------ reading
    def trials(self, kind: str | None = CANDIDATE, states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
        out = self.study.get_trials(deepcopy=False, states=states)
        return [t for t in out if kind is None or t.user_attrs.get("kind") == kind]

    def records(self) -> list[TrialRecord]:
        """Every evaluated candidate, oldest first."""
        return [to_record(t) for t in self.trials(CANDIDATE, (TrialState.COMPLETE,))]

    def seen_hashes(self) -> set[str]:
        return {t.user_attrs.get("config_hash", "") for t in self.trials(CANDIDATE)}

    def last_generation(self) -> int:
        return max((t.user_attrs.get("generation", 0) for t in self.trials(CANDIDATE)), default=-1)

    def errors(self) -> list[str]:
        return [f"trial {t.number}: {t.user_attrs['error']}" for t in self.trials(CANDIDATE, (TrialState.FAIL,))
                if t.user_attrs.get("error")]

    # ------------------------------------------------------------------ queue
    def enqueue_candidate(self, values: Mapping[str, Any], attrs: Mapping[str, Any]) -> None:
        assert self.space is not None
        cfg = self.space.config(values)
        self._enqueue(values, {"kind": CANDIDATE, "values": dict(values), "config": cfg.to_reference_dict(),
                               "config_hash": cfg.content_hash(), "retries": 0, **attrs})

    def _enqueue(self, values: Mapping[str, Any], attrs: Mapping[str, Any]) -> None:
        """A WAITING trial with its params set, in one transaction (``enqueue_trial`` + suggest
        would cost a commit per knob)."""
        assert self.space is not None
        dists = self.space.distributions()
        params = {k: encode_param(v) for k, v in values.items() if k in dists}
        self.study.add_trial(optuna.trial.create_trial(
            state=TrialState.WAITING, params=params, distributions={k: dists[k] for k in params},
            user_attrs=dict(attrs)))

    def enqueue_ticket(self, generation: int, note: str = "") -> None:
        self.study.add_trial(optuna.trial.create_trial(
            state=TrialState.WAITING, user_attrs={"kind": TICKET, "generation": generation, "note": note}))

    def pop(self) -> Trial | None:
        """The oldest waiting trial, now RUNNING and ours; None when the queue is empty."""
        if not self.trials(None, (TrialState.WAITING,)):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize": we beat ourselves
            trial = self.study.ask()
        if trial.user_attrs.get("kind") not in (CANDIDATE, TICKET):
            # another worker took the last waiting trial first; ask() made a fresh one: retire it
            trial.set_user_attr("kind", EMPTY)
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        return trial

    def values_of(self, trial: Trial) -> dict[str, Any]:
        """The candidate's knob values (stored canonically; the params mirror them for optuna's tools)."""
        assert self.space is not None
        return dict(trial.user_attrs.get("values") or self.space.from_params(trial.params))

    def finish(self, trial: Trial, evaluation: Evaluation, seconds: float) -> None:
        trial.set_user_attr("metrics", _jsonable({**evaluation.metrics, "cached": evaluation.cached,
                                                  "eval_seconds": round(seconds, 4), "worker": worker_id()}))
        self.study.tell(trial, [float(evaluation.accuracy), float(evaluation.compression)])

    def fail(self, trial: Trial, error: str) -> None:
        trial.set_user_attr("error", f"{error[:1000]} (worker {worker_id()})")
        self.study.tell(trial, state=TrialState.FAIL)

    def close_ticket(self, trial: Trial, outcome: str, stats: Mapping[str, Any] | None = None) -> None:
        if stats:
            trial.set_user_attr("stats", _jsonable(dict(stats)))
        trial.set_user_attr("outcome", outcome)
        self.study.tell(trial, state=TrialState.PRUNED)

    def requeue(self, trial: FrozenTrial | Trial, reason: str) -> None:
        """Put an interrupted trial's work back in the queue (a fresh trial, same attrs)."""
        attrs = dict(trial.user_attrs)
        if attrs.get("kind") == TICKET:
            self.enqueue_ticket(attrs.get("generation", 0), note=f"retry of trial {trial.number}: {reason}")
            return
        if attrs.get("kind") != CANDIDATE or attrs.get("retries", 0) >= MAX_RETRIES:
            return
        attrs.update(retries=attrs.get("retries", 0) + 1, retry_of=trial.number)
        for key in ("metrics", "error", "outcome"):
            attrs.pop(key, None)
        self._enqueue(attrs.get("values") or {}, attrs)

    def _requeue_stale(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.requeue(trial, "worker stopped sending heartbeats")

    def fail_stale(self) -> None:
        """Fail (and requeue) the trials of workers that died; optuna's heartbeat does the detection."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fail_stale_trials is marked experimental
            optuna.storages.fail_stale_trials(self.study)

    def takeover(self) -> int:
        """Fail and requeue every RUNNING trial now (the caller knows no other worker is alive)."""
        n = 0
        for t in self.trials(None, (TrialState.RUNNING,)):
            try:
                trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, t.number)
                if self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    self.requeue(t, "taken over on resume")
                    n += 1
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
        return n

    @contextmanager
    def heartbeat(self, trial: Trial) -> Iterator[None]:
        """Beat for ``trial`` while the block runs, so other workers can tell we are alive."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        stop = threading.Event()

        def beat() -> None:
            while True:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as exc:  # noqa: BLE001  (a missed beat is not fatal; the next one may pass)
                    _log.warning("heartbeat of trial %d failed: %s", trial.number, exc)
                if stop.wait(self.heartbeat_interval):
                    return

        thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


def to_record(t: FrozenTrial) -> TrialRecord:
    attrs = t.user_attrs
    return TrialRecord(
        number=t.number,
        generation=int(attrs.get("generation", 0)),
        origin=str(attrs.get("origin", "")),
        values=dict(attrs.get("values") or {}),
        accuracy=float(t.values[0]),
        compression=float(t.values[1]),
        config_hash=str(attrs.get("config_hash", "")),
        rationale=str(attrs.get("rationale", "")),
        metrics=dict(attrs.get("metrics") or {}),
        config=dict(attrs.get("config") or {}),
    )


def _jsonable(value: Any) -> Any:
    """User attrs must be JSON: tuples become lists, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value

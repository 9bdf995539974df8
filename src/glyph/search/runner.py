"""The search loop as a worker: pop a queued trial, evaluate it (or breed the next generation), repeat.

Every process that runs a search, the first or the tenth, runs this same loop on the same
study, so adding workers is just starting the command again. Generation ``g`` is bred by
whoever pops its breed ticket (queued behind generation ``g - 1``), after the last
evaluation of ``g - 1`` is in; the other workers wait for the new candidates. A worker
that dies leaves RUNNING trials whose heartbeat stops; the next worker to look fails and
requeues them (optuna's stale-trial check), so nothing is lost and nothing is done twice
on purpose; the evaluation cache makes a requeued config cheap anyway.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from optuna.trial import Trial, TrialState

from glyph.search.breed import Breeder
from glyph.search.evaluators.base import Evaluator, EvaluatorUnavailableError
from glyph.search.fitness import interval_metrics
from glyph.search.outputs import ProposalLog
from glyph.search.proposer import LLMProposer, failure_notes
from glyph.search.selection import Scoring
from glyph.search.space import SearchSpace
from glyph.search.store import CANDIDATE, TICKET, StudyStore

EventFn = Callable[[str, dict[str, Any]], None]


@dataclass
class SearchSettings:
    """How the search breeds and ranks; stored with the study so a resume behaves the same."""

    generations: int = 10  # bred generations after the initial population (generation 0)
    population: int = 16
    llm_share: float = 0.5  # fraction of each generation asked of the LLM (when one is configured)
    crossover_rate: float = 0.5
    mutation_rate: float | None = None  # per knob; default 2 / number of knobs
    mutation_strength: float = 0.2  # Gaussian step as a fraction of a knob's range
    accuracy_floor: float = 0.9
    accuracy_weight: float = 0.8
    seed: int = 0
    history_size: int = 30  # configs shown to the LLM
    confidence: float = 0.95  # of the accuracy's Wilson interval (evaluators with per-sample scores)

    def __post_init__(self) -> None:
        if self.generations < 0 or self.population < 1:
            raise ValueError("generations must be >= 0 and population >= 1")
        if not 0.0 <= self.llm_share <= 1.0:
            raise ValueError(f"llm share must be in [0, 1], got {self.llm_share}")
        self.scoring  # validates floor and weight  # noqa: B018
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")

    @property
    def scoring(self) -> Scoring:
        return Scoring(self.accuracy_floor, self.accuracy_weight)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RunSummary:
    evaluations: int = 0
    cached: int = 0
    failed: int = 0
    generations_bred: int = 0
    stopped_early: bool = False


class SearchRunner:
    """One worker of a search study."""

    def __init__(
        self,
        store: StudyStore,
        space: SearchSpace,
        evaluator: Evaluator,
        settings: SearchSettings,
        proposer: LLMProposer | None = None,
        log: ProposalLog | None = None,
        on_event: EventFn | None = None,
        poll_seconds: float = 0.5,
        extra_seeds: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.store = store
        self.space = space
        self.evaluator = evaluator
        self.settings = settings
        self.proposer = proposer
        self.log = log or ProposalLog(None)
        self.on_event = on_event or (lambda event, data: None)
        self.poll = poll_seconds
        self.extra_seeds = list(extra_seeds)
        self.summary = RunSummary()

    # ------------------------------------------------------------------ loop
    def run(self, max_evaluations: int | None = None) -> RunSummary:
        """Work until the target generation is evaluated (or ``max_evaluations`` are done here)."""
        if not self.store.trials(None):
            self.store.enqueue_ticket(0, "initial population")
        while True:
            if max_evaluations is not None and self.summary.evaluations >= max_evaluations:
                self.summary.stopped_early = True
                break
            trial = self.store.pop()
            if trial is None:
                self.store.fail_stale()  # only when idle: a dead worker's trials are requeued
                if self._done():
                    break
                if self._stuck():
                    nxt = self.store.last_generation() + 1
                    self.store.enqueue_ticket(nxt, "restart: nothing queued or running")
                    continue
                self.on_event("waiting", {})
                self.store.wait(self.poll)
                continue
            if trial.user_attrs["kind"] == TICKET:
                self._breed(trial)
            else:
                self._evaluate(trial)
        return self.summary

    def _active(self) -> list[Any]:
        return self.store.trials(None, (TrialState.WAITING, TrialState.RUNNING))

    def done(self) -> bool:
        """The target generation is evaluated (or the search stopped) and nothing is queued or running."""
        return self._done()

    def _done(self) -> bool:
        payload = self.store.payload
        if payload.get("exhausted_at") is not None or payload.get("stopped"):
            return not self._active()
        target = int(payload.get("settings", {}).get("generations", self.settings.generations))
        return self.store.last_generation() >= target and not self._active()

    def _stuck(self) -> bool:
        return not self._active()

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, trial: Trial) -> None:
        values = self.store.values_of(trial)
        generation = trial.user_attrs.get("generation", 0)
        start = time.perf_counter()
        try:
            cfg = self.space.config(values)
            with self.store.heartbeat(trial):
                evaluation = self.evaluator.evaluate(cfg)
            evaluation.metrics.update(interval_metrics(evaluation.metrics, evaluation.accuracy,
                                                       self.settings.confidence))
        except (KeyboardInterrupt, EvaluatorUnavailableError) as exc:
            self.store.fail(trial, f"interrupted: {type(exc).__name__}: {exc}")
            self.store.requeue(trial, "interrupted")
            raise
        except Exception as exc:  # noqa: BLE001  (a config the renderer or reader chokes on is a failed trial)
            self.store.fail(trial, f"{type(exc).__name__}: {exc}")
            self.summary.failed += 1
            self.on_event("failed", {"trial": trial.number, "generation": generation, "error": str(exc)})
            return
        seconds = time.perf_counter() - start
        self.store.finish(trial, evaluation, seconds)
        self.summary.evaluations += 1
        self.summary.cached += evaluation.cached
        self.on_event("evaluated", {
            "trial": trial.number, "generation": generation, "origin": trial.user_attrs.get("origin"),
            "accuracy": evaluation.accuracy, "compression": evaluation.compression, "cached": evaluation.cached,
            "accuracy_ci": evaluation.metrics.get("accuracy_ci"),
            "score": self.settings.scoring.score(evaluation.accuracy, evaluation.compression), "seconds": seconds,
        })

    # ------------------------------------------------------------------ breeding
    def _breed(self, ticket: Trial) -> None:
        g = int(ticket.user_attrs.get("generation", 0))
        with self.store.heartbeat(ticket):
            while True:  # generation g is bred from all of g - 1's results
                self.store.fail_stale()
                earlier = [t for t in self.store.trials(CANDIDATE, (TrialState.WAITING, TrialState.RUNNING))
                           if t.user_attrs.get("generation", 0) < g]
                if any(t.state == TrialState.WAITING for t in earlier):  # requeued work: do it first
                    self.store.enqueue_ticket(g, f"deferred from trial {ticket.number}")
                    self.store.close_ticket(ticket, "deferred")
                    return
                if not earlier:
                    break
                self.store.wait(self.poll)
            target = int(self.store.payload.get("settings", {}).get("generations", self.settings.generations))
            if g > target:
                self.store.close_ticket(ticket, "beyond target")
                return
            if self._superseded(ticket, g):
                self.store.close_ticket(ticket, "duplicate ticket")
                return
            failed = self._all_failed(g - 1)
            if failed:
                self.store.update_payload(stopped=failed)
                self.store.close_ticket(ticket, "stopped")
                self.log.write({"event": "stopped", "generation": g, "reason": failed})
                self.on_event("stopped", {"reason": failed})
                return
            self._breed_generation(ticket, g, target)

    def _all_failed(self, g: int) -> str | None:
        """Why to stop if every candidate of generation ``g`` failed (a broken reader, not bad configs)."""
        trials = [t for t in self.store.trials(CANDIDATE) if t.user_attrs.get("generation") == g]
        if not trials or any(t.state == TrialState.COMPLETE for t in trials):
            return None
        errors = [t.user_attrs.get("error", "") for t in trials if t.state == TrialState.FAIL]
        return f"every candidate of generation {g} failed, e.g. {errors[0] if errors else 'unknown error'}"

    def _superseded(self, ticket: Trial, g: int) -> bool:
        """Another ticket for ``g`` got there first, or ``g`` already has candidates."""
        if any(t.user_attrs.get("generation", 0) >= g for t in self.store.trials(CANDIDATE)):
            return True
        for t in self.store.trials(TICKET):
            if t.number < ticket.number and t.user_attrs.get("generation") == g and (
                t.state == TrialState.RUNNING or t.user_attrs.get("outcome") == "bred"
            ):
                return True
        return False

    def _breed_generation(self, ticket: Trial, g: int, target: int) -> None:
        s = self.settings
        rng = random.Random(f"{s.seed}:{g}:{ticket.number}")
        breeder = Breeder(self.space, s.scoring, rng, self.store.seen_hashes(), s.crossover_rate, s.mutation_rate,
                          s.mutation_strength, log=self.log.write)
        if g == 0:
            proposals, stats = breeder.initial(s.population, self.extra_seeds)
            if self.proposer is None:
                self.log.write({"event": "llm-disabled", "note": "no LLM endpoint: classical operators only"})
        else:
            history = self.store.records()
            failures = failure_notes(history, s.scoring, self.store.errors(), self._last_rejections())
            proposals, stats = breeder.next(g, s.population, history, s.llm_share, self.proposer, failures)
        for p in proposals:
            self.store.enqueue_candidate(p.values, {"generation": g, "origin": p.origin, "rationale": p.rationale,
                                                    "parents": p.parents, "repairs": p.notes})
        if not proposals:
            self.store.update_payload(exhausted_at=g)
        elif g < target:
            self.store.enqueue_ticket(g + 1)
        self.store.close_ticket(ticket, "bred", {**stats.to_dict(), "rejections": breeder.rejections[-20:]})
        self.summary.generations_bred += 1
        self.log.write({"event": "generation", **stats.to_dict()})
        self.on_event("bred", stats.to_dict())

    def _last_rejections(self) -> list[str]:
        bred = [t for t in self.store.trials(TICKET) if t.user_attrs.get("outcome") == "bred"]
        return list((bred[-1].user_attrs.get("stats") or {}).get("rejections") or []) if bred else []

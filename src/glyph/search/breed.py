"""One generation's candidates: the LLM's share validated and repaired, the rest classical offspring.

Every candidate leaves here valid, inside the space and new to the study (no config is
evaluated twice). LLM proposals that cannot be used at all (not a config, unreadable
values only, nothing left after repair) or that repeat a known config are replaced by
classical offspring; every decision is counted in :class:`BreedStats` and written, with
the rationale, to the proposal log.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from glyph.search.operators import crossover, mutate
from glyph.search.proposer import LLMProposer, parse_proposals, split_proposal
from glyph.search.selection import Scoring, TrialRecord, elite, rank, tournament
from glyph.search.space import SearchSpace, config_key

MAX_TRIES = 50  # attempts at a new classical child before the slot is given up (space exhausted)


@dataclass
class Proposal:
    values: dict[str, Any]
    origin: str  # seed | sample | mutation | crossover | llm
    rationale: str = ""
    parents: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what repair changed
    config_hash: str = ""


@dataclass
class BreedStats:
    generation: int
    llm_requested: int = 0
    llm_received: int = 0
    llm_accepted: int = 0  # used as proposed, or after repair
    llm_repaired: int = 0  # of the accepted: clamped, snapped, nearest choice or constraint moves
    llm_invalid: int = 0  # replaced by classical offspring
    llm_duplicate: int = 0  # replaced by classical offspring
    llm_missing: int = 0  # fewer proposals than asked: filled with classical offspring
    llm_extra: int = 0  # more than asked: ignored
    llm_error: str | None = None  # the call failed: the whole share went classical
    classical: int = 0
    exhausted: int = 0  # slots left empty: no new config found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


LogFn = Callable[[dict[str, Any]], None]


class Breeder:
    """Makes candidates for one generation, never repeating a config in ``seen``."""

    def __init__(self, space: SearchSpace, scoring: Scoring, rng: random.Random, seen: set[str],
                 crossover_rate: float = 0.5, mutation_rate: float | None = None, mutation_strength: float = 0.2,
                 log: LogFn | None = None) -> None:
        self.space = space
        self.scoring = scoring
        self.rng = rng
        self.seen = seen
        self.crossover_rate = crossover_rate
        self.mutation_rate = mutation_rate
        self.mutation_strength = mutation_strength
        self.log = log or (lambda record: None)
        self.rejections: list[str] = []  # why LLM proposals were not used (shown to the next prompt)

    def config_hash(self, values: dict[str, Any]) -> str:
        return self.space.config(values).content_hash()

    def _admit(self, proposal: Proposal) -> bool:
        """Record the proposal as seen if it is new."""
        h = self.config_hash(proposal.values)
        if h in self.seen:
            return False
        self.seen.add(h)
        proposal.config_hash = h
        return True

    # ------------------------------------------------------------------ generation 0
    def initial(self, size: int, extra_seeds: Sequence[dict[str, Any]] = ()) -> tuple[list[Proposal], BreedStats]:
        """The reference config (projected into the space), extra seeds, then half random samples
        and half mutants of the reference (samples explore; mutants stay legible)."""
        stats = BreedStats(generation=0)
        out: list[Proposal] = []
        for i, seed in enumerate([self.space.seed_values, *extra_seeds]):
            repaired = self.space.repair(seed, fill=self.space.seed_values)
            seeded = Proposal(repaired.values, "seed", "reference default" if i == 0 else f"seed config {i}",
                              notes=repaired.notes)
            if len(out) < size and self._admit(seeded):
                out.append(seeded)
        while len(out) < size:
            p = self._fresh(lambda: self._sample_or_mutant(len(out)))
            if p is None:
                stats.exhausted += size - len(out)
                break
            out.append(p)
            stats.classical += 1
        for p in out:
            self._log_proposal(0, p, "accepted")
        return out, stats

    def _sample_or_mutant(self, i: int) -> Proposal:
        if i % 2:
            r = mutate(self.space, self.space.seed_values, self.rng, self.mutation_rate, self.mutation_strength * 1.5)
            return Proposal(r.values, "mutation", "mutant of the reference config", notes=r.notes)
        return Proposal(self.space.sample(self.rng), "sample", "uniform sample of the space")

    # ------------------------------------------------------------------ later generations
    def next(
        self,
        generation: int,
        size: int,
        history: Sequence[TrialRecord],
        llm_share: float = 0.0,
        proposer: LLMProposer | None = None,
        failures: Sequence[str] = (),
    ) -> tuple[list[Proposal], BreedStats]:
        stats = BreedStats(generation=generation)
        pool = elite(history, size, self.scoring) or []
        out: list[Proposal] = []
        n_llm = round(size * llm_share) if proposer is not None else 0
        if n_llm:
            out += self._from_llm(proposer, generation, n_llm, history, failures, stats)  # type: ignore[arg-type]
        while len(out) < size:
            p = self._fresh(lambda: self._offspring(pool))
            if p is None:
                stats.exhausted += size - len(out)
                break
            out.append(p)
            stats.classical += 1
            self._log_proposal(generation, p, "accepted")
        return out, stats

    def _offspring(self, pool: Sequence[TrialRecord]) -> Proposal:
        if not pool:
            return Proposal(self.space.sample(self.rng), "sample", "uniform sample (no evaluated parents)")
        a = tournament(pool, self.rng, self.scoring)
        if len(pool) > 1 and self.rng.random() < self.crossover_rate:
            b = tournament([r for r in pool if r.number != a.number] or pool, self.rng, self.scoring)
            r = crossover(self.space, a.values, b.values, self.rng)
            return Proposal(r.values, "crossover", f"crossover of trials {a.number} and {b.number}",
                            [a.number, b.number], r.notes)
        r = mutate(self.space, a.values, self.rng, self.mutation_rate, self.mutation_strength)
        return Proposal(r.values, "mutation", f"mutation of trial {a.number}", [a.number], r.notes)

    def _fresh(self, make: Callable[[], Proposal]) -> Proposal | None:
        """A new config from ``make``; a repeat is mutated further before giving up."""
        for attempt in range(MAX_TRIES):
            p = make()
            if attempt and attempt % 5 == 0:  # repeats keep coming: take a bigger step
                r = mutate(self.space, p.values, self.rng, 0.5, 0.4)
                p = Proposal(r.values, p.origin, p.rationale + " (pushed off a repeat)", p.parents, p.notes + r.notes)
            if self._admit(p):
                return p
        return None

    def _from_llm(self, proposer: LLMProposer, generation: int, n: int, history: Sequence[TrialRecord],
                  failures: Sequence[str], stats: BreedStats) -> list[Proposal]:
        stats.llm_requested = n
        best = rank(history, self.scoring)[0] if history else None
        fill = best.values if best else self.space.seed_values
        messages = proposer.messages(self.space, n, history, self.scoring, failures)
        try:
            reply = proposer.complete(messages)
            items = parse_proposals(reply)
        except Exception as exc:  # noqa: BLE001  (any endpoint failure: fall back to classical, say so)
            stats.llm_error = f"{type(exc).__name__}: {exc}"[:500]
            stats.llm_missing = n
            self.log({"event": "llm-error", "generation": generation, "error": stats.llm_error})
            return []
        self.log({"event": "llm-reply", "generation": generation, "requested": n, "reply": reply[:20000],
                  "prompt_chars": sum(len(m["content"]) for m in messages)})
        stats.llm_received = len(items)
        stats.llm_extra = max(0, len(items) - n)
        out: list[Proposal] = []
        for item in items[:n]:
            proposal, status = self._validate(item, fill, best)
            if proposal is None:
                stats.llm_invalid += 1
            elif not self._admit(proposal):
                stats.llm_duplicate += 1
                status = "duplicate"
            else:
                stats.llm_accepted += 1
                stats.llm_repaired += status == "repaired"
                out.append(proposal)
            self._log_llm(generation, item, proposal, status)
            if status == "invalid":
                self.rejections.append(f"{json.dumps(item, ensure_ascii=False, default=str)[:200]} is not a usable config "
                                       "(give a JSON object of knob: value inside the space)")
            elif status == "duplicate":
                self.rejections.append(f"{json.dumps(proposal.values if proposal else item, default=str)[:200]} "
                                       "repeats a config already evaluated")
            if status in ("invalid", "duplicate"):
                replacement = self._fresh(lambda: self._offspring(elite(history, n, self.scoring)))
                if replacement is not None:
                    replacement.rationale += f" (replaces a {status} LLM proposal)"
                    out.append(replacement)
                    stats.classical += 1
                    self._log_proposal(generation, replacement, "accepted")
        stats.llm_missing = max(0, n - min(len(items), n))
        return out

    def _validate(self, item: Any, fill: dict[str, Any], best: TrialRecord | None) -> tuple[Proposal | None, str]:
        config, rationale = split_proposal(item)
        if config is None:
            return None, "invalid"
        values: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in config.items():
            try:
                values[config_key(str(key))] = value
            except ValueError:
                unknown.append(str(key))
        if not any(k in self.space.knobs for k in values):
            return None, "invalid"
        repaired = self.space.repair(values, fill=fill)
        if repaired.fallback:
            return None, "invalid"
        notes = repaired.notes + [f"{k}: unknown key, ignored" for k in unknown]
        parents = [best.number] if best is not None and repaired.filled else []
        return Proposal(repaired.values, "llm", rationale or "(no rationale given)", parents, notes), (
            "repaired" if notes else "ok")

    # ------------------------------------------------------------------ log
    def _log_llm(self, generation: int, item: Any, proposal: Proposal | None, status: str) -> None:
        _, rationale = split_proposal(item)
        self.log({"event": "proposal", "generation": generation, "origin": "llm", "status": status,
                  "rationale": rationale, "proposed": item,
                  "values": proposal.values if proposal else None,
                  "notes": proposal.notes if proposal else [], "config_hash": proposal.config_hash if proposal else None})

    def _log_proposal(self, generation: int, p: Proposal, status: str) -> None:
        self.log({"event": "proposal", "generation": generation, "origin": p.origin, "status": status,
                  "rationale": p.rationale, "parents": p.parents, "values": p.values, "notes": p.notes,
                  "config_hash": p.config_hash})

"""Starting, joining and resuming a search: the study's stored payload is the single source of truth.

``start`` records space, evaluator, settings and LLM endpoint in the study; a second
``start`` with the same arguments joins as another worker, with different ones it refuses
(a study mixing two spaces or fitness functions would rank incomparable numbers).
``resume`` rebuilds everything from the study alone, optionally extending the generation
target or switching the LLM endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glyph.search.evaluators import Evaluator, get_evaluator
from glyph.search.outputs import ProposalLog, export
from glyph.search.proposer import LLMProposer, LLMSettings
from glyph.search.runner import EventFn, SearchRunner, SearchSettings
from glyph.search.space import SearchSpace
from glyph.search.store import StudyStore
from glyph.search.validation import (
    Validated,
    ValidationReport,
    build_evaluator,
    default_split,
    validate,
    write_report,
)

PAYLOAD_VERSION = 1


def cache_dir_for(storage_url: str, study: str, out_dir: Path) -> Path:
    """Next to the study: ``<db folder>/<db name>-cache/<study>`` for SQLite files, else under ``out_dir``."""
    if storage_url.startswith("sqlite:///"):
        db = storage_url[len("sqlite:///"):].split("?", 1)[0]  # 'study.db' or '/abs/study.db'
        if db and db != ":memory:":
            return Path(db).parent / f"{Path(db).stem}-cache" / study
    return out_dir / "cache"


@dataclass
class Search:
    """An open search: the worker plus what is needed to report on it."""

    runner: SearchRunner
    store: StudyStore
    space: SearchSpace
    evaluator: Evaluator
    settings: SearchSettings
    out_dir: Path
    llm_enabled: bool

    def run(self, max_evaluations: int | None = None) -> Any:
        try:
            return self.runner.run(max_evaluations)
        finally:
            self.evaluator.close()

    def export(self) -> dict[str, Path]:
        report = stored_report(self.store)
        return export(self.store.records(), self.settings.scoring, self.out_dir, title=f"study {self.store.name}",
                      winner=report.winner if report else None)

    @property
    def complete(self) -> bool:
        """Every generation bred and evaluated (what triggers the automatic validation)."""
        return self.runner.done()

    def validate(self, overrides: Mapping[str, Any] | None = None,
                 on_scored: Callable[[Validated], None] | None = None) -> tuple[ValidationReport, dict[str, Path]]:
        """Score the front and the reference on the study's held-out split; store, report, export the winner."""
        return run_validation(self.store, self.settings, self.out_dir, overrides, on_scored)


def start(
    storage: str,
    study: str,
    out_dir: str | Path,
    *,
    space: SearchSpace | None = None,
    evaluator: str = "ocr-fidelity",
    evaluator_options: Mapping[str, Any] | None = None,
    settings: SearchSettings | None = None,
    llm: LLMSettings | None = None,
    api_key: str | None = None,
    extra_seeds: list[dict[str, Any]] | None = None,
    validation_options: Mapping[str, Any] | None = None,
    on_event: EventFn | None = None,
    poll_seconds: float = 0.5,
    heartbeat_interval: int = 5,
    grace_period: int = 30,
) -> Search:
    """Create the study (or join an identical one) and return a worker for it."""
    space = space or SearchSpace.default()
    settings = settings or SearchSettings()
    out = Path(out_dir)
    probe = get_evaluator(evaluator, cache_dir=None, **dict(evaluator_options or {}))  # validates the options
    payload = {
        "version": PAYLOAD_VERSION,
        "space": space.to_dict(),
        "evaluator": probe.describe(),
        "settings": settings.to_dict(),
        "llm": llm.to_dict() if llm else None,
        "extra_seeds": list(extra_seeds or []),
        "validation_split": default_split(probe.describe(), validation_options),
    }
    probe.close()
    build_evaluator(payload["validation_split"], None).close()  # validates the split's options now, not at the end
    store = StudyStore(storage, study, space, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    store.create(payload)
    stored = store.payload
    differs = [k for k in ("space", "evaluator", "settings", "llm", "extra_seeds", "validation_split")
               if stored.get(k) != payload[k]]
    if differs:
        raise ValueError(
            f"study {study!r} already exists with different {', '.join(differs)}; continue it with "
            f"`glyph search resume {study}` or pick a new --study name"
        )
    return _open(store, out, on_event, poll_seconds, api_key)


def resume(
    storage: str,
    study: str,
    out_dir: str | Path,
    *,
    generations: int | None = None,
    llm: LLMSettings | None = None,
    api_key: str | None = None,
    takeover: bool = False,
    on_event: EventFn | None = None,
    poll_seconds: float = 0.5,
    heartbeat_interval: int = 5,
    grace_period: int = 30,
) -> Search:
    """Reopen a study as it was created; ``takeover`` requeues trials left RUNNING by dead workers now."""
    store = StudyStore(storage, study, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    store.load()
    payload = store.payload
    store.space = SearchSpace.from_dict(payload["space"])
    changes: dict[str, Any] = {}
    if generations is not None and generations != payload["settings"]["generations"]:
        changes["settings"] = {**payload["settings"], "generations": generations}
    if llm is not None:
        changes["llm"] = llm.to_dict()
    if payload.get("stopped"):
        changes["stopped"] = None  # the user fixed what stopped it (or wants to see it fail again)
    if changes:
        store.update_payload(**changes)
    if takeover:
        store.takeover()
    return _open(store, Path(out_dir), on_event, poll_seconds, api_key)


def load_records(storage: str, study: str) -> tuple[StudyStore, SearchSettings]:
    """The study read-only (for ``show``): its store and settings."""
    store = StudyStore(storage, study)
    store.load()
    return store, SearchSettings.from_dict(store.payload["settings"])


def split_of(store: StudyStore) -> dict[str, Any]:
    """The study's validation split (derived from its evaluator for studies made before splits were stored)."""
    payload = store.payload
    return dict(payload.get("validation_split") or default_split(payload["evaluator"]))


def stored_report(store: StudyStore) -> ValidationReport | None:
    data = store.payload.get("validation_report")
    return ValidationReport.from_dict(data) if data else None


def run_validation(store: StudyStore, settings: SearchSettings, out_dir: str | Path,
                   overrides: Mapping[str, Any] | None = None,
                   on_scored: Callable[[Validated], None] | None = None) -> tuple[ValidationReport, dict[str, Path]]:
    """Validate the study's front (``overrides`` change the split for this run), store the report in the
    study, write validation.json/.csv/.png and export with the validation winner as best_config.json."""
    records = store.records()
    if not records:
        raise ValueError(f"study {store.name!r} has no evaluated configs to validate")
    split = split_of(store)
    if overrides:
        split = {"name": split["name"], "options": {**split["options"], **overrides}}
    cache = cache_dir_for(store.url, store.name, Path(out_dir))
    evaluator = build_evaluator(split, cache.parent / f"{cache.name}-validation")
    try:
        report = validate(records, evaluator, settings.scoring, split, settings.confidence, on_scored)
    finally:
        evaluator.close()
    store.update_payload(validation_report=report.to_dict())
    paths = write_report(report, out_dir)
    paths.update(export(records, settings.scoring, out_dir, title=f"study {store.name}", winner=report.winner))
    return report, paths


def _open(store: StudyStore, out: Path, on_event: EventFn | None, poll_seconds: float, api_key: str | None) -> Search:
    payload = store.payload
    space = store.space or SearchSpace.from_dict(payload["space"])
    store.space = space
    settings = SearchSettings.from_dict(payload["settings"])
    ev = payload["evaluator"]
    evaluator = get_evaluator(ev["name"], cache_dir=cache_dir_for(store.url, store.name, out), **ev["options"])
    llm = LLMSettings(**payload["llm"]) if payload.get("llm") else None
    proposer = LLMProposer(llm, api_key=api_key, history_size=settings.history_size) if llm else None
    log = ProposalLog(out / "proposals.jsonl", study=store.name)
    runner = SearchRunner(store, space, evaluator, settings, proposer, log, on_event, poll_seconds,
                          payload.get("extra_seeds") or [])
    return Search(runner, store, space, evaluator, settings, out, proposer is not None)

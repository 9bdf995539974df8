"""Finished work the playground can open: ``glyph search`` studies and ``glyph eval`` runs.

Only what ``glyph ui --study/--runs`` names (and folders below it) is offered; the page picks
among them by id, never by path. A study is an exported folder (``trials.csv``, written by
``glyph search run/show --export``; each row's config is rebuilt and checked against its
``config_hash``) or an Optuna storage (URL or ``.db`` file), read through ``glyph.search``. An
eval run is a results folder (``results.jsonl``) or a folder of them, summarised by
``glyph.eval.summary`` exactly as ``glyph eval report`` does.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from glyph.render.config import RenderConfig, reference_default
from glyph.ui.errors import UIError

_FIXED = ("trial", "generation", "origin", "accuracy", "compression", "score", "feasible", "pareto",
          "config_hash", "rationale")
MAX_DEPTH = 3


@dataclass(frozen=True)
class Source:
    id: str
    label: str
    kind: str  # "folder" | "optuna" (studies), "runs"
    where: str  # path or storage URL (never sent to the page)
    study: str | None = None

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label, "kind": self.kind}


def _sid(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _below(root: Path, marker: str) -> list[Path]:
    """``root`` and its sub-folders (to MAX_DEPTH) that hold ``marker``, sorted."""
    found = []
    for depth in range(MAX_DEPTH + 1):
        pattern = "/".join(["*"] * depth + [marker]) if depth else marker
        found += [p.parent for p in root.glob(pattern) if p.is_file()]
    return sorted(set(found))


def discover_studies(specs: tuple[str, ...]) -> list[Source]:
    """Every study the ``--study`` values name: export folders (searched below), storages, .db files."""
    out: list[Source] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if "://" in spec or path.suffix == ".db":
            url = spec if "://" in spec else f"sqlite:///{path.resolve()}"
            out += _optuna_studies(url, spec)
        elif path.is_dir():
            folders = _below(path, "trials.csv")
            if not folders:
                raise ValueError(f"--study {spec}: no trials.csv in it or below (export one with glyph search show --export)")
            for folder in folders:
                name = str(folder.relative_to(path.parent))
                out.append(Source(_sid("folder", str(folder.resolve())), f"{name} (export)", "folder", str(folder)))
        else:
            raise ValueError(f"--study {spec}: not a folder, a .db file or a storage URL")
    return out


def _optuna_studies(url: str, spec: str) -> list[Source]:
    import optuna

    try:
        names = optuna.study.get_all_study_names(storage=url)
    except Exception as exc:  # sqlalchemy / optuna errors: the URL is what the user can fix
        raise ValueError(f"--study {spec}: cannot open the storage: {exc}") from None
    return [Source(_sid("optuna", url, n), f"{n} ({Path(spec).name if '://' not in spec else spec.split('://')[0]})",
                   "optuna", url, n) for n in names]


def discover_runs(roots: tuple[Path, ...]) -> list[Source]:
    """Each ``--runs`` folder (all its results folders together), and each results folder below it."""
    out: list[Source] = []
    for root in roots:
        folders = _below(root, "results.jsonl")
        if not folders:
            raise ValueError(f"--runs {root}: no results.jsonl in it or below (a glyph eval --out folder)")
        if len(folders) > 1:
            out.append(Source(_sid("runs", str(root.resolve())), f"{root.name}: all {len(folders)} runs", "runs",
                              "\n".join(map(str, folders))))
        for folder in folders:
            out.append(Source(_sid("runs", str(folder.resolve())), str(folder.relative_to(root.parent)), "runs", str(folder)))
    return out


# ----------------------------------------------------------------------------- studies
def _config_diff(config: dict[str, Any]) -> dict[str, Any]:
    """The keys where a config differs from the reference default (what a person wants to see)."""
    base = reference_default().to_reference_dict(include_extensions=True)
    return {k: v for k, v in config.items() if base.get(k) != v}


def load_study(source: Source) -> dict[str, Any]:
    """Trials (accuracy, compression, config, front, best) of a study, as plain data for the page."""
    if source.kind == "folder":
        trials, best = _folder_trials(Path(source.where))
        floor = None
    else:
        trials, best, floor = _optuna_trials(source)
    return {"id": source.id, "label": source.label, "trials": trials, "best": best, "accuracy_floor": floor}


def _folder_trials(folder: Path) -> tuple[list[dict[str, Any]], int | None]:
    rows = list(csv.DictReader((folder / "trials.csv").open(encoding="utf-8")))
    trials = []
    for row in rows:
        knobs = {k: v for k, v in row.items() if k not in _FIXED and v != ""}
        try:
            cfg = RenderConfig.from_dict(knobs)
        except ValueError as exc:
            raise UIError(400, f"{folder.name}/trials.csv, trial {row.get('trial')}: its config does not load: {exc}") from None
        config = cfg.to_reference_dict(include_extensions=True)
        trials.append({
            "trial": int(row["trial"]), "generation": int(row["generation"]), "origin": row["origin"],
            "accuracy": float(row["accuracy"]), "compression": float(row["compression"]),
            "score": float(row["score"]), "feasible": row["feasible"] == "True", "pareto": row["pareto"] == "True",
            "config": config, "diff": _config_diff(config), "rationale": row.get("rationale", ""),
            "config_exact": cfg.content_hash() == row.get("config_hash"),
        })
    feasible = [t for t in trials if t["feasible"]] or trials
    best = max(feasible, key=lambda t: t["score"])["trial"] if feasible else None
    validation = folder / "validation.json"  # the search exports its validation winner as the best config
    if validation.is_file():
        best = json.loads(validation.read_text(encoding="utf-8")).get("winner", best)
    return trials, best


def _optuna_trials(source: Source) -> tuple[list[dict[str, Any]], int | None, float]:
    from glyph.search import session
    from glyph.search.outputs import best_record
    from glyph.search.selection import front_records

    try:
        store, settings = session.load_records(source.where, str(source.study))
    except (ValueError, KeyError) as exc:
        raise UIError(400, f"study {source.study!r}: {exc}") from None
    records = store.records()
    front = {r.number for r in front_records(records)}
    scoring = settings.scoring
    best = best_record(records, scoring)
    report = session.stored_report(store)  # the validation winner is the exported best config
    if report is not None and report.winner is not None:
        best = next((r for r in records if r.number == report.winner), best)
    trials = [{
        "trial": r.number, "generation": r.generation, "origin": r.origin, "accuracy": r.accuracy,
        "compression": r.compression, "score": scoring.score(r.accuracy, r.compression),
        "feasible": scoring.feasible(r.accuracy), "pareto": r.number in front, "config": r.config,
        "diff": _config_diff(r.config), "rationale": r.rationale, "config_exact": True,
    } for r in records]
    return trials, best.number if best else None, scoring.accuracy_floor


def trial_config(study: dict[str, Any], trial: int) -> RenderConfig:
    for t in study["trials"]:
        if t["trial"] == trial:
            return RenderConfig.from_dict(t["config"])
    raise UIError(404, f"study {study['label']} has no trial {trial}", type="not_found")


# ----------------------------------------------------------------------------- eval runs
def load_runs(source: Source) -> dict[str, Any]:
    """Per run (reader x config): accuracy by task and length bucket, compression by bucket, its config."""
    import json

    from glyph.eval.runner import RUNS
    from glyph.eval.summary import load_results, summarize

    folders = [Path(p) for p in source.where.split("\n")]
    summaries = summarize(load_results(folders))
    settings: dict[str, Any] = {}
    for folder in folders:
        meta = folder / RUNS
        if meta.is_file():
            settings.update(json.loads(meta.read_text(encoding="utf-8")))
    by_hash = {v.get("config_hash"): v.get("config") for v in settings.values() if isinstance(v, dict)}
    runs = []
    for s in summaries:
        data = asdict(s)
        data["legibility_bound"] = s.legibility_bound
        config = by_hash.get(s.config_hash)
        data["config"] = config
        data["diff"] = _config_diff(config) if isinstance(config, dict) else {}
        runs.append(data)
    return {"id": source.id, "label": source.label, "runs": runs}

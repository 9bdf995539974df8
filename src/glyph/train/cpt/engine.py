"""The CPT data engine: text source -> planned samples -> shards of records, on all cores or on Ray.

Why this shape:

* **Planning is cheap and serial, building is parallel.** The main process walks the source and
  cuts text windows; each window becomes a :class:`~glyph.train.cpt.tasks.SampleSpec` whose task
  and theme are drawn from a generator seeded by ``(seed, sample index)``. Shard ``k`` holds
  samples ``[k * shard_size, (k + 1) * shard_size)``. A worker draws each sample's config from
  ``(seed, index)`` too, so a shard's bytes depend on the seed and the source only: not on the
  number of workers, their order, or Ray.
* **The manifest is the commit log** (as in ``glyph batch``): a shard is written to a temp file,
  fsynced and renamed, then its line -- samples with their statistics, errors, timings, sha256 --
  is appended to ``manifest.jsonl`` and fsynced. On restart, shards without a line are deleted
  and rebuilt, shards with one are skipped: no sample lost, none repeated.
* **Errors stay local.** A sample that cannot be built (too short, cannot fit the context under 8
  draws) becomes an error entry naming it in its shard's line; the shard keeps the rest.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from glyph.render.batch import MANIFEST, _terminate, read_manifest
from glyph.train.cpt.sampler import ConfigSampler, SamplingError, _pick
from glyph.train.cpt.sources import Document, describe_source, document_factory
from glyph.train.cpt.spec import CptDataConfig
from glyph.train.cpt.tasks import SampleSpec, Timer, build_sample, snap
from glyph.train.shards import write_shard

__all__ = ["BuildSummary", "build_cpt_data", "plan_samples"]

RUN_FILE = "data_config.yaml"
SHARD_PREFIX = "cpt-"
MIN_WINDOW_CHARS = 200


@dataclass
class BuildSummary:
    """What a run did: samples planned, records written, samples that failed, shards, time."""

    planned: int = 0
    records: int = 0
    failed: int = 0
    shards_built: int = 0
    shards_skipped: int = 0
    pages: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    source_errors: list[str] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


# ------------------------------------------------------------------------------------------ plan


def _window_chars(cfg: CptDataConfig, task: str) -> int:
    factor = getattr(cfg.tasks, task).window
    return max(MIN_WINDOW_CHARS, int(cfg.context.max_tokens * cfg.context.chars_per_token * factor))


def plan_samples(
    docs: Callable[[], Iterator[Document | str]],
    cfg: CptDataConfig,
    seed: int,
    samples: int,
    tasks: list[str] | None = None,
    themes: list[str] | None = None,
    source_errors: list[str] | None = None,
) -> Iterator[SampleSpec]:
    """Cut the source into ``samples`` windows, each with its task and theme (deterministic in ``seed``).

    Documents are read in order; each is cut into consecutive windows sized for their task. When
    the source runs out first it is read again, every document starting at a fresh random offset,
    so later passes cut different windows.
    """
    task_w = cfg.tasks.weights(tasks)
    theme_w = cfg.theme_weights(themes)
    index, passes = 0, 0
    while index < samples:
        produced = False
        for d, doc in enumerate(docs()):
            if isinstance(doc, str):
                if passes == 0 and source_errors is not None:
                    source_errors.append(doc)
                continue
            text = doc.text
            pos = 0
            if passes:
                offset_rng = np.random.default_rng([seed, passes, d, 2])
                pos = snap(text, int(offset_rng.integers(0, max(1, min(len(text) // 2, 20_000)))))
            while index < samples:
                rng = np.random.default_rng([seed, index, 0])
                task, theme = _pick(rng, task_w), _pick(rng, theme_w)
                end = min(len(text), pos + _window_chars(cfg, task))
                if end < len(text):
                    end = snap(text, end, forward=False)
                window = text[pos:end]
                if len(window.strip()) < MIN_WINDOW_CHARS:
                    break
                yield SampleSpec(index, f"s{seed}-{index:07d}", doc.id, pos, window, task, theme)
                index, produced = index + 1, True
                pos = end
        if not produced:
            raise ValueError("the text source has no document with enough text (at least 200 characters)")
        passes += 1


# ------------------------------------------------------------------------------------------ build

_WORKER: dict[str, Any] = {}


def _worker_state(config: dict[str, Any]) -> tuple[CptDataConfig, ConfigSampler]:
    """The parsed config and sampler, once per process (fonts are catalogued once)."""
    key = json.dumps(config, sort_keys=True)
    if _WORKER.get("key") != key:
        cfg = CptDataConfig.model_validate(config)
        _WORKER.update(key=key, cfg=cfg, sampler=ConfigSampler(cfg))
    return _WORKER["cfg"], _WORKER["sampler"]


def build_shard(
    out_dir: str, shard: str, seed: int, config: dict[str, Any], specs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Build one shard's records and write it; returns its manifest line (samples, errors, timing)."""
    cfg, sampler = _worker_state(config)
    t_start = time.perf_counter()
    records, samples, errors = [], [], []
    timing = {"render": 0.0, "encode": 0.0, "tokenize": 0.0, "write": 0.0, "total": 0.0}
    for raw in specs:
        spec = SampleSpec(**raw)
        rng = np.random.default_rng([seed, spec.index, 1])
        timer = Timer()
        t0 = time.perf_counter()
        record, why = None, ""
        try:
            record = build_sample(spec, cfg, sampler, rng, timer)
        except (ValueError, SamplingError) as exc:  # DoesNotFit is a ValueError
            why = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad sample must not take its shard down
            why = f"build failed: {type(exc).__name__}: {exc}"
        for k, v in timer.seconds.items():
            timing[k] += v
        if record is None:
            errors.append({"id": spec.id, "index": spec.index, "source": spec.source, "error": why})
            continue
        records.append(record)
        m = record.meta
        samples.append({
            "id": record.id, "index": spec.index, "task": record.task, "theme": record.theme,
            "dpi_band": m["dpi_band"], "dpi": m["dpi"], "font_kind": m["font_kind"], "pages": m["pages"],
            "target_tokens": m["target_tokens"], "prompt_tokens": m["prompt_tokens"],
            "visual_tokens": m["visual_tokens"], "tokens": m["tokens"], "source": spec.source,
            "seconds": round(time.perf_counter() - t0, 4),
        })  # fmt: skip
    t0 = time.perf_counter()
    path = Path(out_dir) / shard
    write_shard(path, records)
    timing["write"] = time.perf_counter() - t0
    timing["total"] = time.perf_counter() - t_start
    return {
        "shard": shard,
        "first": specs[0]["index"] if specs else 0,
        "count": len(specs),
        "records": len(records),
        "samples": samples,
        "errors": errors,
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "timing": {k: round(v, 4) for k, v in timing.items()},
    }


def _ray_build(row: dict[str, Any]) -> dict[str, Any]:
    job = json.loads(row["job"])
    return {"line": json.dumps(build_shard(**job))}


# ------------------------------------------------------------------------------------------ run


def _run_parameters(cfg: CptDataConfig, source: str, seed: int, samples: int, tasks: Any, themes: Any,
                    shard_size: int) -> dict[str, Any]:  # fmt: skip
    return {
        "source": describe_source(source),
        "seed": seed,
        "samples": samples,
        "tasks": tasks,
        "themes": themes,
        "shard_size": shard_size,
        "config": cfg.model_dump(mode="json"),
    }


def _prepare(out: Path, params: dict[str, Any], resume: bool) -> set[str]:
    """Check the run matches what ``out`` was built with; clean up after a crash; committed shards."""
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / RUN_FILE
    if run_file.exists() and resume:
        before = yaml.safe_load(run_file.read_text(encoding="utf-8")) or {}
        same = {k: before.get(k) for k in params if k != "samples"} == {
            k: v for k, v in params.items() if k != "samples"
        }
        if not same:
            changed = sorted(k for k in params if k != "samples" and before.get(k) != params[k])
            raise ValueError(
                f"{out} was built with other settings ({', '.join(changed)} differ); resume with the same "
                "options, or use another --out (or --no-resume to start over)"
            )
    for p in out.iterdir():
        if p.name.endswith(".parquet.tmp"):
            p.unlink()
    lines = read_manifest(out) if resume else []
    committed: dict[str, dict[str, Any]] = {}
    size, total = params["shard_size"], params["samples"]
    for line in lines:
        shard = line.get("shard")
        path = out / str(shard)
        first = line.get("first")
        # a shard is kept if it is whole and holds exactly the samples this run plans for it
        # (a run asking for more samples than before rebuilds the previous last, partial shard)
        expected = (
            isinstance(first, int) and line.get("count") == min(size, total - first) and first % size == 0
        )
        if (
            isinstance(shard, str)
            and expected
            and path.is_file()
            and path.stat().st_size == line.get("bytes")
        ):
            committed.setdefault(shard, line)
    for p in out.glob(f"{SHARD_PREFIX}*.parquet"):
        if p.name not in committed:
            p.unlink()  # written but never committed: rebuilt
    tmp = out / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in committed.values())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / MANIFEST)
    run_file.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return set(committed)


def _jobs(plan: Iterator[SampleSpec], shard_size: int) -> Iterator[tuple[str, list[SampleSpec]]]:
    chunk: list[SampleSpec] = []
    for spec in plan:
        chunk.append(spec)
        if len(chunk) == shard_size:
            yield f"{SHARD_PREFIX}{chunk[0].index // shard_size:05d}.parquet", chunk
            chunk = []
    if chunk:
        yield f"{SHARD_PREFIX}{chunk[0].index // shard_size:05d}.parquet", chunk


def build_cpt_data(
    source: str | Path,
    out_dir: str | Path,
    cfg: CptDataConfig,
    *,
    seed: int = 0,
    samples: int = 1000,
    tasks: list[str] | None = None,
    themes: list[str] | None = None,
    shard_size: int = 64,
    workers: int | None = None,
    resume: bool = True,
    ray_address: str | None = None,
    text_field: str = "text",
    id_field: str = "id",
    on_progress: Callable[[BuildSummary], None] | None = None,
) -> BuildSummary:
    """Build ``samples`` CPT records from ``source`` into ``out_dir`` (see module doc).

    ``workers`` processes (default: all cores; 1 builds in this process); ``ray_address`` runs the
    shards as a Ray Data job instead (``"local"`` starts a local Ray). ``on_progress`` is called after
    every committed shard with the running summary.
    """
    if samples < 1 or shard_size < 1:
        raise ValueError(f"samples and shard_size must be >= 1, got {samples} and {shard_size}")
    cfg.tasks.weights(tasks)  # unknown or all-zero task/theme filters fail before any work
    cfg.theme_weights(themes)
    out = Path(out_dir)
    t0 = time.perf_counter()
    params = _run_parameters(cfg, str(source), seed, samples, tasks, themes, shard_size)
    done = _prepare(out, params, resume)
    summary = BuildSummary()
    for line in read_manifest(out):
        summary.shards_skipped += 1
        summary.records += line["records"]
        summary.failed += len(line["errors"])
        summary.planned += line["records"] + len(line["errors"])
        summary.pages += sum(s["pages"] for s in line["samples"])
    docs = document_factory(source, text_field=text_field, id_field=id_field)
    plan = plan_samples(docs, cfg, seed, samples, tasks, themes, summary.source_errors)
    config = cfg.model_dump(mode="json")
    manifest = open(out / MANIFEST, "a", encoding="utf-8")  # noqa: SIM115 - closed in finally

    def commit(line: dict[str, Any]) -> None:
        manifest.write(json.dumps(line) + "\n")
        manifest.flush()
        os.fsync(manifest.fileno())
        summary.shards_built += 1
        summary.records += line["records"]
        summary.failed += len(line["errors"])
        summary.planned += line["records"] + len(line["errors"])
        summary.pages += sum(s["pages"] for s in line["samples"])
        summary.errors += [f"{e['id']} ({e['source']}): {e['error']}" for e in line["errors"]]
        summary.seconds = time.perf_counter() - t0
        if on_progress is not None:
            on_progress(summary)

    def todo() -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for shard, specs in _jobs(plan, shard_size):
            if shard not in done:
                yield shard, [asdict(s) for s in specs]

    try:
        if ray_address:
            _run_on_ray(ray_address, str(out), seed, config, todo(), commit)
        else:
            _run_local(workers or os.cpu_count() or 1, str(out), seed, config, todo(), commit)
    finally:
        manifest.close()
    from glyph.train.cpt.stats import write_stats

    write_stats(out)
    summary.seconds = time.perf_counter() - t0
    return summary


def _run_local(
    workers: int, out: str, seed: int, config: dict[str, Any], jobs: Iterator, commit: Callable
) -> None:
    if workers <= 1:
        for shard, specs in jobs:
            commit(build_shard(out, shard, seed, config, specs))
        return
    # fork: workers inherit the font catalogue; safe because this process runs no threads of ours
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    pool = ProcessPoolExecutor(workers, mp_context=ctx)
    pending: dict[Future, str] = {}
    finished_cleanly = False
    try:
        for shard, specs in jobs:
            while len(pending) >= 2 * workers:
                _collect(pending, commit)
            pending[pool.submit(build_shard, out, shard, seed, config, specs)] = shard
        while pending:
            _collect(pending, commit)
        finished_cleanly = True
    finally:
        if finished_cleanly:
            pool.shutdown()
        else:  # interrupted: stop the workers now; uncommitted shards are rebuilt on resume
            _terminate(pool)


def _collect(pending: dict[Future, str], commit: Callable) -> None:
    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
    for fut in finished:
        pending.pop(fut)
        commit(fut.result())


def _run_on_ray(address: str, out: str, seed: int, config: dict[str, Any], jobs: Iterator, commit: Callable,
                wave: int = 64) -> None:  # fmt: skip
    """Ray Data over the shards: one row per shard job, built by ``map`` on the cluster's workers.

    ``out`` must be a path every node can write (a shared file system). Jobs go in waves so the
    plan, which holds the text windows, never sits whole in the driver's memory.
    """
    try:
        import ray
    except ImportError:
        raise ImportError("--ray needs Ray Data: pip install 'glyph[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, ignore_reinit_error=True,
                 include_dashboard=False, log_to_driver=False)  # fmt: skip
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    batch: list[dict[str, str]] = []

    def run(rows: list[dict[str, str]]) -> None:
        ds = ray.data.from_items(rows).map(_ray_build, num_cpus=1)
        for row in ds.iter_rows():
            commit(json.loads(row["line"]))

    for shard, specs in jobs:
        batch.append(
            {
                "job": json.dumps(
                    {"out_dir": out, "shard": shard, "seed": seed, "config": config, "specs": specs}
                )
            }
        )
        if len(batch) >= wave:
            run(batch)
            batch = []
    if batch:
        run(batch)

"""Rendering in worker processes, one render slot each: the event loop never waits for the GIL.

Why processes: layout is Python and parts of the rasteriser (base64, ``ufunc.at``) hold the
GIL for milliseconds at a time, so render *threads* delay every wake-up of the event loop:
measured on 2 cores, a loop's 2 ms sleep overran by 6.9 ms at p95 with two rendering threads
and by 2.4 ms with two rendering processes, and a request is a handful of wake-ups. Processes
also render on all cores at once. ``glyph serve`` renders in processes by default
(``--render-processes``); ``create_app`` renders in threads unless told (embedding, tests).

Each worker holds its own page cache and renderer caches, each ``1/N`` of the configured budget,
so all of them together stay within it. A request goes to the worker its first message hashes to
when that worker is free (a conversation's turns meet their page chains; a repeated document its
pages), else to any free worker; the pages are the same either way, only the cache hit differs.
A worker that dies (killed for memory) is replaced and its request answered 503; a worker whose
gateway dies (even by SIGKILL) exits within half a second. Workers run
at ``render_nice`` (default 10): when the CPUs are busy the scheduler gives the event loop (parsing,
forwarding, requests with nothing to render) its time first, and renders take what is left.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from glyph.render.config import RenderConfig
from glyph.render.raster import RASTERIZERS, set_rasterizer_budget
from glyph.serve.backends import PAGE_FORMS
from glyph.serve.documents import PageCache, Plan, Planner, PlanOptions
from glyph.serve.errors import GatewayError
from glyph.serve.memory import bound_heap_retention
from glyph.serve.settings import ServeSettings
from glyph.tokens import get_tokenizer, get_vlm_rule

__all__ = ["RenderWorkers", "affinity", "planner_for"]


def planner_for(settings: ServeSettings, kind: str, cache: PageCache) -> Planner:
    """The planner ``settings`` describe, sending pages in ``kind``'s form (``upstream`` or ``local``)."""
    payload, part = PAGE_FORMS[kind]
    return Planner(
        counter=get_tokenizer(settings.text_tokenizer),
        rule=get_vlm_rule(settings.vlm),
        cache=cache,
        payload=payload,
        part=part,
        kind=kind,
        max_pages=settings.max_pages,
        max_page_pixels=settings.max_page_pixels,
        image_url_schemes=settings.image_url_schemes,
    )


def affinity(messages: list[dict[str, Any]]) -> int:
    """A stable number for a request: its first message's first 4 KB (a conversation keeps it)."""
    first = messages[0].get("content") if messages else None
    text = first if isinstance(first, str) else repr(first)[:8192]
    return zlib.crc32(text[:4096].encode("utf-8", "surrogatepass"))


# ------------------------------------------------------------------------------------ in the worker
_PLANNER: Planner | None = None


def _init(settings_json: str, kind: str, workers: int) -> None:
    global _PLANNER
    _exit_with_parent(os.getppid())
    settings = ServeSettings.model_validate_json(settings_json)
    if settings.render_nice and hasattr(os, "nice"):
        os.nice(settings.render_nice)  # CPU goes to the loop first: no-render requests stay fast under load
    bound_heap_retention()
    set_rasterizer_budget(settings.render_cache_bytes // workers)
    _PLANNER = planner_for(settings, kind, PageCache(settings.cache_bytes // workers))


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """Exit when the gateway that spawned this worker is gone (killed, crashed, or shut down).

    A gateway that is SIGKILLed (out of memory, a supervisor's hard stop) runs no shutdown hook,
    and the executor's own exit path needs the parent alive: without this its render processes
    would stay behind, orphans holding their caches' memory.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="glyph-parent-watch", daemon=True).start()


def _ready() -> int:
    return os.getpid()


def _plan(messages: list[dict[str, Any]], cfg: RenderConfig, opts: PlanOptions) -> tuple[Plan, dict[str, Any]]:
    assert _PLANNER is not None, "render worker not initialised"
    plan = _PLANNER.plan(messages, cfg, opts)
    return plan, _stats()


def _stats() -> dict[str, Any]:
    assert _PLANNER is not None
    return {"pid": os.getpid(), "page_cache": _PLANNER.cache.stats(), "renderers": RASTERIZERS.stats()}


# ------------------------------------------------------------------------------------ in the gateway
class RenderWorkers:
    """``settings.render_concurrency`` single-process executors and the slots that guard them."""

    def __init__(self, settings: ServeSettings, kind: str) -> None:
        self.settings = settings
        self.kind = kind
        self.n = settings.render_concurrency
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._executors = [self._executor() for _ in range(self.n)]
        self._busy = [False] * self.n
        self._changed: asyncio.Condition | None = None
        self.last: dict[int, dict[str, Any]] = {}

    def _executor(self) -> ProcessPoolExecutor:
        init = (self.settings.model_dump_json(), self.kind, self.n)
        return ProcessPoolExecutor(1, mp_context=self._context, initializer=_init, initargs=init)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def start(self) -> None:
        """Spawn every worker now (imports, fonts, tokenizer), not on the first request."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(ex, _ready) for ex in self._executors))

    def close(self) -> None:
        for ex in self._executors:
            ex.shutdown(wait=False, cancel_futures=True)

    @property
    def busy(self) -> int:
        return sum(self._busy)

    async def acquire(self, key: int) -> int:
        """A free worker: ``key``'s own when free, else any (waits; the caller bounds the wait)."""
        changed = self._condition()
        async with changed:
            while all(self._busy):
                await changed.wait()
            preferred = key % self.n
            index = preferred if not self._busy[preferred] else self._busy.index(False)
            self._busy[index] = True
            return index

    def _release(self, index: int) -> None:
        async def notify() -> None:
            changed = self._condition()
            async with changed:
                self._busy[index] = False
                changed.notify()

        asyncio.ensure_future(notify())

    async def plan(
        self, index: int, messages: list[dict[str, Any]], cfg: RenderConfig, opts: PlanOptions
    ) -> Plan:
        """Plan on worker ``index`` (taken with :meth:`acquire`); it is freed when the worker is done,
        even if this caller is cancelled meanwhile (the worker cannot be interrupted)."""
        loop = asyncio.get_running_loop()
        try:
            job: Future[Any] = self._executors[index].submit(_plan, messages, cfg, opts)
        except BrokenProcessPool:
            self._replace(index)
            self._release(index)
            raise _died() from None
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release, index))
        try:
            plan, stats = await asyncio.shield(asyncio.wrap_future(job))
        except BrokenProcessPool:
            self._replace(index)
            raise _died() from None
        self.last[index] = stats
        return plan

    def _replace(self, index: int) -> None:
        self._executors[index].shutdown(wait=False, cancel_futures=True)
        self._executors[index] = self._executor()

    def stats(self) -> dict[str, Any]:
        """Caches summed over the workers, as of each one's last request."""
        totals: dict[str, dict[str, int]] = {"page_cache": {}, "renderers": {}}
        for stats in self.last.values():
            for part in totals:
                for k, v in stats[part].items():
                    totals[part][k] = totals[part].get(k, 0) + v
        return {**totals, "render_workers": sorted(s["pid"] for s in self.last.values())}


def _died() -> GatewayError:
    return GatewayError(
        503,
        "a render worker died (out of memory?); it has been replaced, retry",
        type="overloaded_error",
        code="render_worker_died",
        headers={"Retry-After": "1"},
    )

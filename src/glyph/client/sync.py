"""The sync bridge: run a coroutine from blocking code, also inside a running loop (notebooks)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` to completion from sync code; when the caller's thread already runs a loop,
    it runs on a private loop in a worker thread (``asyncio.run`` would refuse)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coro(make))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _as_coro(make)).result()


async def _as_coro(make: Callable[[], Awaitable[T]]) -> T:
    return await make()

"""Keep the gateway's resident memory near what it holds: glibc's heap, told to give big blocks back.

glibc's malloc raises its mmap threshold after each large ``free`` (up to 32 MiB), so the page
images, coverage canvases and PNG buffers of a high-dpi request end up in the heap, and the heap
keeps them after the request: the issue's twelve-config probe left 200 MB more resident than the
renderer's caches held. Fixing the threshold at 4 MiB sends such blocks to ``mmap`` (returned on
``free``); a 64 MiB trim threshold keeps the heap from shrinking and refaulting on every page
(measured: no CPU cost at 72 dpi, 346 -> 205 MB after the probe; ``benchmarks/gateway_load.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["bound_heap_retention"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


@functools.cache
def bound_heap_retention() -> bool:
    """Set glibc's mmap and trim thresholds once per process; False where malloc is not glibc's."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

"""Several gateway processes behind one port: ``glyph serve --workers N``.

Rendering is CPU work under Python's GIL, so one process renders on about one core; N uvicorn
workers share the listening socket (the kernel spreads connections) and render on N cores. Each
worker builds its app from the settings the CLI put in ``GLYPH_SERVE_SETTINGS`` (JSON; it holds
the API keys, so it lives only in the environment of the gateway's own processes).

The page cache is per worker (measured in ``benchmarks/gateway_load.py``): a document or a
conversation's history is rendered at most once per worker, and a worker that has not seen a
conversation's last turns replays its page chains from its own cache, so pages are identical
whichever worker answers. Budgets (``--cache-mb``, ``--render-cache-mb``) are per worker.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from glyph.serve.app import create_app
from glyph.serve.settings import ServeSettings

__all__ = ["SETTINGS_ENV", "app_from_env", "run"]

SETTINGS_ENV = "GLYPH_SERVE_SETTINGS"


def app_from_env() -> FastAPI:
    """uvicorn's app factory in each worker: the gateway for the settings in ``GLYPH_SERVE_SETTINGS``."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise RuntimeError(f"{SETTINGS_ENV} is not set: start workers with `glyph serve --workers N`")
    return create_app(ServeSettings.model_validate_json(raw))


def run(settings: ServeSettings, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve ``settings`` with ``workers`` uvicorn worker processes on one port (blocks)."""
    import uvicorn

    if workers > 1 and settings.model is not None:
        raise ValueError("--workers > 1 needs --upstream: each worker would load its own copy of a local model")
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run(
        "glyph.serve.workers:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )

"""Shared by the playground tests: the app on loopback and Debian's Chromium driven by Playwright.

No browser is downloaded: Playwright drives ``/usr/bin/chromium`` (``scripts/install_system_deps.sh``
installs it), headless, with a fresh profile and no background traffic.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # shared helpers (uvicorn on loopback)
from serve_helpers import serve_app

from glyph.render.config import reference_default
from glyph.ui import UISettings, asgi_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]
TOKEN = "test-token"
TEXT = "The vault code is 4417. " * 30  # the document the ask tests render
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_ui(backends: dict[str, Any] | None = None, **settings: Any) -> Iterator[str]:
    """The playground on a free loopback port; yields its base URL (as ``localhost``, which it trusts)."""
    settings.setdefault("token", TOKEN)
    with serve_app(asgi_app(UISettings(**settings), backends)) as url:
        yield url.replace("127.0.0.1", "localhost")


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium context (CSP bypassed so Playwright can evaluate its waits)."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing: run scripts/install_system_deps.sh (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, bypass_csp=True,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()


def open_page(context: Any, url: str, errors: list[str] | None = None) -> Any:
    """Open the playground (token in the URL, as glyph ui prints it) and wait for the first render."""
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/?token={TOKEN}")
    page.wait_for_function("document.querySelectorAll('#gallery .thumb').length > 0", timeout=60_000)
    return page


def wait_render(page: Any, before: str) -> None:
    """Wait until a new render replaced the one whose config hash text was ``before``."""
    page.wait_for_function(
        "([b]) => document.querySelector('#render-info').textContent !== b && !document.querySelector('#gallery').classList.contains('busy')",
        arg=[before], timeout=60_000,
    )


def ask_events(base: str, render_id: str, question: str) -> list[tuple[str, dict[str, Any]]]:
    """Ask about a render over the API and collect the event stream the page reads, to its end."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        job = c.post("/api/ask", json={"render": render_id, "question": question})
        assert job.status_code == 200, job.text
        events, name = [], None
        with c.stream("GET", f"/api/ask/{job.json()['id']}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
        again = c.get(f"/api/ask/{job.json()['id']}/events")
        assert again.status_code == 404  # each question streams once
    return events


def render_text(base: str) -> str:
    """Upload :data:`TEXT` and render it under the reference default config; the render's id."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        doc = c.post("/api/documents", json={"text": TEXT}).json()
        r = c.post("/api/render", json={"document": doc["id"], "config": reference_default().to_reference_dict()})
        return r.json()["id"]

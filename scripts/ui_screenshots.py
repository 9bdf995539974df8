"""Screenshots of the playground's main views for the README (docs/ui_*.png).

    python scripts/ui_screenshots.py            # needs Debian's chromium and the [test] extra

It starts ``glyph ui`` on loopback with the committed search export and RULER runs, and for
the ask panel ``glyph serve`` on the project's tiny random-weight GLM-4.1V (built locally, so
its answers are noise: what the screenshot shows is the streaming, the prompt tokens and the
latency of each side, not a model's quality), then drives Debian's Chromium with Playwright.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "screenshots"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://localhost:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def tiny_gateway(workdir: Path) -> Iterator[str]:
    from glyph.readers.tiny import save_tiny_vlm
    from glyph.serve import ServeSettings, create_app

    checkpoint = save_tiny_vlm("glm4v", workdir / "tiny-glm4v")
    settings = ServeSettings(model=str(checkpoint), served_model_name="tiny-glm4v (random weights)", device="cpu")
    with serve(create_app(settings)) as url:
        yield url


def wait(page: Any, js: str, timeout: float = 120_000) -> None:
    page.wait_for_function(js, timeout=timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from glyph.ui import Side, UISettings, asgi_app

    args.out.mkdir(parents=True, exist_ok=True)
    sources = {"studies": (str(ROOT / "benchmarks/results/search"),), "runs": (ROOT / "benchmarks/results/ruler_offline",)}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(Path(tmp) / "profile"), executable_path=CHROMIUM, headless=True, bypass_csp=True,
            viewport={"width": 1440, "height": 1000}, device_scale_factor=1,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        with serve(asgi_app(UISettings(token=TOKEN, **sources))) as url:
            page = context.new_page()
            page.on("console", lambda m: print("console:", m.text))
            page.goto(f"{url}/?token={TOKEN}")
            wait(page, "document.querySelectorAll('#gallery .thumb').length > 0")
            before = page.inner_text("#render-info")
            page.select_option("#newlines", "reflow")
            wait(page, f"document.querySelector('#render-info').textContent !== {before!r}")
            page.wait_for_timeout(800)  # thumbnails decoded
            page.screenshot(path=str(args.out / "ui_pages.png"))
            print("docs/ui_pages.png", flush=True)

            page.click("#tab-study")
            wait(page, "state.studyChart && state.study")
            x, y = page.evaluate(
                "(() => { const m = state.studyChart.getDatasetMeta(2).data[0]; "
                "const r = state.studyChart.canvas.getBoundingClientRect(); return [r.left + m.x, r.top + m.y]; })()"
            )
            page.mouse.move(x, y)
            page.wait_for_selector("#study-detail img", timeout=60_000)
            page.wait_for_timeout(800)
            page.screenshot(path=str(args.out / "ui_study.png"))
            print("docs/ui_study.png", flush=True)

            page.click("#tab-runs")
            page.wait_for_selector("#runs-table tbody tr")
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.out / "ui_runs.png"), full_page=True)
            print("docs/ui_runs.png", flush=True)

            page.close()
            page = context.new_page()  # a fresh page for the read-back
            page.goto(f"{url}/?token={TOKEN}")
            wait(page, "document.querySelectorAll('#gallery .thumb').length > 0")
            before = page.inner_text("#render-info")
            page.fill("#dpi-value", "48")
            page.dispatch_event("#dpi-value", "change")
            wait(page, f"document.querySelector('#render-info').textContent !== {before!r} && "
                       "state.render.config.dpi === 48 && !document.querySelector('#gallery').classList.contains('busy')")
            page.wait_for_timeout(500)  # thumbnails decoded
            page.click("#gallery .thumb >> nth=0")
            page.wait_for_function("document.querySelector('#zoom-img').complete && document.querySelector('#zoom-img').naturalWidth > 0")
            page.click("#zoom-read")
            page.wait_for_selector("#read-scores:not([hidden]), #read-error:not([hidden])", timeout=120_000)
            if page.is_hidden("#read-scores"):
                raise SystemExit(f"read-back failed: {page.inner_text('#read-error')} {page.inner_text('#read-status')}")
            page.evaluate("document.querySelector('#read-text').scrollTop = 0")
            page.locator("#readback").screenshot(path=str(args.out / "ui_readback.png"))
            print("docs/ui_readback.png", flush=True)
            page.close()

        with tiny_gateway(Path(tmp)) as gateway:
            side = Side(url=gateway + "/v1")
            with serve(asgi_app(UISettings(token=TOKEN, page=side, text=side, max_tokens=24))) as url:
                page = context.new_page()
                page.goto(f"{url}/?token={TOKEN}")
                wait(page, "document.querySelectorAll('#gallery .thumb').length > 0")
                before = page.inner_text("#render-info")
                page.fill("#text", "The vault code is 4417. It opens the blue door at the end of the corridor.")
                page.dispatch_event("#text", "input")
                wait(page, f"document.querySelector('#render-info').textContent !== {before!r}")
                page.fill("#question", "What is the vault code?")
                page.click("#ask-button")
                for side_id in ("#side-pages", "#side-text"):
                    page.wait_for_selector(f"{side_id} .stats dt:has-text('latency')", timeout=300_000)
                page.locator("#ask").screenshot(path=str(args.out / "ui_ask.png"))
                print("docs/ui_ask.png", flush=True)
        context.close()


if __name__ == "__main__":
    main()

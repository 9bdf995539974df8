"""The playground in a real headless Chromium (Debian's, driven by Playwright), served on loopback.

What a person does: load an example, move controls and watch page count and compression change,
type a value out of range, upload a file that is not text, zoom into a page, read it back, ask
both models, open a search study and an eval run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ui_helpers import ROOT, chromium, open_page, running_ui, wait_render

from glyph.measure import measure_compression, normalize
from glyph.render.config import RenderConfig, reference_default
from glyph.ui.examples import example


def _shown(page) -> tuple[int, str]:
    return int(page.inner_text("#page-count").replace(",", "")), page.inner_text("#ratio")


def _expected(text: str, **changes) -> tuple[int, str]:
    report, _ = measure_compression(text, reference_default().with_updates(**changes))
    return report.pages, f"{report.cost('glm4v').ratio:.2f}x"


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:  # one browser for the module (Playwright's sync API allows one per thread)
        yield context


@pytest.fixture(scope="module")
def ui_page(browser):
    with running_ui(reader="ocr") as url:
        errors: list[str] = []
        page = open_page(browser, url, errors)
        yield page
        page.close()
        assert not errors, errors  # no script error on the way


def test_example_then_controls_change_pages_and_ratio(ui_page) -> None:
    page = ui_page
    essay = example("essay").text()
    assert _shown(page) == _expected(essay)  # the default example, reference config
    before = page.inner_text("#render-info")
    page.select_option("#newlines", "reflow")
    wait_render(page, before)
    reflowed = _shown(page)
    assert reflowed == _expected(essay, reflow=True) and reflowed[0] < _expected(essay)[0]
    before = page.inner_text("#render-info")
    page.fill("#dpi-value", "96")
    page.dispatch_event("#dpi-value", "change")
    wait_render(page, before)
    assert _shown(page) == _expected(essay, reflow=True, dpi=96)
    assert float(page.inner_text("#ratio")[:-1]) < float(reflowed[1][:-1])  # more pixels, less compression
    rows = page.locator("#compression tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == ["glm4v", "qwen2.5vl", "qwen3vl"]


def test_out_of_range_value_is_shown_and_the_page_keeps_working(ui_page) -> None:
    page = ui_page
    page.fill("#dpi-value", "5000")
    page.dispatch_event("#dpi-value", "change")
    page.wait_for_selector("#config-error:not([hidden])")
    assert "dpi" in page.inner_text("#config-error") and "1200" in page.inner_text("#config-error")
    before = page.inner_text("#render-info")
    page.fill("#dpi-value", "72")
    page.dispatch_event("#dpi-value", "change")
    wait_render(page, before)
    assert page.is_hidden("#config-error")


def test_bad_upload_is_named_then_a_good_one_renders(ui_page, tmp_path: Path) -> None:
    page = ui_page
    bad = tmp_path / "report.pdf"
    bad.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#text-error:not([hidden])")
    assert "'report.pdf' is not a text file: it is a PDF document" in page.inner_text("#text-error")
    good = tmp_path / "notes.txt"
    good.write_text("Short notes.\n" * 400, encoding="utf-8")
    before = page.inner_text("#render-info")
    page.set_input_files("#upload", str(good))
    wait_render(page, before)
    assert page.is_hidden("#text-error")
    assert _shown(page)[0] == _expected("Short notes.\n" * 400, reflow=True)[0]
    assert page.input_value("#text").startswith("Short notes.")


def test_zoom_shows_real_pixels_and_read_back_marks_the_text(ui_page) -> None:
    page = ui_page
    page.click("#gallery .thumb >> nth=0")
    page.wait_for_function("document.querySelector('#zoom-img').complete && document.querySelector('#zoom-img').naturalWidth > 0")
    natural = page.evaluate("[document.querySelector('#zoom-img').naturalWidth, document.querySelector('#zoom-img').width]")
    cfg = RenderConfig.from_dict(page.evaluate("state.render.config"))
    assert natural[0] == natural[1] == page.evaluate("state.render.pages[0].width")  # 1 image pixel per CSS pixel
    page.click("#zoom-read")
    page.wait_for_selector("#read-scores:not([hidden])", timeout=120_000)
    shown_truth = page.evaluate(
        "[...document.querySelector('#read-text').childNodes].filter(n => !(n.tagName === 'INS')).map(n => n.textContent).join('')"
    )
    from glyph.render import render_pages

    first = next(render_pages(page.input_value("#text"), cfg))
    assert normalize(shown_truth) == normalize(first.text)  # the ground truth, every character shown once
    assert float(page.inner_text("#char-acc").rstrip("%")) > 90


def _held_read(page, held: list) -> None:
    """Click read back and wait until its request is held by the route (answered when released)."""
    page.click("#read-button")
    while not held:
        page.wait_for_timeout(50)


def test_read_back_survives_a_rerender_of_the_same_pages_not_a_new_config(ui_page) -> None:
    """A typed value's native change event on blur re-renders the same config mid read-back.

    Renders are content-addressed (document id + config hash), so the result still belongs to the
    pages shown; after a render of another config it is stale, and the panel says so. The read
    request is held until the re-render is done, so the order is certain.
    """
    page = ui_page
    held: list = []

    def hold(route) -> None:
        held.append(route)

    page.route("**/pages/*/read", hold)
    try:
        page.evaluate("document.querySelector('#read-scores').hidden = true")
        _held_read(page, held)
        page.evaluate("render()")  # the same document and config
        page.wait_for_function("!document.querySelector('#gallery').classList.contains('busy')")
        held.pop().continue_()
        page.wait_for_selector("#read-scores:not([hidden]), #read-error:not([hidden])", timeout=120_000)
        assert page.is_hidden("#read-error") and "character edits" in page.inner_text("#read-status")

        page.evaluate("document.querySelector('#read-scores').hidden = true")
        _held_read(page, held)
        before = page.inner_text("#render-info")
        page.fill("#dpi-value", "80")
        page.dispatch_event("#dpi-value", "change")  # another config
        assert page.evaluate("state.render.config.dpi") == 72  # the controls edit a copy, not the render shown
        wait_render(page, before)
        assert page.evaluate("state.render.config.dpi") == 80
        held.pop().continue_()
        page.wait_for_function("document.querySelector('#read-status').textContent.includes('read again')", timeout=120_000)
        assert page.is_hidden("#read-scores")
    finally:
        page.unroute("**/pages/*/read", hold)
    before = page.inner_text("#render-info")
    page.fill("#dpi-value", "72")
    page.dispatch_event("#dpi-value", "change")
    wait_render(page, before)


def test_search_study_hover_and_eval_runs(browser) -> None:
    with running_ui(studies=(str(ROOT / "benchmarks/results/search"),), runs=(ROOT / "benchmarks/results/ruler_offline",)) as url:
        page = open_page(browser, url)
        page.click("#tab-study")
        page.wait_for_function("state.studyChart && state.study")
        best = page.evaluate("state.study.best")
        x, y = page.evaluate("(() => { const m = state.studyChart.getDatasetMeta(2).data[0]; const r = state.studyChart.canvas.getBoundingClientRect(); return [r.left + m.x, r.top + m.y]; })()")
        page.mouse.move(x, y)
        page.wait_for_selector(f"#study-detail h3:has-text('trial {best}')")
        page.wait_for_selector("#study-detail img", timeout=60_000)
        exported = json.loads((ROOT / "benchmarks/results/search/best_config.json").read_text())
        reference = reference_default().to_reference_dict()
        changed = [k for k, v in exported.items() if k in reference and reference[k] != v]
        assert changed and changed[0] in page.inner_text("#study-detail")  # the knobs it changes are listed
        page.click("#use-config")
        size = exported["font-size"]
        page.wait_for_function(f"Number(document.querySelector('#font-size-value').value) === {size}")
        page.click("#tab-runs")
        page.wait_for_selector("#runs-table tbody tr")
        rows = page.locator("#runs-table tbody tr").all_inner_texts()
        assert len(rows) == 5 and any(re.search(r"dpi 48", r) for r in rows)


def test_ask_the_tiny_model_behind_glyph_serve(browser, glm_gateway: str) -> None:
    side = {"url": glm_gateway + "/v1"}
    with running_ui(page=side, text=side, max_tokens=4) as url:
        page = open_page(browser, url)
        before = page.inner_text("#render-info")
        page.fill("#text", "The vault code is 4417. It opens the blue door.")
        page.dispatch_event("#text", "input")
        wait_render(page, before)
        page.fill("#question", "What is the vault code?")
        page.click("#ask-button")
        for side_id in ("#side-pages", "#side-text"):
            page.wait_for_selector(f"{side_id} .stats dt:has-text('latency')", timeout=120_000)
            stats = page.inner_text(f"{side_id} .stats")
            assert re.search(r"prompt tokens\s+[\d,]+ \(server\)", stats), stats
            assert page.inner_text(f"{side_id} .answer").strip()  # the model's words (or "(empty answer)")
            assert page.is_hidden(f"{side_id} .side-error")
            assert "expected" not in stats  # the essay example's answer does not belong to a typed text
        pages_prompt = int(re.search(r"prompt tokens\s+([\d,]+)", page.inner_text("#side-pages .stats")).group(1).replace(",", ""))
        assert pages_prompt > int(page.inner_text("#visual-tokens").replace(",", ""))  # the page's image tokens, and the question

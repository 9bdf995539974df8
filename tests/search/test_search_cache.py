"""Evaluators and their cache: a config seen twice is not rendered or read again (on disk, across
evaluator instances, i.e. across workers and resumes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from search_helpers import CountingOracle

from glyph.render import fonts
from glyph.render.config import reference_default
from glyph.search.evaluators import EvaluatorUnavailableError, get_evaluator

CFG = reference_default()


def test_ocr_fidelity_reads_each_config_once(tmp_path: Path) -> None:
    CountingOracle.calls = 0
    opts = {"reader": "counting-oracle", "chars": 1500}
    ev = get_evaluator("ocr-fidelity", cache_dir=tmp_path, **opts)
    first = ev.evaluate(CFG)
    again = ev.evaluate(CFG)
    assert CountingOracle.calls == 1
    assert not first.cached and again.cached
    assert (again.accuracy, again.compression) == (first.accuracy, first.compression)
    assert first.accuracy == 1.0 and first.compression > 1.0
    assert first.metrics["class_accuracy"]["digit"] == 1.0 and first.metrics["pages"] >= 1
    # another worker (a new evaluator on the same cache folder) pays nothing either
    other = get_evaluator("ocr-fidelity", cache_dir=tmp_path, **opts)
    assert other.evaluate(CFG).cached and CountingOracle.calls == 1
    # a different config is read
    smaller = CFG.with_updates(font_size=7, line_height=8)
    result = other.evaluate(smaller)
    assert CountingOracle.calls == 2 and not result.cached and result.compression > first.compression
    # a different reader is a different cache entry (the render is reused, the read is not)
    oracle = get_evaluator("ocr-fidelity", cache_dir=tmp_path, reader="oracle", chars=1500)
    assert not oracle.evaluate(CFG).cached


@pytest.fixture
def fonts_restored():  # noqa: ANN201
    fonts.forget_fonts()
    yield
    fonts.forget_fonts()


def test_cache_entries_follow_font_bytes_not_config_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fonts_restored: None
) -> None:
    CountingOracle.calls = 0
    opts = {"reader": "counting-oracle", "chars": 800}
    get_evaluator("ocr-fidelity", cache_dir=tmp_path / "cache", **opts).evaluate(CFG)
    assert CountingOracle.calls == 1
    # the same config on a machine whose "DejaVu Sans" is another file: measured again, not served
    folder = fonts.matplotlib_font_dir()
    assert folder is not None
    shutil.copytree(folder, tmp_path / "fonts")
    shutil.copyfile(folder / "DejaVuSerif.ttf", tmp_path / "fonts" / "DejaVuSans.ttf")
    monkeypatch.setattr(fonts, "matplotlib_font_dir", lambda: tmp_path / "fonts")
    fonts.forget_fonts()
    moved = reference_default()
    assert moved.content_hash() == CFG.content_hash()
    result = get_evaluator("ocr-fidelity", cache_dir=tmp_path / "cache", **opts).evaluate(moved)
    assert not result.cached and CountingOracle.calls == 2


def test_without_a_cache_folder_every_call_reads(tmp_path: Path) -> None:
    CountingOracle.calls = 0
    ev = get_evaluator("ocr-fidelity", cache_dir=None, reader="counting-oracle", chars=800)
    ev.evaluate(CFG)
    ev.evaluate(CFG)
    assert CountingOracle.calls == 2


def test_validation_text_mixes_prose_and_hard_strings() -> None:
    from glyph.search.evaluators.text import validation_text

    text = validation_text(3000, seed=0)
    assert 2500 <= len(text) <= 3000 and text == validation_text(3000, seed=0)
    assert "Record " in text and "%" in text and "$" in text


def test_ocr_ruler_uses_the_eval_legibility_score_and_caches(tmp_path: Path) -> None:
    ev = get_evaluator("ocr-ruler", cache_dir=tmp_path, reader="oracle", tasks=["niah_single_2"], lengths=[1024])
    first = ev.evaluate(CFG)
    again = ev.evaluate(CFG)
    assert first.accuracy == 1.0 and first.compression > 1.0 and "by_task" in first.metrics
    assert again.cached and ev.score_calls == 1


def test_unknown_reader_is_reported_as_unavailable(tmp_path: Path) -> None:
    ev = get_evaluator("ocr-fidelity", cache_dir=tmp_path, reader="no-such-reader", chars=500)
    with pytest.raises(EvaluatorUnavailableError, match="no-such-reader"):
        ev.evaluate(CFG)


def test_vlm_ruler_asks_a_vlm_endpoint_through_the_eval_runner(tmp_path: Path) -> None:
    from search_helpers import FakeLLM

    # the fake "VLM" answers every question with the same text; the plumbing is what is checked here
    with FakeLLM(["I could not find it."] * 4) as vlm:
        ev = get_evaluator("vlm-ruler", cache_dir=tmp_path, reader="openai",
                           reader_options={"base_url": vlm.url, "model": "fake-vlm", "max_retries": 0},
                           tasks=["niah_single_2"], lengths=[1024], samples=2)
        first = ev.evaluate(CFG)
        again = ev.evaluate(CFG)
        asked = len(vlm.requests)
    assert asked == 2  # one request per validation sample, none for the cached repeat
    content = vlm.requests[0]["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in content)  # the pages went as images
    assert first.accuracy == 0.0 and first.compression > 1.0 and first.metrics["samples"] == 2
    assert again.cached and ev.score_calls == 1

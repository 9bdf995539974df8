"""Compression report: token counts from independent sources, edge cases with documented values."""

from __future__ import annotations

import pytest

from glyph.measure import compression_from_sizes, measure_compression
from glyph.render.config import reference_default
from glyph.tokens import get_vlm_rule


def test_report_from_known_page_sizes() -> None:
    # GLM-4.1V: a 580x842 page resizes to 588x840 (multiples of 28) -> 21*30 = 630 tokens + 2 wrappers
    cfg = reference_default()
    report = compression_from_sizes("x" * 100, [(580, 842), (580, 842)], cfg, ("glm4v",), tokenizer=None)
    cost = report.cost("glm4v")
    assert cost.visual_tokens == 2 * (630 + 2)
    assert cost.ratio is None  # no tokenizer given: ratio unknown, not invented
    assert cost.chars_per_visual_token == pytest.approx(100 / 1264)


def test_ratio_is_text_tokens_over_visual_tokens() -> None:
    text = "Hello world. " * 400
    report, pages = measure_compression(text, reference_default(), ("glm4v", "qwen3vl"), "qwen", keep_pages=True)
    assert report.pages == len(pages) >= 1
    for vlm in ("glm4v", "qwen3vl"):
        expected_visual = get_vlm_rule(vlm).document_tokens([p.image.size for p in pages])
        cost = report.cost(vlm)
        assert cost.visual_tokens == expected_visual
        assert cost.ratio == pytest.approx(report.text_tokens / expected_visual)
    # Qwen BPE: each repeat is 3 tokens ("Hello" or " Hello", " world", "."), plus the final " "
    assert report.text_tokens == 3 * 400 + 1


def test_empty_text_is_zero_not_nan() -> None:
    report, _ = measure_compression("", reference_default(), ("glm4v",))
    # like the reference, an empty text still makes one blank page; with 0 text tokens the ratio is 0
    assert report.pages == 1 and report.text_tokens == 0
    assert report.cost("glm4v").visual_tokens > 0 and report.cost("glm4v").ratio == 0.0
    assert report.notes and "empty text" in report.notes[0]


def test_report_serialises_to_json_types() -> None:
    import json

    report, _ = measure_compression("some text\n" * 50, reference_default(), ("qwen2.5vl",))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["costs"]["qwen2.5vl"]["visual_tokens"] > 0
    assert data["config_hash"] == reference_default().content_hash()

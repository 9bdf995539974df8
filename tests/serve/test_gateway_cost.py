"""The gateway's own per-request cost (``glyph.serve.cost``): it renders what ``glyph serve`` renders.

Expected values: pages counted by the renderer, visual tokens by the GLM-4.1V rule, text tokens by the
Qwen counter: each computed here independently of the gateway's planner.
"""

from __future__ import annotations

from glyph.serve.cost import gateway_cost


def test_gateway_cost_renders_what_glyph_serve_renders() -> None:
    from glyph.render import render_pages
    from glyph.render.config import reference_default
    from glyph.tokens import get_tokenizer, get_vlm_rule

    text = " ".join(f"Sentence number {i} of the test document." for i in range(400))
    cfg = reference_default()
    pages = list(render_pages(text, cfg))
    cost = gateway_cost(text, cfg, "What is it about?", repeat=1)
    assert cost["pages"] == len(pages) >= 2
    assert cost["visual_tokens"] == get_vlm_rule("glm4v").document_tokens([p.image.size for p in pages])
    assert cost["text_tokens"] == get_tokenizer("qwen").count(text)
    assert cost["forward_bytes"] > len(pages) * 1000  # the pages travel as base64 PNG inside the JSON
    assert 0 < cost["render_s"] < cost["plan_s"] <= cost["request_s"]

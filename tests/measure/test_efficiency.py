"""The pieces of the efficiency benchmark: KV-cache bytes (cache object = formula = hand count), the
clocks inside ``generate`` and the fitted cost model.

Expected values: byte counts worked out by hand from the tiny models' sizes, coefficients of
synthetic cost curves the fits must recover, crossings solved by hand, pages counted by the renderer.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glyph.measure.efficiency import (
    KVShape,
    StepClock,
    break_even,
    cache_nbytes,
    fit_decode,
    fit_prefill,
    module_time,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module", params=["glm4v", "qwen2.5vl"])
def tiny(request: pytest.FixtureRequest):
    from glyph.readers.tiny import build_tiny_vlm

    return build_tiny_vlm(request.param)


def page_prompt(vlm, words: int = 40):
    from PIL import Image

    page = Image.new("RGB", (300, 400), "white")
    content = [{"type": "image", "image": page}, {"type": "text", "text": " ".join(["page"] * words)}]
    return vlm.processor.apply_chat_template(
        [{"role": "user", "content": content}],
        tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt",
    )  # fmt: skip


@pytest.mark.parametrize("dtype, width", [(torch.float32, 4), (torch.bfloat16, 2)])
def test_kv_cache_bytes_of_the_cache_object_equal_the_formula(tiny, dtype, width) -> None:
    model = tiny.model.to(dtype)
    inputs = page_prompt(tiny).to("cpu", dtype=dtype)
    tokens = inputs["input_ids"].shape[1]
    with torch.inference_mode():
        cache = model(**inputs, use_cache=True, logits_to_keep=1).past_key_values
    shape = KVShape.from_config(model.config)
    assert shape == KVShape(layers=1, kv_heads=1, head_dim=16)  # TEST_DIMS: 1 layer, 1 KV head, 32 / 2 wide
    by_hand = 1 * 2 * 1 * 16 * tokens * width  # layers x (K, V) x kv heads x head dim x tokens x bytes
    assert cache_nbytes(cache) == shape.nbytes(tokens, width) == by_hand
    tiny.model.to(torch.float32)


def test_kv_formula_of_the_9b_at_128k() -> None:
    from glyph.readers.tiny import GLM4V_9B_DIMS, build_config

    shape = KVShape.from_config(build_config("glm4v", GLM4V_9B_DIMS))
    assert shape == KVShape(layers=40, kv_heads=2, head_dim=128)
    assert shape.nbytes(131072, 2) == 40 * 2 * 2 * 128 * 131072 * 2 == 5 * 2**30  # bf16: exactly 5 GiB


def test_cache_nbytes_reads_legacy_tuples_and_refuses_unknown_objects() -> None:
    k = torch.zeros(1, 2, 5, 8)
    assert cache_nbytes(((k, k), (k, k))) == 4 * 80 * 4
    with pytest.raises(TypeError, match="object"):
        cache_nbytes(object())


def test_step_clock_stamps_every_token_and_the_vision_tower_runs_once(tiny) -> None:
    inputs = page_prompt(tiny)
    clock = StepClock()
    with torch.inference_mode(), module_time(tiny.model.model.visual) as spans:
        clock.begin()
        out = tiny.model.generate(
            **inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False, stopping_criteria=[clock]
        )
    assert out.shape[1] - inputs["input_ids"].shape[1] == 6  # end-of-sequence held back
    assert len(clock.stamps) == 6 and clock.stamps == sorted(clock.stamps)
    assert clock.first_token_s > 0 and clock.decode_s_per_token > 0
    assert len(spans) == 1 and 0 < spans[0] < clock.first_token_s  # vision only in the prefill
    assert not tiny.model.model.visual._forward_hooks  # hooks removed


@settings(max_examples=40, deadline=None)
@given(
    b=st.floats(1e-6, 1e-2),
    c=st.floats(1e-10, 1e-6),
    lengths=st.lists(st.integers(256, 200_000), min_size=3, max_size=6, unique=True),
)
def test_prefill_fit_recovers_linear_and_quadratic_terms(b: float, c: float, lengths: list[int]) -> None:
    fit = fit_prefill(lengths, [b * n + c * n * n for n in lengths])
    assert fit.linear == pytest.approx(b, rel=1e-5, abs=1e-12)
    assert fit.quadratic == pytest.approx(c, rel=1e-5, abs=1e-15)
    assert max(abs(r) for r in fit.residuals) < 1e-6
    assert fit.attention_length == pytest.approx(b / c, rel=1e-4)


def test_a_negative_term_is_dropped_and_the_other_refitted() -> None:
    fit = fit_prefill([1000, 2000, 4000], [1.0, 1.9, 3.6])  # concave: noise, not attention
    assert fit.quadratic == 0.0 and fit.dropped == "quadratic"
    assert fit.linear == pytest.approx((1000 + 3800 + 14400) / (1000**2 + 2000**2 + 4000**2))
    assert math.isinf(fit.attention_length)
    with pytest.raises(ValueError, match="two or more"):
        fit_prefill([1000], [1.0])


def test_decode_fit_is_a_constant_plus_a_term_per_context_token() -> None:
    fit = fit_decode([1000, 5000, 9000], [0.011, 0.015, 0.019])
    assert fit.intercept == pytest.approx(0.010) and fit.slope == pytest.approx(1e-6)
    flat = fit_decode([1000, 5000, 9000], [0.020, 0.019, 0.018])  # faster with more context: noise
    assert flat.slope == 0.0 and flat.intercept == pytest.approx(0.019)


def test_break_even_solves_the_crossing_by_hand() -> None:
    text = fit_prefill([1e3, 2e3, 4e3], [1e-3 * n + 1e-7 * n * n for n in (1e3, 2e3, 4e3)])
    pages = fit_prefill([1e3, 2e3, 4e3], [4e-3 * n + 1e-7 * n * n for n in (1e3, 2e3, 4e3)])
    # pages: half the tokens, 4x dearer per token: 1e-3 N + 1e-7 N^2 = 2e-3 N + 0.25e-7 N^2 at N = 13,333
    assert break_even(text, pages, (0, 1.0), (0, 0.5)) == pytest.approx(1e-3 / 0.75e-7, rel=1e-6)
    cheap = fit_prefill([1e3, 2e3], [1e-3 * n for n in (1e3, 2e3)])
    assert break_even(text, cheap, (0, 1.0), (0, 0.5)) == 0.0  # cheaper at every length
    assert break_even(cheap, text, (0, 1.0), (0, 1.0)) is None  # never cheaper

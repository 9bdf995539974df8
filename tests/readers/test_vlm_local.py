"""The transformers reader, end to end on tiny random-weight GLM-4.1V and Qwen2.5-VL checkpoints.

Expected numbers come from the real transformers image processors configured with the
released checkpoints' preprocessor settings, from the chat template rendered by jinja and
counted by the tokenizer, and from literals worked out by hand.
"""

# ruff: noqa: F811  (fixtures imported from the shared helpers are redefined as arguments)
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # shared tiny-model helpers
from serve_helpers import (
    expected_prompt_tokens,
    glm_reader,  # noqa: F401  (fixture)
    image_processor,
    processor_image_tokens,
    qwen_reader,  # noqa: F401  (fixture)
    tiny_glm,  # noqa: F401  (fixture)
    tiny_qwen,  # noqa: F401  (fixture)
    user_turn,
)

from glyph.readers import ReaderUnavailableError, get_reader
from glyph.readers.local_hf import TransformersReader, pick_device, pick_dtype
from glyph.render import RenderedPage, render_pages
from glyph.render.config import reference_default
from glyph.tokens import get_vlm_rule

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

QUESTION = "What is written on the page ?"
# Two pages: a full one and a short, auto-cropped last one (different sizes, so padding matters).
DOC = " ".join(f"Hello world number {i} is in the essay." for i in range(400))


@pytest.fixture(scope="module")
def pages() -> list[RenderedPage]:
    return list(render_pages(DOC, reference_default()))


@pytest.fixture(params=["glm4v", "qwen2.5vl"])
def arch_reader(request: pytest.FixtureRequest) -> tuple[str, TransformersReader]:
    name = "glm_reader" if request.param == "glm4v" else "qwen_reader"
    return request.param, request.getfixturevalue(name)


def test_blank_a4_page_costs_630_tokens_in_both_families() -> None:
    # 595x842 snaps to 588x840 (multiples of 28): 21 x 30 merged patches = 630 for both processors.
    blank = Image.new("RGB", (595, 842), "white")
    for arch in ("glm4v", "qwen2.5vl"):
        assert processor_image_tokens(arch, [blank]) == [630]
        assert get_vlm_rule(arch).tokens_for_image(595, 842) == 630


def test_image_tokens_inserted_by_processor_match_our_rule(
    arch_reader: tuple[str, TransformersReader], pages: list[RenderedPage]
) -> None:
    arch, reader = arch_reader
    assert len(pages) == 2 and pages[0].image.size != pages[1].image.size  # a full page, a cropped one
    inputs = reader.processor.apply_chat_template(
        [reader.conversation(pages, QUESTION)],
        tokenize=True,
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    inserted = int((inputs["input_ids"] == reader.processor.image_token_id).sum())
    real = processor_image_tokens(arch, [p.image for p in pages])
    rule = get_vlm_rule(arch)
    assert inserted == sum(real)
    assert [rule.tokens_for_image(*p.image.size) for p in pages] == real
    # the checkpoint's saved preprocessor settings are the released ones
    assert reader.processor.image_processor.size == image_processor(arch).size


def test_answer_end_to_end_reports_the_real_prompt_length(
    arch_reader: tuple[str, TransformersReader], pages: list[RenderedPage]
) -> None:
    arch, reader = arch_reader
    answer = reader.answer(pages, QUESTION, system="Answer briefly .", max_tokens=5)
    messages = user_turn([p.image for p in pages], QUESTION, system="Answer briefly .")
    assert answer.usage.prompt_tokens == expected_prompt_tokens(arch, reader.processor.tokenizer, messages)
    assert 1 <= answer.usage.completion_tokens <= 5
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert isinstance(answer.text, str) and answer.seconds > 0


def test_batched_transcription_equals_one_page_at_a_time(
    glm_reader: TransformersReader, pages: list[RenderedPage]
) -> None:
    # Left padding + attention mask must not change greedy output: batch of 3 (two sizes) vs singles.
    trio = [pages[0], pages[1], pages[0]]
    saved = glm_reader.batch_size
    try:
        glm_reader.batch_size = 3
        batched = glm_reader.transcribe(trio, max_tokens=6)
        glm_reader.batch_size = 1
        single = glm_reader.transcribe(trio, max_tokens=6)
    finally:
        glm_reader.batch_size = saved
    assert batched == single
    assert batched[0] == batched[2]


def test_device_and_dtype_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda"
    assert pick_device("cpu") == "cpu"
    assert pick_dtype("cpu") is torch.float32
    assert pick_dtype("mps") is torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert pick_dtype("cuda:0") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert pick_dtype("cuda") is torch.float16
    assert pick_dtype("cpu", "bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be one of"):
        pick_dtype("cpu", "int3")


def test_registry_builds_the_reader_on_cpu_in_fp32(tiny_qwen: Path, tmp_path: Path) -> None:
    reader = get_reader("transformers", model=str(tiny_qwen))
    assert isinstance(reader, TransformersReader)
    assert (reader.device, reader.dtype, reader.model_type) == ("cpu", torch.float32, "qwen2_5_vl")
    assert next(reader.model.parameters()).dtype is torch.float32
    with pytest.raises(ReaderUnavailableError, match="cannot load VLM checkpoint"):
        get_reader("transformers", model=str(tmp_path / "missing"))

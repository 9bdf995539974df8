"""benchmarks/learn_to_read.py: its images carry the answer only in their pixels, and held-out renderings
are never trained on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("learn_to_read", ROOT / "benchmarks" / "learn_to_read.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_image_is_the_same_size_and_the_ink_is_inside_the_shifted_line_box() -> None:
    bench = _bench()
    for rendering in [("page", "DejaVu Sans", 24, 0, 0), ("Work", "DejaVu Serif", 28, 42, 70),
                      ("only", "DejaVu Sans Mono", 24, 28, 14)]:  # fmt: skip
        page = bench.page(rendering)
        assert page.image.size == (112, 112)
        assert page.text == rendering[0]
        ink = np.asarray(page.image.convert("L")) < 128
        (box,) = page.lines
        assert ink[box.top : box.bottom, box.left : box.right].any()
        outside = ink.copy()
        outside[box.top : box.bottom, box.left : box.right] = False
        assert not outside.any(), rendering  # nothing drawn outside the word's box
        assert box.left >= rendering[3] and box.top >= rendering[4]


def test_heldout_renderings_are_never_trained_on_and_fit_the_patch_grid() -> None:
    bench = _bench()
    train, held = bench.renderings(2000, 120, seed=0, grid=14, sizes=(24, 28))
    assert len(held) == 120 and not set(train) & set(held)
    for _, _, _, x, y in train[:200] + held:
        assert x % 14 == 0 and y % 14 == 0
    assert {r[0] for r in held} == set(bench.WORDS)


def test_every_word_is_one_token_of_the_tiny_vocabulary() -> None:
    from glyph.readers.tiny import GLM_SPECIALS, build_tokenizer

    tok = build_tokenizer(GLM_SPECIALS, eos="<|endoftext|>")
    for word in _bench().WORDS:
        ids = tok(word, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] != tok.unk_token_id, word

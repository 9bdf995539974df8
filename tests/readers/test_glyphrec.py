"""The compact recogniser: line preparation, CTC decoding, data splits, training, export, reading."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from glyph.readers.glyphrec.runtime import CHARSET, HEIGHT, ctc_greedy, encode, prepare_line


def test_prepare_line_is_polarity_and_contrast_free() -> None:
    rng = np.random.default_rng(0)
    ink = rng.random((15, 120)) < 0.2
    dark_on_light = np.where(ink, 0, 255).astype(np.uint8)
    light_on_dark = np.where(ink, 230, 30).astype(np.uint8)
    a, b = prepare_line(dark_on_light), prepare_line(light_on_dark)
    assert a.shape == (HEIGHT, round(120 * HEIGHT / 15)) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.max() > 0.5
    assert not prepare_line(np.full((15, 60), 200, np.uint8)).any()  # no ink: all background
    with pytest.raises(ValueError, match=r"shape \(15, 60, 3\)"):
        prepare_line(np.zeros((15, 60, 3), np.uint8))


def test_ctc_greedy_collapses_repeats_and_blanks() -> None:
    ids = {ch: i + 1 for i, ch in enumerate(CHARSET)}
    path = [0, ids["l"], ids["l"], 0, ids["l"], ids[" "], ids[" "], 0, ids["0"], ids["1"], 0, 0]
    logits = np.full((len(path) + 3, len(CHARSET) + 1), -5.0, np.float32)
    for t, k in enumerate(path):
        logits[t, k] = 5.0
    logits[len(path):, ids["x"]] = 5.0  # past the line's own steps: ignored
    read = ctc_greedy(logits, len(path))
    assert read.text == "ll 01"
    assert 0.99 < read.confidence <= 1.0
    assert ctc_greedy(logits, 1).text == ""


def test_encode_names_a_foreign_character() -> None:
    assert encode(" A") == [1, CHARSET.index("A") + 1]
    with pytest.raises(ValueError, match="'中'"):
        encode("a中b")


def test_training_and_heldout_sources_are_disjoint() -> None:
    from glyph.train.recognizer.data import code_files, prose

    assert not set(prose("train")) & set(prose("heldout"))
    assert not set(code_files("train")) & set(code_files("heldout"))
    assert prose("train") and prose("heldout") and code_files("train") and code_files("heldout")


def test_examples_are_exact_labels_of_rendered_lines() -> None:
    import itertools

    from glyph.train.recognizer.data import examples

    lines = list(itertools.islice(examples(3, "heldout", jitter=False), 40))
    assert all(line.image.shape[0] == HEIGHT for line in lines)
    assert all(set(line.text) <= set(CHARSET) and line.text == " ".join(line.text.split()) for line in lines)
    again = list(itertools.islice(examples(3, "heldout", jitter=False), 40))
    assert [line.text for line in again] == [line.text for line in lines]  # a pure function of the seed


def _losses(run: Path) -> list[float]:
    state = json.loads(next(run.glob("checkpoint-*/trainer_state.json")).read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def test_training_loss_falls_resumes_and_exports(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from glyph.readers.glyphrec.runtime import GlyphRecognizer
    from glyph.train.recognizer import train

    run = tmp_path / "run"
    common = ["--out", str(run), "--batch", "8", "--lr", "3e-3", "--warmup", "5", "--eval-lines", "16",
              "--eval-every", "1000", "--save-every", "30", "--log-every", "5", "--threads", "1"]
    train.main([*common, "--steps", "30"])
    losses = _losses(run)
    assert len(losses) == 6 and np.mean(losses[-2:]) < 0.5 * np.mean(losses[:2]), losses
    onnx_path = tmp_path / "model.onnx"
    train.main([*common, "--steps", "40", "--resume", "--export", str(onnx_path)])
    state = json.loads((run / "checkpoint-40" / "trainer_state.json").read_text())
    assert state["global_step"] == 40
    steps = [h["step"] for h in state["log_history"] if "loss" in h]
    assert steps == sorted(set(steps)) and steps[-1] == 40  # resumed, not restarted: no step twice
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["steps"] == 40 and re.fullmatch(r"[0-9a-f]{12}", card["revision"])
    rec = GlyphRecognizer(onnx_path, threads=1)
    assert rec.revision == card["revision"] and rec.charset == CHARSET
    line = prepare_line(np.where(np.random.default_rng(1).random((15, 90)) < 0.2, 0, 255).astype(np.uint8))
    assert isinstance(rec([line])[0].text, str)

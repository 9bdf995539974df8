"""Shared fixtures for the training tests: tiny random-weight checkpoints and small rendered pages.

The checkpoints are ``glyph.readers.tiny``'s: the real GLM-4.1V / Qwen2.5-VL classes and image
processors from small configs, built once per session (a second or two each).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from glyph.readers.tiny import save_tiny_vlm
from glyph.render import reference_default, render_pages
from glyph.render.config import RenderConfig

#: Words the word-level test tokenizer knows (its vocabulary is glyph.readers.tiny.CORPUS).
WORDS = ["Hello", "world", ".", "How", "to", "Do", "Great", "Work", "Paul", "Graham", "essay", "page", "number",
         "one", "two", "three"]  # fmt: skip


def small_config(**changes: object) -> RenderConfig:
    """A small page (200 x 150 pt at 72 dpi, ~40 visual tokens): cheap for tiny models on CPU."""
    return reference_default().with_updates(**{"page-size": "200,150", **changes})


def known_text(n_words: int, offset: int = 0) -> str:
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n_words))


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-train")


@pytest.fixture(scope="session")
def tiny_glm(tiny_root: Path) -> Path:
    return save_tiny_vlm("glm4v", tiny_root / "glm4v")


@pytest.fixture(scope="session")
def tiny_qwen(tiny_root: Path) -> Path:
    return save_tiny_vlm("qwen2.5vl", tiny_root / "qwen2.5vl")


@pytest.fixture(scope="session", params=["glm4v", "qwen2.5vl"])
def tiny_model(request: pytest.FixtureRequest) -> tuple[str, Path]:
    name = "tiny_glm" if request.param == "glm4v" else "tiny_qwen"
    return request.param, request.getfixturevalue(name)


@pytest.fixture(scope="session")
def small_pages() -> list:
    """Two pages of different sizes (a full one and a cropped last one)."""
    pages = list(render_pages(known_text(120), small_config()))
    assert len(pages) >= 2 and pages[0].image.size != pages[-1].image.size
    return pages

"""Shared fixtures for the training tests: tiny random-weight checkpoints and small rendered pages.

The checkpoints are ``glyph.readers.tiny``'s: the real GLM-4.1V / Qwen2.5-VL classes and image
processors from small configs, built once per session (a second or two each).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from train_helpers import known_text, small_config

from glyph.readers.tiny import save_tiny_vlm
from glyph.render import render_pages


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

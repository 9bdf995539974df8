"""Shared by tests/serve and tests/readers: tiny random-weight VLMs built locally, and servers on loopback.

Tiny models: :func:`glyph.readers.tiny.save_tiny_vlm` with its test sizes and word-level
tokenizer (the real architectures from small configs, the real image processors with the
released settings, chat templates modelled on each family's), built once per session.

Servers: :mod:`loopback` (torch-free, re-exported here) and the gateway on a tiny model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from loopback import FakeUpstream, completion, decode_data_url, json_response, serve_app  # noqa: F401

from glyph.readers.tiny import TEMPLATES, image_processor, save_tiny_vlm

_BUILT: dict[str, Path] = {}
_READERS: dict[str, Any] = {}


def tiny_checkpoint(arch: str, root: Path) -> Path:
    """Build (once per test session) the tiny checkpoint of ``arch`` under ``root``."""
    if arch not in _BUILT:
        _BUILT[arch] = save_tiny_vlm(arch, root / f"tiny-{arch}")
    return _BUILT[arch]


def tiny_reader(arch: str, root: Path) -> Any:
    """One loaded ``TransformersReader`` per architecture per session (loading is the slow part)."""
    from glyph.readers.local_hf import TransformersReader

    if arch not in _READERS:
        _READERS[arch] = TransformersReader(str(tiny_checkpoint(arch, root)), device="cpu")
    return _READERS[arch]


def processor_image_tokens(arch: str, images: list[Any]) -> list[int]:
    """Image-pad tokens per image, from the real image processor's ``image_grid_thw``."""
    proc = image_processor(arch)
    grids = proc(images, return_tensors="pt")["image_grid_thw"]
    return [int(g.prod()) // proc.merge_size**2 for g in grids]


# ------------------------------------------------------------------------------------ fixtures
# Imported by the test modules that need them (tests/serve/conftest.py re-exports them).
@pytest.fixture(scope="session")
def tiny_glm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("glm4v", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("qwen2.5vl", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def glm_reader(tiny_glm: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny_reader("glm4v", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def qwen_reader(tiny_qwen: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny_reader("qwen2.5vl", tmp_path_factory.getbasetemp())


def local_settings(model_dir: Path, **overrides: Any) -> Any:
    """Gateway settings for the tiny local model, short answers by default."""
    from glyph.serve import ServeSettings

    return ServeSettings(
        model=str(model_dir), served_model_name="tiny-glm", default_max_tokens=4, **overrides
    )


@contextmanager
def local_gateway(reader: Any, model_dir: Path, **overrides: Any) -> Iterator[str]:
    """``glyph serve`` on the tiny local model (the loaded reader shared), on loopback."""
    from glyph.serve import create_app
    from glyph.serve.backends import LocalBackend

    settings = local_settings(model_dir, **overrides)

    class _Shared(LocalBackend):
        async def aclose(self) -> None:  # the session's reader outlives each gateway
            return None

    with serve_app(create_app(settings, backend=_Shared(settings, reader=reader))) as url:
        yield url


@pytest.fixture(scope="session")
def glm_gateway(glm_reader: Any, tiny_glm: Path) -> Iterator[str]:
    """One gateway on the tiny GLM model for the whole session (default settings)."""
    with local_gateway(glm_reader, tiny_glm) as url:
        yield url


def expected_prompt_tokens(arch: str, tokenizer: Any, messages: list[dict[str, Any]]) -> int:
    """Prompt length computed independently of the code under test: the chat template rendered
    by jinja and counted by the tokenizer (one placeholder per image), plus the real image
    processor's token count for each image. ``messages`` hold PIL images as {"type": "image", "image": ...}."""
    import jinja2

    images = [
        p["image"]
        for m in messages
        if isinstance(m["content"], list)
        for p in m["content"]
        if p["type"] == "image"
    ]
    prompt = jinja2.Template(TEMPLATES[arch]).render(messages=messages, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return len(ids) - len(images) + sum(processor_image_tokens(arch, images)) if images else len(ids)


def user_turn(images: list[Any], question: str, system: str | None = None) -> list[dict[str, Any]]:
    """[system?, user: images then question] in transformers' message format."""
    content = [{"type": "image", "image": im} for im in images] + [{"type": "text", "text": question}]
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": content}
    ]

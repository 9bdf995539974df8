"""Prompt wording as data: the packaged prompts.yaml, optionally overlaid by a user's file.

Wording changes results, so it lives in one replaceable file rather than in code; a sample's
``content_hash`` covers its text, so a resumed run with new wording redoes the samples.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

Prompts = dict[str, Any]


@functools.cache
def _default_text() -> str:
    return resources.files("glyph.eval").joinpath("prompts.yaml").read_text(encoding="utf-8")


def default_prompts() -> Prompts:
    """A fresh copy of the packaged wording."""
    return yaml.safe_load(_default_text())


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_prompts(path: str | Path | None = None) -> Prompts:
    """The packaged prompts, with ``path``'s keys (YAML or JSON) replacing the ones it sets."""
    prompts = default_prompts()
    if path is None:
        return prompts
    try:
        user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ValueError(f"no such prompts file: {path}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML/JSON: {exc}") from None
    if not isinstance(user, dict):
        raise ValueError(f"{path} must hold a mapping like the packaged prompts.yaml")  # noqa: TRY004
    return _merge(prompts, user)


def fill(template: str, **values: Any) -> str:
    """``str.format`` with an error that names the missing placeholder and the template."""
    try:
        return template.format(**values)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"prompt template {template!r} uses unknown placeholder {exc}") from None

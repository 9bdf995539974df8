"""Training recipes: one YAML file says what to train, on what, and how; validated before anything loads.

A recipe has four sections::

    model:    {path, dtype, attn_implementation, gradient_checkpointing, freeze_vision, lora}
    data:     {shards, max_length, tasks, check_images}
    training: any transformers ``TrainingArguments`` field (output_dir, learning_rate, max_steps, ...)
    global_batch_size: 170   # optional: gradient accumulation is derived from the number of processes

Unknown keys fail with the key's path and the nearest valid name (``training.learnig_rate: unknown
TrainingArguments field; did you mean learning_rate?``). Recipes shipped with the package are named
by file stem (``glyph train recipes`` lists them); ``--set section.key=value`` overrides any key.

``stage`` picks the row of :data:`STAGES`: the recipe model (a stage may add sections, e.g. GRPO's
``rewards``), the arguments class ``training:`` fills (``TrainingArguments``, TRL's ``SFTConfig``
or ``GRPOConfig``) and the hooks :func:`glyph.train.run.run_training` builds the trainer with.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from glyph.train.models import ModelSpec

__all__ = [
    "STAGES",
    "CollatorSpec",
    "DataSpec",
    "LossSpec",
    "Recipe",
    "accelerate_config",
    "accelerate_configs",
    "builtin_recipes",
    "load_recipe",
    "training_arguments",
]

#: Settings the trainers rely on, whatever a recipe says (records are not tensors until collated).
FORCED = {"remove_unused_columns": False}
#: TRL's configs default these on (gradient checkpointing, bf16); recipes mean the same in every
#: stage, so they start off as in ``TrainingArguments`` (``model.gradient_checkpointing`` turns GC on).
TRL_DEFAULTS = {"gradient_checkpointing": False, "bf16": False}


@dataclass(frozen=True)
class StageInfo:
    """Where a stage's pieces live, as ``module:attribute`` (imported when a recipe names the stage)."""

    recipe: str  # the pydantic recipe model
    arguments: str  # the dataclass ``training:`` fills
    hooks: str  # builds the stage's trainer for glyph.train.run.run_training


STAGES: dict[str, StageInfo] = {
    "cpt": StageInfo(
        "glyph.train.recipes:Recipe", "transformers:TrainingArguments", "glyph.train.run:CptHooks"
    ),
    "sft": StageInfo("glyph.train.sft.spec:SftRecipe", "trl:SFTConfig", "glyph.train.sft.trainer:SftHooks"),
    "grpo": StageInfo(
        "glyph.train.grpo.spec:GrpoRecipe", "trl:GRPOConfig", "glyph.train.grpo.trainer:GrpoHooks"
    ),
}


def stage_object(stage: str, part: Literal["recipe", "arguments", "hooks"]) -> Any:
    """The recipe model, arguments class or hooks of ``stage`` (see :data:`STAGES`)."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: unknown; known: {', '.join(STAGES)}")
    module, _, name = getattr(STAGES[stage], part).partition(":")
    return getattr(importlib.import_module(module), name)


class DataSpec(BaseModel):
    """Which records to train on."""

    model_config = ConfigDict(extra="forbid")

    shards: list[str] = Field(
        default_factory=list, description="shard files or `glyph data` output directories"
    )
    max_length: int | None = Field(None, ge=16, description="records longer than this (tokens) are left out")
    tasks: list[str] | None = Field(None, description="keep only these tasks (e.g. [ocr, lm]); None: all")
    check_images: bool = Field(True, description="verify every image's checksums when opening the shards")
    eval_shards: list[str] = Field(default_factory=list)


class CollatorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eos_loss: bool = Field(True, description="learn the token that ends an assistant turn")
    pad_to_multiple_of: int | None = Field(None, ge=1)
    log_record_ids: bool = Field(True, description="write which records each step saw to data_order.jsonl")


class LossSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_logits_only: bool = Field(
        True, description="run the LM head only where the next token is a target (same loss, far less memory)"
    )


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Literal["cpt", "sft", "grpo"] = Field("cpt", description="which trainer (see STAGES)")
    description: str = ""
    model: ModelSpec
    data: DataSpec = Field(default_factory=DataSpec)
    collator: CollatorSpec = Field(default_factory=CollatorSpec)
    loss: LossSpec = Field(default_factory=LossSpec)
    global_batch_size: int | None = Field(
        None, ge=1, description="per-device batch x accumulation x processes"
    )
    training: dict[str, Any] = Field(default_factory=dict)


class _Loader(yaml.SafeLoader):
    """YAML with ``1e-4`` read as a number (YAML 1.1 wants ``1.0e-4``; every recipe writer types the former)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """YAML as recipes and data configs are read (see :class:`_Loader`)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


def builtin_recipes() -> dict[str, Path]:
    """Recipe files shipped with the package, by name."""
    folder = importlib.resources.files("glyph.train") / "recipes"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith((".yaml", ".yml"))}


def load_recipe(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Recipe:
    """A validated recipe from a YAML file, a built-in name or a dict, with ``a.b=value`` overrides."""
    if isinstance(source, dict):
        data, origin = source, "recipe"
    else:
        path = Path(source)
        if not path.is_file():
            named = builtin_recipes()
            if str(source) not in named:
                raise ValueError(
                    f"recipe {str(source)!r}: no such file or built-in recipe; built-in: {', '.join(sorted(named))}"
                )
            path = named[str(source)]
        origin = str(path)
        try:
            data = parse_yaml(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"recipe {origin}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"recipe {origin}: expected a mapping at the top level")
    data = _deep_copy(data)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects section.key=value, got {item!r}")
        _set_path(data, key.strip().split("."), parse_yaml(raw) if raw.strip() else None)
    stage = data.get("stage") or "cpt"
    if stage not in STAGES:
        raise ValueError(f"recipe {origin}: stage: {stage!r} is not one of {', '.join(STAGES)}")
    try:
        recipe = stage_object(stage, "recipe").model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise ValueError(f"recipe {origin}: {problems}") from None
    _check_training_keys(recipe.training, origin, recipe.stage)
    return recipe


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for k in keys[:-1]:
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        if not isinstance(child, dict):
            raise ValueError(f"--set {'.'.join(keys)}: {k!r} is not a section")
        node = child
    node[keys[-1]] = value


def _training_fields(stage: str = "cpt") -> set[str]:
    return {f.name for f in dataclasses.fields(stage_object(stage, "arguments")) if f.init}


def _check_training_keys(training: dict[str, Any], origin: str, stage: str = "cpt") -> None:
    valid = _training_fields(stage)
    kind = stage_object(stage, "arguments").__name__
    for key, value in training.items():
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise ValueError(f"recipe {origin}: training.{key}: unknown {kind} field{hint}")
        if key in FORCED and value != FORCED[key]:
            raise ValueError(
                f"recipe {origin}: training.{key} must be {FORCED[key]!r} (records are collated on the fly)"
            )


def training_arguments(recipe: Recipe, world_size: int | None = None) -> Any:
    """``TrainingArguments`` for the recipe; ``global_batch_size`` fixes gradient accumulation.

    The accumulation is the nearest whole number of micro-batches, so the real global batch is
    reported (``args.glyph_global_batch``) when the processes do not divide the asked size.
    """
    arguments = stage_object(recipe.stage, "arguments")
    kwargs = {**recipe.training, **FORCED}
    if recipe.stage != "cpt":
        kwargs = {**TRL_DEFAULTS, **kwargs}
    if recipe.global_batch_size:
        if "gradient_accumulation_steps" in recipe.training:
            raise ValueError(
                "recipe: set global_batch_size or training.gradient_accumulation_steps, not both"
            )
        world = world_size or _world_size()
        per_device = int(kwargs.get("per_device_train_batch_size", 8))
        kwargs["gradient_accumulation_steps"] = max(1, round(recipe.global_batch_size / (per_device * world)))
    kwargs.setdefault("report_to", "none")
    try:
        args = arguments(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"recipe training: {exc}") from None
    args.glyph_global_batch = (
        args.per_device_train_batch_size * args.gradient_accumulation_steps * (world_size or _world_size())
    )
    return args


def _world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def accelerate_configs() -> dict[str, Path]:
    """``accelerate launch --config_file`` files shipped with the package, by name."""
    folder = importlib.resources.files("glyph.train") / "accelerate"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def accelerate_config(name: str) -> Path:
    """The path of a shipped accelerate config (``single-gpu``, ``zero3-8gpu``)."""
    configs = accelerate_configs()
    if name not in configs:
        raise ValueError(f"no accelerate config {name!r}; shipped: {', '.join(sorted(configs))}")
    return configs[name]

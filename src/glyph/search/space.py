"""The typography search space: which RenderConfig keys are searched, over what, and under which constraints.

A space is a set of knobs (see :mod:`glyph.search.knobs`), values pinned for the whole
search (``fixed``), and a base config that supplies every key the space leaves out.
A candidate is a dict ``{knob key: value}``; its config is ``base + fixed + candidate``.

Space files (YAML or JSON) restrict the shipped default (``default_space.yaml``, whose
header documents the format): a knob given in a user file overrides the fields it names,
``{fixed: v}`` or a bare value pins it, ``drop`` removes it; ``extends: none`` starts empty.

Constraints between knobs (line height >= font size, a page fits lines of some width,
readable colour contrast) are *repaired* by moving free knobs the least harmful way,
because a proposal that breaks one is usually close to a good config, and a crash or
a rejected proposal wastes an LLM call.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from glyph.render.config import RenderConfig, reference_default
from glyph.search.knobs import CategoricalKnob, Knob, KnobError, canonical, decode_param

DEFAULT_SPACE_FILE = "default_space.yaml"
INSTALLED_FONTS = "@installed"
_KNOB = TypeAdapter(Knob)


class SpaceError(ValueError):
    """A space file that cannot be used (names the key and the problem)."""


class Constraints(BaseModel):
    """Relations between knobs that every candidate must satisfy (repaired, never rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    min_contrast: float = Field(1.0, alias="min-contrast", ge=1.0, le=21.0, description="WCAG ratio, font vs paragraph bg")
    min_line_em: float = Field(1.0, alias="min-line-em", ge=0.0, description="text width >= this many font sizes")
    min_lines: int = Field(1, alias="min-lines", ge=1, description="the page frame holds this many lines")
    line_height_ge_font_size: bool = Field(True, alias="line-height-ge-font-size")


class SpaceFile(BaseModel):
    """The on-disk shape of a space (YAML/JSON)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    extends: Literal["default", "none"] = "default"
    base: str | dict[str, Any] | None = None
    constraints: dict[str, Any] = Field(default_factory=dict)
    knobs: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Repaired:
    """A candidate after repair, and what repair changed (empty: it was valid as given)."""

    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # values changed to fit the space
    fallback: bool = False  # nothing short of the seed config would do
    filled: list[str] = field(default_factory=list)  # knobs absent from the input, taken from ``fill``


_FIELD_OF = {(f.alias or name): name for name, f in RenderConfig.model_fields.items()}


def config_key(key: str) -> str:
    """The reference (hyphenated) spelling of a RenderConfig key; SpaceError for unknown keys."""
    alias = key if key in _FIELD_OF else next((a for a, n in _FIELD_OF.items() if n == key.replace("-", "_")), None)
    if alias is None:
        raise SpaceError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(_FIELD_OF))}")
    return alias


def installed_font_families() -> list[str]:
    """Font families ``resolve_font`` can find here (matplotlib's DejaVu plus fontconfig's)."""
    from glyph.render import fonts

    names = {n.title() if n.islower() else n for n in fonts._bundled_families()}
    names |= set(fonts._fontconfig_families())
    return sorted({n.lower(): n for n in names}.values(), key=str.lower)


@functools.cache
def _font_ok(name: str) -> bool:
    from glyph.render.fonts import resolve_font

    try:
        resolve_font(name)
    except ValueError:
        return False
    return True


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"space file not found: {path}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpaceError(f"space file {path} does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise SpaceError(f"space file {path}: expected a mapping at the top level")
    return data


def default_space_dict() -> dict[str, Any]:
    return yaml.safe_load(resources.files("glyph.search").joinpath(DEFAULT_SPACE_FILE).read_text(encoding="utf-8"))


class SearchSpace:
    """Knobs, fixed values, base config and constraints; builds, samples and repairs candidates."""

    def __init__(
        self,
        knobs: Mapping[str, Any],
        fixed: Mapping[str, Any] | None = None,
        base: RenderConfig | None = None,
        constraints: Constraints | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.knobs: dict[str, Any] = dict(knobs)
        self.fixed: dict[str, Any] = dict(fixed or {})
        self.constraints = constraints or Constraints.model_validate({})
        self.notes = list(notes or [])
        root = base if base is not None else reference_default()
        try:
            self.anchor = root.with_updates(**self.fixed) if self.fixed else root
        except ValueError as exc:
            raise SpaceError(f"fixed values do not make a valid config: {exc}") from None
        self._anchor_values = self.anchor.to_reference_dict(include_extensions=True)
        seed = self.repair(self.project(self._anchor_values))
        if seed.fallback:
            raise SpaceError(f"the space has no valid config near its base: {'; '.join(seed.notes)}")
        self.seed_values = seed.values

    # ------------------------------------------------------------------ loading
    @classmethod
    def default(cls) -> SearchSpace:
        return cls.from_dict({})

    @classmethod
    def load(cls, path: str | Path | None) -> SearchSpace:
        """The default space, restricted by a YAML/JSON file when one is given."""
        if path is None:
            return cls.default()
        path = Path(path)
        return cls.from_dict(_load_mapping(path), base_dir=path.parent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: Path | None = None) -> SearchSpace:
        try:
            spec = SpaceFile.model_validate(dict(data))
        except ValidationError as exc:
            raise SpaceError(f"space: {exc}") from None
        raw: dict[str, Any] = {}
        constraints: dict[str, Any] = {}
        base: Any = None
        if spec.extends == "default":
            default = SpaceFile.model_validate(default_space_dict())
            raw, constraints, base = dict(default.knobs), dict(default.constraints), default.base
        for key, entry in spec.knobs.items():
            key = config_key(key)
            raw[key] = _overlay(key, raw.get(key), entry)
        constraints.update(spec.constraints)
        if spec.base is not None:
            base = spec.base
        knobs, fixed, notes = _build_knobs(raw)
        try:
            cons = Constraints.model_validate(constraints)
        except ValidationError as exc:
            raise SpaceError(f"constraints: {exc}") from None
        return cls(knobs, fixed, _load_base(base, base_dir), cons, notes)

    def to_dict(self) -> dict[str, Any]:
        """A self-contained description (``extends: none``) that ``from_dict`` rebuilds exactly."""
        knobs: dict[str, Any] = {k: knob.describe() for k, knob in self.knobs.items()}
        knobs.update({k: {"fixed": v} for k, v in self.fixed.items()})
        base = {k: v for k, v in self.anchor.to_reference_dict().items() if k not in self.fixed}
        return {
            "version": 1,
            "extends": "none",
            "base": base,
            "constraints": self.constraints.model_dump(by_alias=True),
            "knobs": knobs,
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    # ------------------------------------------------------------------ candidates
    def config(self, values: Mapping[str, Any]) -> RenderConfig:
        """The RenderConfig of a candidate (raises ValueError, naming the key, if it is invalid)."""
        return self.anchor.with_updates(**dict(values)) if values else self.anchor

    def project(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Best-effort candidate from any reference-style dict (unknown or unreadable values ignored)."""
        out: dict[str, Any] = {}
        for key, knob in self.knobs.items():
            if key in data:
                try:
                    out[key] = knob.coerce(data[key])[0]
                except KnobError:
                    pass
        return out

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return self.repair({k: knob.sample(rng) for k, knob in self.knobs.items()}).values

    def contains(self, values: Mapping[str, Any]) -> bool:
        """Every knob present and on its grid / among its choices, no stray keys, constraints met."""
        if set(values) != set(self.knobs):
            return False
        return all(self.knobs[k].contains(v) for k, v in values.items()) and not self.violations(values)

    def from_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A candidate from optuna trial params (categorical lists come back from JSON strings)."""
        return {k: decode_param(self.knobs[k], v) for k, v in params.items() if k in self.knobs}

    def distributions(self) -> dict[str, Any]:
        return {k: knob.distribution() for k, knob in self.knobs.items()}

    def describe(self) -> dict[str, Any]:
        """What the LLM proposer is told: the free knobs, the pinned values, the constraints."""
        return {
            "knobs": {k: knob.describe() for k, knob in self.knobs.items()},
            "fixed": dict(self.fixed),
            "constraints": self.constraints.model_dump(by_alias=True),
        }

    # ------------------------------------------------------------------ repair
    def repair(self, values: Mapping[str, Any], fill: Mapping[str, Any] | None = None) -> Repaired:
        """Coerce every knob into its domain, then satisfy the constraints by moving free knobs.

        Knobs missing from ``values`` come from ``fill`` (e.g. the parent a proposal edits),
        else from the seed config.
        """
        notes: list[str] = []
        filled: list[str] = []
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key in self.fixed:
                if value != self.fixed[key]:
                    notes.append(f"{key}: fixed by the space at {self.fixed[key]!r}, {value!r} ignored")
            elif key not in self.knobs:
                notes.append(f"{key}: not a knob, ignored")
        merged = {k: v for k, v in (fill or {}).items() if k in self.knobs} | dict(values)
        for key, knob in self.knobs.items():
            if key not in values:
                filled.append(key)
            if key not in merged:
                out[key] = self._default_of(key)
                continue
            try:
                out[key], note = knob.coerce(merged[key])
            except KnobError as exc:
                out[key] = self._default_of(key)
                note = f"{exc} -> {out[key]!r}"
            if note:
                notes.append(note)
        self._fix_line_height(out, notes)
        self._fix_geometry(out, notes)
        self._fix_contrast(out, notes)
        problems = self.violations(out)
        if not problems:
            try:
                self.config(out)
            except ValueError as exc:
                problems = [str(exc).splitlines()[0]]
        if problems and hasattr(self, "seed_values"):
            notes.append(f"unrepairable ({'; '.join(problems)}) -> seed config")
            return Repaired(dict(self.seed_values), notes, fallback=True, filled=filled)
        return Repaired(out, notes, fallback=bool(problems), filled=filled)

    def _default_of(self, key: str) -> Any:
        seed = getattr(self, "seed_values", None)
        if seed is not None:
            return seed[key]
        try:
            return self.knobs[key].coerce(self._anchor_values[key])[0]
        except (KnobError, KeyError):
            return self.knobs[key].sample(random.Random(0))

    def _get(self, values: Mapping[str, Any], key: str) -> Any:
        if key in values:
            return values[key]
        if key == "line-height":
            return self.anchor.leading
        return self._anchor_values.get(key)

    def _probe(self, values: Mapping[str, Any]) -> RenderConfig:
        """The anchor with the geometry knobs replaced, unvalidated: only its derived lengths are read."""
        update: dict[str, Any] = {}
        for key in ("page-size", "margin-x", "margin-y", "font-size", "line-height", "left-indent", "right-indent",
                    "first-line-indent"):
            if key in values:
                v = values[key]
                update[_FIELD_OF[key]] = tuple(float(x) for x in v.split(",")) if key == "page-size" else float(v)
        return self.anchor.model_copy(update=update)

    def violations(self, values: Mapping[str, Any]) -> list[str]:
        """The constraints a candidate breaks (empty when it satisfies them all)."""
        c = self.constraints
        out: list[str] = []
        probe = self._probe(values)
        fs, lead = probe.font_size, probe.leading
        if c.line_height_ge_font_size and lead < fs - 1e-9:
            out.append(f"line-height {lead} < font-size {fs}")
        min_w = max(c.min_line_em * fs, 1e-6)
        if probe.text_width < min_w:
            out.append(f"text width {probe.text_width:.1f} pt < {c.min_line_em} x font-size")
        if probe.text_width - probe.first_line_indent < max(fs, 1e-6):
            out.append("first-line-indent leaves no room on the first line")
        if probe.frame_height < c.min_lines * lead:
            out.append(f"frame height {probe.frame_height:.1f} pt holds fewer than {c.min_lines} lines")
        if c.min_contrast > 1.0:
            ratio = contrast(self._get(values, "font-color"), self._get(values, "para-bg-color"))
            if ratio < c.min_contrast - 1e-9:
                out.append(f"contrast {ratio:.2f} < {c.min_contrast} (font-color vs para-bg-color)")
        return out

    def _down(self, values: dict[str, Any], key: str, allowed: Any = None) -> bool:
        """Move a free numeric knob one grid step down if the result is ``allowed``; True if it moved."""
        knob = self.knobs.get(key)
        if knob is None or isinstance(knob, CategoricalKnob):
            return False
        i = knob.index_of(values[key])
        if i == 0:
            return False
        moved = {**values, key: knob.value_at(i - 1)}
        if allowed is not None and not allowed(moved):
            return False
        values[key] = moved[key]
        return True

    def _shrink(self, values: dict[str, Any], ok: Any, keys: tuple[str, ...]) -> bool:
        """Lower each knob in turn, one step at a time, until ``ok``: the least-harmful moves come first."""
        for key in keys:
            while not ok(values) and self._down(values, key):
                pass
        return ok(values)

    def _lh_allowed(self, x: Mapping[str, Any]) -> bool:
        return not self.constraints.line_height_ge_font_size or float(self._get(x, "line-height")) >= float(
            self._get(x, "font-size")) - 1e-9

    def _fix_line_height(self, v: dict[str, Any], notes: list[str]) -> None:
        if self._lh_allowed(v):
            return
        before = (v.get("font-size"), v.get("line-height"))
        trial = dict(v)
        lh = self.knobs.get("line-height")
        if lh is not None and not isinstance(lh, CategoricalKnob):
            while not self._lh_allowed(trial) and lh.index_of(trial["line-height"]) < lh.n_steps:
                trial["line-height"] = lh.value_at(lh.index_of(trial["line-height"]) + 1)
        if not self._lh_allowed(trial):
            trial = dict(v)
            while not self._lh_allowed(trial) and self._down(trial, "font-size"):
                pass
        if self._lh_allowed(trial):
            v.update(trial)
            notes.append(f"line-height >= font-size: (font-size, line-height) {before} -> "
                         f"{(v.get('font-size'), v.get('line-height'))}")

    def _fix_geometry(self, v: dict[str, Any], notes: list[str]) -> None:
        def width_ok(x: dict[str, Any]) -> bool:
            return not any(p.startswith("text width") for p in self.violations(x))

        def first_ok(x: dict[str, Any]) -> bool:
            return width_ok(x) and not any(p.startswith("first-line") for p in self.violations(x))

        def height_ok(x: dict[str, Any]) -> bool:
            return not any(p.startswith("frame height") for p in self.violations(x))

        def all_ok(x: dict[str, Any]) -> bool:
            return first_ok(x) and height_ok(x)

        if all_ok(v):
            return
        before = dict(v)
        self._shrink(v, width_ok, ("left-indent", "right-indent", "margin-x", "font-size"))
        self._shrink(v, first_ok, ("first-line-indent", "left-indent", "right-indent", "margin-x", "font-size"))
        if not self._shrink(v, height_ok, ("margin-y",)):
            while not height_ok(v) and (
                self._down(v, "line-height", self._lh_allowed) or self._down(v, "font-size")
            ):
                pass
        if not all_ok(v) and isinstance(self.knobs.get("page-size"), CategoricalKnob):
            fits = [c for c in self.knobs["page-size"].choices if all_ok({**v, "page-size": c})]
            if fits:
                v["page-size"] = max(fits, key=_area)
        changed = {k: (before[k], v[k]) for k in v if before[k] != v[k]}
        if changed:
            notes.append("page fit: " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items()))

    def _fix_contrast(self, v: dict[str, Any], notes: list[str]) -> None:
        need = self.constraints.min_contrast
        if need <= 1.0:
            return
        font, para = self._get(v, "font-color"), self._get(v, "para-bg-color")
        if contrast(font, para) >= need - 1e-9:
            return
        for key, other in (("font-color", para), ("para-bg-color", font)):
            knob = self.knobs.get(key)
            if isinstance(knob, CategoricalKnob):
                best = max(knob.choices, key=lambda c: contrast(c, other))
                if contrast(best, other) >= need - 1e-9:
                    notes.append(f"contrast: {key} {v[key]!r} -> {best!r}")
                    v[key] = best
                    return


# ---------------------------------------------------------------------- helpers
def _load_base(base: Any, base_dir: Path | None) -> RenderConfig:
    if base is None or base == "reference-default":
        return reference_default()
    try:
        if isinstance(base, dict):
            return reference_default().with_updates(**base)
        path = Path(base)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return RenderConfig.from_json(path)
    except ValueError as exc:
        raise SpaceError(f"base: {exc}") from None


def _overlay(key: str, current: Any, entry: Any) -> Any:
    """A user file's entry for a knob applied over the default's."""
    if entry is None or entry == "drop":
        return None
    if not isinstance(entry, dict) or "fixed" in entry or "type" in entry:
        return entry
    if isinstance(current, dict) and "type" in current:
        return {**current, **entry}
    raise SpaceError(f"{key}: restricts a knob the base space does not search; give its 'type'")


def _build_knobs(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    knobs: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    notes: list[str] = []
    for key, entry in raw.items():
        key = config_key(key)
        if entry is None or entry == "drop":
            continue
        if not isinstance(entry, dict):
            entry = {"fixed": entry}
        if "fixed" in entry:
            if set(entry) != {"fixed"}:
                raise SpaceError(f"{key}: 'fixed' takes no other fields, got {sorted(entry)}")
            try:
                fixed[key] = canonical(key, entry["fixed"])
            except KnobError as exc:
                raise SpaceError(str(exc)) from None
            continue
        spec = dict(entry)
        if key == "font-path" and spec.get("type") == "categorical":
            spec["choices"], dropped = _installed_choices(spec.get("choices") or [])
            if dropped:
                notes.append(f"font-path: not installed here, left out: {', '.join(dropped)}")
            if not spec["choices"]:
                raise SpaceError(f"font-path: none of the listed fonts is installed ({', '.join(dropped)})")
        try:
            knob = _KNOB.validate_python({**spec, "key": key})
        except ValidationError as exc:
            raise SpaceError(f"{key}: {exc.errors()[0]['msg']} ({spec})") from None
        if isinstance(knob, CategoricalKnob) and len(knob.choices) == 1:
            fixed[key] = knob.choices[0]
        elif not isinstance(knob, CategoricalKnob) and knob.n_steps == 0:
            fixed[key] = knob.value_at(0)
        else:
            knobs[key] = knob
    return knobs, fixed, notes


def _installed_choices(choices: list[Any]) -> tuple[list[str], list[str]]:
    out: list[str] = []
    dropped: list[str] = []
    for choice in choices:
        names = installed_font_families() if choice == INSTALLED_FONTS else [str(choice)]
        for name in names:
            if name in out:
                continue
            (out if _font_ok(name) else dropped).append(name)
    return out, dropped


def _area(page_size: str) -> float:
    w, h = (float(x) for x in page_size.split(","))
    return w * h


def _luminance(hex_color: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two '#RRGGBB' colours (1: invisible, 21: black on white)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


"""Name -> factory tables that import nothing until a name is used: readers, evaluators, trainers, rewards.

Why lazy ``"module:attr"`` strings: a family's base module lists its built-in members with a
line of help each, so ``--help``, ``names()`` and error messages cost nothing (no torch, no
ONNX Runtime, no HTTP client imported to list them), and the base module never imports its
concrete modules: a concrete module imports the base, never the reverse, so there is no
import cycle to work around. A name's target is imported on first use and kept.

Third-party members register a factory object or a ``"module:attr"`` string::

    from glyph.readers import register_reader
    register_reader("mine", "my_pkg.readers:MyReader", "my reader")

or declare a Python entry point in the family's group (``glyph.readers``, ``glyph.evaluators``,
...), found the first time the table is read::

    [project.entry-points."glyph.readers"]
    mine = "my_pkg.readers:MyReader"

A name registered explicitly wins over a built-in one, and a built-in over an entry point.
"""

from __future__ import annotations

import difflib
import importlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: its target (a factory, or where to import one) and its help line."""

    name: str
    target: str | Callable[..., T]
    help: str
    origin: str = "registered"  # "builtin", "registered" or "entry point <dist>"


class Registry(Generic[T]):
    """Names of one family (``kind``: "reader", "evaluator", ...) mapped to lazily imported factories.

    ``base``, when given, is checked against what a factory builds; ``unavailable`` is the
    family's error for a member whose module cannot be imported (a missing optional package);
    ``group`` is the entry-point group scanned for plugins.
    """

    def __init__(
        self,
        kind: str,
        *,
        base: type[T] | None = None,
        unavailable: type[Exception] = ImportError,
        group: str | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.unavailable = unavailable
        self.group = group
        self._entries: dict[str, Entry[T]] = {}
        self._loaded: dict[str, Callable[..., T]] = {}
        self._plugins_scanned = group is None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ filling the table
    def register(
        self, name: str, target: str | Callable[..., T], help: str, *, origin: str = "registered"
    ) -> None:
        """Make ``name`` buildable: ``target`` is a factory (a class or function) or ``"module:attr"``."""
        if not isinstance(name, str) or not name.strip() or name != name.strip() or " " in name:
            raise ValueError(f"{self.kind} name must be a non-empty word, got {name!r}")
        if isinstance(target, str):
            if not _TARGET.match(target):
                raise ValueError(
                    f"{self.kind} {name!r}: target must be 'package.module:attribute', got {target!r}"
                )
        elif not callable(target):
            raise TypeError(
                f"{self.kind} {name!r}: target must be callable or a 'module:attr' string, "
                f"got {type(target).__name__}"
            )
        with self._lock:
            self._entries[name] = Entry(name, target, " ".join(str(help).split()), origin)
            self._loaded.pop(name, None)

    def builtin(self, name: str, target: str, help: str) -> None:
        """Register one of the package's own members (a ``"module:attr"`` string)."""
        self.register(name, target, help, origin="builtin")

    def _scan_plugins(self) -> None:
        if self._plugins_scanned:
            return
        self._plugins_scanned = True
        for ep in entry_points(group=self.group or ""):
            if ep.name in self._entries:
                continue  # explicit and built-in names win
            dist = ep.dist.name if ep.dist is not None else "an installed package"
            try:
                self.register(
                    ep.name, ep.value, f"plugin from {dist} ({ep.value})", origin=f"entry point {dist}"
                )
            except (ValueError, TypeError):
                continue  # a malformed entry point of someone else's package must not break ours

    # ------------------------------------------------------------------ reading it
    def names(self) -> dict[str, str]:
        """Every name and its help line, sorted; imports nothing."""
        self._scan_plugins()
        return {name: self._entries[name].help for name in sorted(self._entries)}

    def entry(self, name: str) -> Entry[T]:
        """The entry of ``name``; an unknown name is a ``ValueError`` listing the known ones."""
        self._scan_plugins()
        try:
            return self._entries[name]
        except KeyError:
            known = sorted(self._entries)
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown {self.kind} {name!r}{hint}; known {self.kind}s: {', '.join(known)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        self._scan_plugins()
        return name in self._entries

    def factory(self, name: str) -> Callable[..., T]:
        """The factory of ``name``, importing its module on first use."""
        entry = self.entry(name)
        if name in self._loaded:
            return self._loaded[name]
        target = entry.target
        if isinstance(target, str):
            target = self._import(entry, target)
        with self._lock:
            self._loaded[name] = target
        return target

    def _import(self, entry: Entry[T], target: str) -> Callable[..., T]:
        module_name, _, attr = target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            missing = f" (missing module {exc.name!r})" if exc.name else ""
            raise self.unavailable(f"{self.kind} {entry.name!r} cannot be imported{missing}: {exc}") from exc
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{self.kind} {entry.name!r}: {module_name} has no attribute {attr!r}") from None
        if not callable(obj):
            raise TypeError(f"{self.kind} {entry.name!r}: {target} is a {type(obj).__name__}, not a factory")
        return obj

    def create(self, name: str, /, **options: Any) -> T:
        """Build ``name`` with ``options``; checked against ``base`` when the registry has one."""
        made = self.factory(name)(**options)
        if self.base is not None and not isinstance(made, self.base):
            raise TypeError(f"{self.kind} {name!r} built a {type(made).__name__}, not a {self.base.__name__}")
        return made

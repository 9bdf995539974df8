"""The import graph of src/glyph, read statically: no cycles, one-way flow between packages,
and the HTTP client reached from glyph.client only.

Every ``import`` / ``from ... import`` is read with ``ast``, function-level imports included
(a lazy import still runs, and a cycle through one is still a cycle); imports under
``if TYPE_CHECKING:`` never run and are left out. Importing ``glyph.a.b`` runs ``glyph/a/__init__``
too, so an edge to a module is also an edge to each package above it that the importer is not
itself inside. A name imported from a package (``from glyph.client import make_client``) is also
an edge to the module that defines it: packages may export lazily (PEP 562), and the name's
module runs all the same; that one lookup imports the package to ask it.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "glyph"


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file of every module under src/glyph (a package is its __init__.py)."""
    out = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in the tree (functions, classes, try blocks), except under
    ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)  # the else branch does run
                continue
            stack.append(child)


@cache
def imports(module: str) -> frozenset[tuple[str, str | None]]:
    """(imported module, imported name or None) pairs of one module, relative imports resolved."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[tuple[str, str | None]] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            out.update((alias.name, None) for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            out.add((sub, None) if sub in modules() else (base, alias.name))
    return frozenset(out)


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def _defining_module(package: str, name: str | None) -> str | None:
    """Where ``from package import name`` really comes from, for names of glyph packages."""
    if name is None or name == "*" or modules()[package].name != "__init__.py":
        return None
    home = getattr(getattr(importlib.import_module(package), name, None), "__module__", None)
    return home if home in modules() else None


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the glyph modules its import statements run."""
    out = {}
    for module in modules():
        own = {module, *_ancestors(module)}
        targets: set[str] = set()
        for target, name in imports(module):
            if target not in modules():
                continue  # a third-party or stdlib module
            defining = _defining_module(target, name)
            for hit in {target, defining} - {None}:
                targets.update(m for m in [hit, *_ancestors(hit)] if m not in own and m in modules())
        out[module] = frozenset(targets)
    return out


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """One concrete cycle per strongly connected component that has one (Tarjan, then a path)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                components.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    found = []
    for component in components:
        start = min(component)
        paths = {start: [start]}  # breadth-first inside the component, back to the start
        queue = [start]
        cycle = None
        while queue and cycle is None:
            v = queue.pop(0)
            for w in sorted(edges[v] & component):
                if w == start:
                    cycle = [*paths[v], start]
                    break
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    queue.append(w)
        found.append(cycle or sorted(component))
    return sorted(found)


def package_of(module: str) -> str:
    """``glyph.readers.ocr`` -> ``glyph.readers``; a top-level module is its own package."""
    return ".".join(module.split(".")[:2])


# ---------------------------------------------------------------------------------- the tests
def test_the_walker_sees_function_level_and_relative_imports() -> None:
    # readers/base.py's registry names its readers as strings: no edge to them
    assert "glyph.readers.ocr" not in graph()["glyph.readers.base"]
    # serve/backends.py imports the local reader inside LocalBackend.__init__
    assert "glyph.readers.local_hf" in graph()["glyph.serve.backends"]
    assert "glyph.readers" in graph()["glyph.serve.backends"]  # ...which runs glyph/readers/__init__
    # the cycle finder finds and names what it should
    toy = {
        "a": frozenset({"b"}),
        "b": frozenset({"c"}),
        "c": frozenset({"a"}),
        "d": frozenset({"d"}),
        "e": frozenset(),
    }
    assert cycles(toy) == [["a", "b", "c", "a"], ["d", "d"]]


def test_no_import_cycle_between_modules() -> None:
    found = cycles(graph())
    assert not found, "import cycles in src/glyph:\n" + "\n".join(" -> ".join(c) for c in found)


def test_packages_depend_one_way() -> None:
    """The package graph (glyph.readers -> glyph.render, ...) has no cycle: the flow is one-way."""
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        src = package_of(module)
        edges.setdefault(src, set()).update(package_of(t) for t in targets if package_of(t) != src)
    found = cycles({k: frozenset(v) for k, v in edges.items()})
    assert not found, "packages import each other:\n" + "\n".join(" -> ".join(c) for c in found)


#: The one-way flow, bottom to top (docs/architecture.md): a package imports only packages of a
#: lower layer. ``glyph.train`` (trainers, data builders, rewards) sits beside search and serve.
LAYERS = {
    "glyph": 0,
    "glyph.render": 0,
    "glyph.tokens": 0,
    "glyph.client": 0,
    "glyph.registry": 0,
    "glyph.data": 1,
    "glyph.readers": 1,
    "glyph.measure": 2,
    "glyph.eval": 3,
    "glyph.search": 4,
    "glyph.serve": 4,
    "glyph.train": 4,
    "glyph.ui": 5,
    "glyph.cli": 6,
}


def test_every_package_imports_only_lower_layers() -> None:
    packages = {package_of(m) for m in modules()}
    unplaced = sorted(packages - set(LAYERS))
    assert not unplaced, f"packages without a layer (add them to LAYERS and docs/architecture.md): {unplaced}"
    upward = sorted(
        f"{package_of(m)} (layer {LAYERS[package_of(m)]}) imports {package_of(t)} (layer {LAYERS[package_of(t)]}) in {m}"
        for m, targets in graph().items()
        for t in targets
        if package_of(t) != package_of(m) and LAYERS[package_of(t)] >= LAYERS[package_of(m)]
    )
    assert not upward, "imports against the flow:\n" + "\n".join(upward)


def test_the_client_imports_no_other_glyph_package() -> None:
    outside = {t for m, ts in graph().items() if m.startswith("glyph.client") for t in ts}
    assert {t for t in outside if not t.startswith("glyph.client")} == set()


def _reach(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for target in graph()[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_serve_and_search_get_http_from_glyph_client_not_from_readers() -> None:
    # the readers modules whose import runs the HTTP client: the endpoint readers
    http_readers = {
        m for m in modules() if m.startswith("glyph.readers") and "glyph.client.client" in _reach(m)
    }
    assert {
        "glyph.readers.endpoint",
        "glyph.readers.openai_http",
        "glyph.readers.text_baseline",
    } <= http_readers
    assert "glyph.readers" not in http_readers and "glyph.readers.base" not in http_readers
    users = [m for m in modules() if m.startswith(("glyph.serve", "glyph.search"))]
    wrong = []
    for module in users:
        for target, name in sorted(imports(module), key=str):
            if not target.startswith("glyph.readers"):
                continue
            if target in http_readers:
                wrong.append(f"{module} imports {target}")
            elif name is not None:
                obj = getattr(importlib.import_module(target), name)
                home = obj.__name__ if isinstance(obj, type(importlib)) else getattr(obj, "__module__", "")
                if str(home).startswith("glyph.client"):
                    wrong.append(f"{module} imports {name} (from {home}) through {target}")
    assert not wrong, "\n".join(wrong)
    # and they do talk HTTP, through the client
    assert "glyph.client" in {t for t, _ in imports("glyph.serve.backends")}
    assert "glyph.client" in {t for t, _ in imports("glyph.search.proposer")}

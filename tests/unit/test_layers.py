"""The layer order of ARCHITECTURE.md, held against every import in src/hutch.

Every `import` statement counts: module-level, inside functions, under `if TYPE_CHECKING:`
(a type is a dependency too), absolute or relative. Two rules:

* a module imports only from its own package or from packages below it in `LAYERS`; the
  leaves (`LEAVES`) import nothing of hutch;
* the modules of one package import each other without a cycle (across packages, the first
  rule already rules cycles out).

Each failure names the file, the line and the import. The order held here is compared with the
layer block of ARCHITECTURE.md, so the map and the tree cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"

# Top to bottom: a package may import only packages after it in this tuple.
LAYERS = (
    "cli",
    "web",
    "daemon",
    "ha",
    "migrate",
    "compat",
    "api",
    "container",
    "config",
    "storage",
    "network",
    "cgroups",
    "security",
    "criu",
    "host",
    "linux",
)
# Used by all, importing nothing of hutch.
LEAVES = ("paths", "errors", "ids")

# `hutch.__main__` is `python -m hutch`: the CLI's entry point.
ENTRY_POINTS = {"hutch.__main__": "cli"}
# The root package re-exports the library face (Host, Container, errors) from hutch.container,
# lazily; importing a name from it is importing hutch.container. The root itself may import
# any package, and `from hutch import __version__` is allowed everywhere.
ROOT_REEXPORTS_FROM = "container"
ROOT_NAMES_ALLOWED_EVERYWHERE = {"__version__"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name the import resolves to
    path: Path
    line: int
    source: str  # the statement as written

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}: `{self.source}`"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "hutch").rglob("*.py"))}


MODULES = discover()


def known(name: str) -> str:
    """The longest prefix of `name` that is a module of hutch (`hutch.a.b.f` -> `hutch.a.b`)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES or (SRC / candidate.replace(".", "/")).is_dir():
            return candidate
        parts.pop()
    return name


def package_of(module: str) -> str:
    """The layer a module belongs to: the first component under hutch."""
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones too (in functions, classes, if/try/with blocks): where an
    import can be. Expressions are not walked, which keeps the whole check in milliseconds."""
    for node in body:
        yield node
        for value in vars(node).values():
            if isinstance(value, list) and value and isinstance(value[0], ast.AST):
                for item in value:
                    if isinstance(item, ast.stmt):
                        yield from statements([item])
                    elif isinstance(item, ast.excepthandler | ast.match_case):
                        yield from statements(item.body)


def imports_of(module: str, path: Path, text: str | None = None) -> list[Import]:
    """Every import of hutch in one module, each resolved to the module it loads."""
    text = path.read_text() if text is None else text
    tree = ast.parse(text, str(path))
    # what a relative import is relative to: the package itself, for its __init__
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    lines = text.splitlines()
    for node in statements(tree.body):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        source = " ".join(line.strip() for line in lines[node.lineno - 1 : node.end_lineno])
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "hutch" or alias.name.startswith("hutch."):
                    found.append(Import(module, known(alias.name), path, node.lineno, source))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != "hutch" and not base.startswith("hutch."):
                continue
            for alias in node.names:
                if base == "hutch" and alias.name in ROOT_NAMES_ALLOWED_EVERYWHERE:
                    continue
                sub = f"{base}.{alias.name}"  # `from hutch.pkg import mod` loads hutch.pkg.mod
                target = sub if known(sub) == sub else known(base)
                found.append(Import(module, target, path, node.lineno, source))
    return list(dict.fromkeys(found))  # `from m import a, b` is one import of m


ALL_IMPORTS = [imp for name, path in MODULES.items() for imp in imports_of(name, path)]


def rank(package: str) -> int:
    return LAYERS.index(package) if package in LAYERS else len(LAYERS)


def layer_violation(imp: Import) -> str | None:
    if imp.importer == "hutch":
        return None  # the root package lazily re-exports from any layer
    mine = package_of(imp.importer)
    theirs = ROOT_REEXPORTS_FROM if imp.target == "hutch" else package_of(imp.target)
    if mine in LEAVES:
        return f"{imp.where()}: hutch.{mine} is a leaf and imports nothing of hutch"
    if mine == theirs:
        return None
    if rank(theirs) > rank(mine):
        return None
    return (
        f"{imp.where()}: hutch.{mine} imports {imp.target}, but hutch.{theirs} is "
        f"{'the same layer' if rank(theirs) == rank(mine) else 'above it'}"
    )


def test_the_checker_resolves_every_form_of_import():
    text = """
from __future__ import annotations
import os
import hutch.linux.syscalls as sc
from hutch.cgroups import cpu, Cgroup
from . import knobs
from .base import INNER
from .. import errors
from hutch import __version__
TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.security.devices import DeviceRule
def later():
    from hutch.config.units import size_bytes
"""
    found = imports_of("hutch.cgroups.example", SRC / "hutch/cgroups/example.py", text)
    assert [(i.line, i.target) for i in found] == [
        (4, "hutch.linux.syscalls"),
        (5, "hutch.cgroups.cpu"),
        (5, "hutch.cgroups"),
        (6, "hutch.cgroups.knobs"),
        (7, "hutch.cgroups.base"),
        (8, "hutch.errors"),
        (12, "hutch.security.devices"),
        (14, "hutch.config.units"),
    ]
    assert [layer_violation(i) is not None for i in found] == [False] * 7 + [True]


def test_every_package_has_a_place_in_the_layers():
    packages = {package_of(name) for name in MODULES if name != "hutch"}
    unplaced = sorted(packages - set(LAYERS) - set(LEAVES))
    assert not unplaced, f"packages missing from LAYERS/LEAVES (and ARCHITECTURE.md): {unplaced}"


def test_imports_follow_the_layer_order():
    violations = [v for imp in ALL_IMPORTS if (v := layer_violation(imp))]
    assert not violations, (
        f"{len(violations)} imports against the layer order "
        f"({' > '.join(LAYERS)} > {{{', '.join(LEAVES)}}}):\n" + "\n".join(violations)
    )


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; the components with more than one module are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_cycle(start: str, members: set[str], graph: dict[str, set[str]]) -> list[str]:
    """Modules of one cycle through `start`, breadth first inside its component."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node] & members):
            if succ == start:
                return [*paths[node], start]
            if succ not in paths:
                paths[succ] = [*paths[node], succ]
                queue.append(succ)
    raise AssertionError(f"{start} is in no cycle")


def test_no_import_cycles_inside_a_package():
    # An import of a submodule runs its package's __init__ too, but that edge is not counted:
    # otherwise every __init__ re-exporting its modules would be a cycle.
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    lines: dict[tuple[str, str], list[Import]] = {}
    for imp in ALL_IMPORTS:
        if imp.target == imp.importer or imp.target not in MODULES:
            continue
        if package_of(imp.importer) != package_of(imp.target) or imp.importer == "hutch":
            continue
        graph[imp.importer].add(imp.target)
        lines.setdefault((imp.importer, imp.target), []).append(imp)
    reports = []
    for component in strongly_connected(graph):
        reports.append(f"cycle among {', '.join(component)}:")
        shown: set[str] = set()
        for start in component:  # one cycle through each module not shown yet
            if start in shown:
                continue
            cycle = shortest_cycle(start, set(component), graph)
            shown.update(cycle)
            reports.extend(
                f"    {a} -> {b}  ({', '.join(i.where() for i in lines[(a, b)])})"
                for a, b in pairwise(cycle)
            )
    assert not reports, "import cycles inside a package:\n" + "\n".join(reports)


def architecture_doc() -> Path | None:
    """ARCHITECTURE.md lives in ../shared beside the checkout; a git worktree finds it beside
    the main checkout its `.git` file points into (`<main>/.git/worktrees/<name>`)."""
    candidates = [REPO.parent / "shared" / "ARCHITECTURE.md"]
    dotgit = REPO / ".git"
    if dotgit.is_file():
        gitdir = Path(dotgit.read_text().removeprefix("gitdir:").strip())
        if gitdir.parent.name == "worktrees":
            candidates.append(gitdir.parents[2].parent / "shared" / "ARCHITECTURE.md")
    return next((c for c in candidates if c.is_file()), None)


def doc_layers(text: str) -> tuple[list[str], list[str], list[str]]:
    """(packages of the ``` layer block in order, leaves, the sibling order sentence)."""
    block = re.search(r"^```\n(hutch\..*?)^```", text, re.S | re.M)
    assert block, "ARCHITECTURE.md has no ``` block of layers starting with a hutch. line"
    order: list[str] = []
    leaves: list[str] = []
    for line in block.group(1).splitlines():
        m = re.match(r"(?:\s*[├└]─\s*)?(hutch\.\w+(?:,\s*hutch\.\w+)*)", line)
        if not m:
            continue
        names = [n.strip().removeprefix("hutch.") for n in m.group(1).split(",")]
        (leaves if len(names) > 1 else order).extend(names)
    sentence = re.search(r"config > ((?:\w+, )*\w+)", text)
    assert sentence, 'ARCHITECTURE.md lacks the sentence "config > storage, network, ..."'
    siblings = ["config", *sentence.group(1).split(", ")]
    return order, leaves, siblings


def test_layers_agree_with_architecture_md():
    doc = architecture_doc()
    if doc is None:
        pytest.skip("ARCHITECTURE.md not found in ../shared beside the checkout")
    order, leaves, siblings = doc_layers(doc.read_text())
    assert order == list(LAYERS), f"{doc} draws the layers as {order}"
    assert leaves == list(LEAVES), f"{doc} names the leaves {leaves}"
    start = LAYERS.index("config")
    assert siblings == list(LAYERS[start : start + len(siblings)]), (
        f"{doc} orders the packages under hutch.container as {siblings}"
    )
    packages = {p.name for p in (SRC / "hutch").iterdir() if p.is_dir() and any(p.glob("*.py"))}
    missing = sorted(packages - set(order))
    assert not missing, f"packages of src/hutch that {doc} does not draw: {missing}"

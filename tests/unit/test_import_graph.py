"""The module-level import graph of ``engine`` and ``zoom_emulator`` (and of ``activities`` and
``workflows``, which import them) (#18, acceptance).

Built from the source with ``ast`` (nothing is imported): the imports a module runs when it is
imported — statements at module level, also inside a module-level ``if``/``try``, but not under
``if TYPE_CHECKING:`` and not inside functions. ``from x import y`` is an edge to ``x.y`` when
that is a module, else to ``x``.

- no import cycle among the modules;
- ``engine.dsl``, ``engine.crm`` and ``engine.zoom`` import no Temporal module, directly or
  through the other modules they import (parent packages' ``__init__`` included: importing
  ``engine.dsl.models`` runs ``engine/__init__.py`` and ``engine/dsl/__init__.py``); nor does
  ``engine.sync``, but for its three Temporal client modules;
- the emulator imports nothing of Rollcall (``engine``, in particular not its Zoom client
  ``engine.zoom``): it stands for Zoom, so it must not share Rollcall's reading of Zoom.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "zoom_emulator", "activities", "workflows")
TEMPORAL_FREE = ("engine.dsl", "engine.crm", "engine.zoom", "engine.sync")
#: The Temporal clients of ``engine.sync``: they start, signal and schedule sync runs.
TEMPORAL_CLIENTS = ("engine.sync.service", "engine.sync.triggers", "engine.sync.schedule")


@dataclass
class Graph:
    #: module → the modules of PACKAGES it imports at module level.
    internal: dict[str, set[str]] = field(default_factory=dict)
    #: module → the other modules it imports at module level (as written: ``temporalio.client``).
    external: dict[str, set[str]] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for statement in body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            yield statement
        elif isinstance(statement, ast.If):
            if not _is_type_checking(statement.test):
                yield from _module_level_imports(statement.body)
            yield from _module_level_imports(statement.orelse)
        elif isinstance(statement, ast.Try):
            for block in (statement.body, statement.orelse, statement.finalbody):
                yield from _module_level_imports(block)
            for handler in statement.handlers:
                yield from _module_level_imports(handler.body)
        elif isinstance(statement, ast.With):
            yield from _module_level_imports(statement.body)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def build_graph() -> Graph:
    files = {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    graph = Graph()
    for module, path in files.items():
        internal: set[str] = set()
        external: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _module_level_imports(tree.body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _absolute(module, path.name == "__init__.py", node)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            for target in targets:
                if target.split(".")[0] in PACKAGES:
                    assert target in files, f"{module} imports {target}, which is not a module of the tree"
                    internal.add(target)
                else:
                    external.add(target)
        internal.discard(module)
        graph.internal[module] = internal
        graph.external[module] = external
    return graph


GRAPH = build_graph()


def _parents(module: str) -> list[str]:
    """The packages whose ``__init__`` runs before ``module``: ``a.b.c`` → ``a``, ``a.b``."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _closure(start: str) -> dict[str, str]:
    """Every module importing ``start`` runs, each with the module that imported it first."""
    reached: dict[str, str] = {start: ""}
    pending = [start]
    while pending:
        module = pending.pop()
        for target in sorted(GRAPH.internal[module] | set(_parents(module))):
            if target in GRAPH.internal and target not in reached:
                reached[target] = module
                pending.append(target)
    return reached


def _chain(reached: dict[str, str], end: str) -> str:
    steps = [end]
    while reached[steps[-1]]:
        steps.append(reached[steps[-1]])
    return " → ".join(reversed(steps))


def _cycles() -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(GRAPH.internal):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(GRAPH.internal[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(GRAPH.internal[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read_from_the_tree() -> None:
    """The parser sees what it should: the packages, their submodules and their imports."""
    assert {"engine.dsl.models", "engine.zoom.client", "zoom_emulator.app", "engine.temporal"} <= set(GRAPH.internal)
    assert "engine.dsl.durations" in GRAPH.internal["engine.dsl.models"]
    assert any(name.startswith("temporalio") for name in GRAPH.external["engine.temporal"])


def test_no_import_cycle_among_modules() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("package", TEMPORAL_FREE)
def test_package_imports_no_temporal_module(package: str) -> None:
    """#18 acceptance: the store, the definition language, the Zoom client and the sync's rules know
    nothing of Temporal."""
    modules = [
        module
        for module in GRAPH.internal
        if (module == package or module.startswith(package + ".")) and module not in TEMPORAL_CLIENTS
    ]
    assert modules
    problems: list[str] = []
    for module in modules:
        reached = _closure(module)
        for name in sorted(reached):
            temporal = sorted(target for target in GRAPH.external[name] if target.split(".")[0] == "temporalio")
            if temporal:
                problems.append(f"{_chain(reached, name)} imports {', '.join(temporal)}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_emulator_imports_nothing_of_rollcall() -> None:
    """The emulator stands for Zoom: no import of Rollcall's Zoom client (engine.zoom) or anything of engine."""
    problems = [
        f"{module} imports {target}"
        for module, targets in GRAPH.internal.items()
        if module.startswith("zoom_emulator")
        for target in targets
        if target.split(".")[0] == "engine"
    ]
    assert not problems, "\n".join(problems)


def test_imports_flow_one_way_workflows_activities_engine() -> None:
    """The README's architecture: ``workflows → activities → engine``; nothing imports back up."""
    below = {
        "engine": {"activities", "workflows"},
        "activities": {"workflows"},
        "zoom_emulator": {"activities", "workflows"},
    }
    problems = [
        f"{module} imports {target}"
        for module, targets in GRAPH.internal.items()
        for target in targets
        if target.split(".")[0] in below.get(module.split(".")[0], set())
    ]
    assert not problems, "\n".join(problems)

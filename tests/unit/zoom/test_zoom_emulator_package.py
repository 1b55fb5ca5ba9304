"""#18.4: the emulator is a package of its own — no import from Rollcall, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import zoom_emulator

PACKAGE = Path(zoom_emulator.__file__).parent
ROLLCALL_PACKAGES = ("engine", "activities", "workflows", "worker")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (imports inside functions are not part of the graph)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


def test_the_emulator_imports_nothing_from_rollcall() -> None:
    offending = {
        _module_name(path): sorted(m for m in _imports(path) if m.split(".")[0] in ROLLCALL_PACKAGES)
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_emulator_modules_have_no_import_cycle() -> None:
    graph = _graph()
    # A package imports its submodules through its __init__; an edge from a module to its own
    # parent package is not a cycle of code, only of the __init__ re-exports.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        assert name not in visiting, " → ".join([*visiting[visiting.index(name) :], name])
        if name in done:
            return
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)

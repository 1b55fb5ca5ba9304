"""Every function of the product and its benchmarks is at most 60 lines, or says why not (#18).

A function longer than ``LIMIT`` lines (from its ``def`` — decorators excluded — to its last line)
must carry a ``# long: <reason>`` comment on its ``def`` line or on the line just above it. The
reason is for the reader; the test only checks that there is one and that it is not empty. Tests
are not covered (a test reads as a story; its length is its own)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("engine", "activities", "workflows", "zoom_emulator", "bench")
FILES = ("worker.py",)
LIMIT = 60
MARK = re.compile(r"#\s*long:\s*\S")


def _sources() -> list[Path]:
    paths = [ROOT / name for name in FILES]
    for tree in TREES:
        paths.extend(sorted((ROOT / tree).rglob("*.py")))
    return paths


def _long_functions(path: Path) -> list[tuple[int, str, int, bool]]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > LIMIT:
                around = lines[node.lineno - 2 : node.lineno] if node.lineno >= 2 else lines[:1]
                marked = any(MARK.search(line) for line in around)
                found.append((node.lineno, node.name, length, marked))
    return found


def test_functions_are_at_most_60_lines_or_say_why() -> None:
    unmarked: list[str] = []
    marked: list[str] = []
    for path in _sources():
        for line, name, length, is_marked in _long_functions(path):
            where = f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
            (marked if is_marked else unmarked).append(where)
    assert not unmarked, "functions over 60 lines without a '# long: <reason>' comment:\n" + "\n".join(unmarked)
    # The exceptions stay few: each is a table or a story that reads better whole.
    assert len(marked) <= 5, "\n".join(marked)


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    path = tmp_path / "m.py"
    path.write_text(f"def f():\n{body}\n\n# long: a table\ndef g():\n{body}\n", encoding="utf-8")
    assert [(name, marked) for _, name, _, marked in _long_functions(path)] == [("f", False), ("g", True)]

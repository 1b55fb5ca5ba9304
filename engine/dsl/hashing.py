"""The content hash of a definition, identifying a revision (docs/temporal.md, "Versioned definitions")."""

from __future__ import annotations

import hashlib
import json

from engine.dsl.models import Definition


def canonical_json(definition: Definition) -> str:
    """The parsed definition as JSON with sorted keys and defaults filled in.

    Hashing the model rather than the YAML text makes comments, key order, quoting and
    equivalent spellings (``48h`` and ``2d``, ``123-4567-8901`` and ``12345678901``) one revision.
    """
    data = definition.model_dump(mode="json", by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def definition_hash(definition: Definition) -> str:
    """sha256 (hex) of ``canonical_json``."""
    return hashlib.sha256(canonical_json(definition).encode("utf-8")).hexdigest()

"""Definitions as versioned data: files and API bodies become revisions in the store.

A revision is identified by the definition hash (``engine.dsl.definition_hash``), so reformatting
a file or reordering its keys does not make a new version. Parsed revisions are cached per
(key, version, content hash): a revision never changes once written.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from engine.crm.enrollments import SavedDefinition, get_definition_revision, save_definition
from engine.crm.errors import DefinitionRevisionConflict, WorkflowNotFound
from engine.dsl import (
    Definition,
    ErrorCode,
    InvalidDefinition,
    ValidationError,
    definition_hash,
    validate_path,
    validate_text,
)

log = structlog.get_logger("rollcall.definitions")

_CACHE_SIZE = 256
#: Parsed revisions with their definition hash, by (key, version, stored content hash): the
#: content hash is in the key because two stores (a test's, a restored backup) may hold a
#: different revision under the same key and version.
_cache: OrderedDict[tuple[str, int, str], tuple[Definition, str]] = OrderedDict()
_cache_lock = threading.Lock()


def parse_revision(key: str, version: int, yaml_source: str, content_hash: str = "") -> tuple[Definition, str]:
    """The definition of a stored revision (validated when it was saved) and its definition hash."""
    cache_key = (key, version, content_hash or yaml_source)
    with _cache_lock:
        found = _cache.get(cache_key)
        if found is not None:
            _cache.move_to_end(cache_key)
            return found
    definition = validate_text(yaml_source, f"{key} v{version}").definition_or_raise()
    parsed = (definition, definition_hash(definition))
    with _cache_lock:
        _cache[cache_key] = parsed
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return parsed


def load_revision_hashed(session: Session, key: str, version: int | None = None) -> tuple[int, Definition, str]:
    """A stored revision (the latest when ``version`` is None): version, definition, definition hash."""
    revision = get_definition_revision(session, key, version)
    if revision is None:
        raise WorkflowNotFound(
            f"no workflow {key!r}" + (f" version {version}" if version else ""), details={"key": key}
        )
    definition, digest = parse_revision(revision.key, revision.version, revision.yaml_source, revision.content_hash)
    return revision.version, definition, digest


def load_revision(session: Session, key: str, version: int | None = None) -> tuple[int, Definition]:
    found_version, definition, _digest = load_revision_hashed(session, key, version)
    return found_version, definition


def store_definition(session: Session, definition: Definition, yaml_source: str, source: str) -> SavedDefinition:
    """Save a validated definition as the current revision of its key (a no-op when unchanged)."""
    for attempt in range(3):
        try:
            with session.begin_nested():
                return save_definition(
                    session,
                    key=definition.key,
                    name=definition.name,
                    business_unit=definition.business_unit,
                    enabled=definition.enabled,
                    content_hash=definition_hash(definition),
                    yaml_source=yaml_source,
                    source=source,
                )
        except DefinitionRevisionConflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def put_definition_text(session: Session, key: str, yaml_source: str, source: str = "api") -> SavedDefinition:
    """Validate and save a definition sent for ``key``; InvalidDefinition (422) lists every error."""
    result = validate_text(yaml_source, f"{key}.yaml")
    definition = result.definition_or_raise()
    if definition.key != key:
        raise InvalidDefinition.from_errors(
            [
                ValidationError(
                    file=f"{key}.yaml",
                    line=_key_line(yaml_source),
                    column=1,
                    path="$.key",
                    code=ErrorCode.KEY_MISMATCH,
                    message=f"the definition's key is {definition.key!r} but it was sent to /v1/workflows/{key}",
                )
            ]
        )
    return store_definition(session, definition, yaml_source, source)


def _key_line(yaml_source: str) -> int | None:
    for number, line in enumerate(yaml_source.splitlines(), start=1):
        if line.startswith("key:"):
            return number
    return None


@dataclass(frozen=True)
class LoadReport:
    saved: list[SavedDefinition]
    errors: list[ValidationError]

    @property
    def changed(self) -> list[str]:
        return [item.definition.key for item in self.saved if item.changed]


def load_definitions_dir(db_engine: Engine, folder: Path) -> LoadReport:
    """Every valid definition of ``folder`` becomes (or stays) the current revision of its key.

    Invalid files are reported (file, line, path, message) and skipped, leaving their previous
    revision current: a typo in one file never stops the API nor the other workflows.
    """
    saved: list[SavedDefinition] = []
    errors: list[ValidationError] = []
    if not folder.is_dir():
        return LoadReport(saved, errors)
    results = validate_path(folder)
    for result in results:
        if result.definition is None or result.errors:
            errors.extend(result.errors)
            for error in result.errors:
                log.error("definition not loaded", error=error.format())
            continue
        path = Path(result.file)
        yaml_source = path.read_text(encoding="utf-8")
        with Session(db_engine, expire_on_commit=False) as session:
            item = store_definition(session, result.definition, yaml_source, f"file:{path}")
            session.commit()
        saved.append(item)
        if item.changed:
            log.info("definition loaded", key=item.definition.key, version=item.revision.version, file=str(path))
    return LoadReport(saved, errors)

"""The audit log (§7): one entry per sync run of a webinar, written idempotently by run key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from engine.crm.bulk import connection_of, insert_missing, upsert
from engine.crm.cursors import decode_position, encode_position
from engine.crm.tables import AuditEntry, AuditWarningCode, SyncRunContact, SyncStatus, SyncTrigger, table_of

AUDIT = table_of(AuditEntry)
RUN_CONTACTS = table_of(SyncRunContact)
MAX_PAGE_SIZE = 200


class AuditWarning(BaseModel):
    """One warning of a sync run (R-AUD-1…6); ``items`` are the affected records, e.g.
    ``{"email": "x@corp.com", "reason": "excluded_domain"}`` for EMAILS_EXCLUDED."""

    code: AuditWarningCode
    message: str
    items: list[dict[str, Any]] = Field(default_factory=list)


class AuditEntryWrite(BaseModel):
    """What a sync run records. ``run_key`` identifies the run (e.g. the workflow id and run id):
    writing the same key again updates the entry instead of adding one (retried activities)."""

    run_key: str = Field(min_length=1, max_length=200)
    zoom_webinar_id: str = Field(min_length=1, max_length=32)
    business_unit_id: int | None = None
    trigger: SyncTrigger
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    warnings: list[AuditWarning] = Field(default_factory=list)


def record_audit_entry(session: Session, entry: AuditEntryWrite) -> int:
    """Create or update the audit entry of one sync run; returns its id."""
    row = entry.model_dump(mode="json")
    row["started_at"] = entry.started_at
    row["finished_at"] = entry.finished_at
    connection = connection_of(session)
    upsert(
        connection,
        AUDIT,
        [row],
        key=["run_key"],
        update=["business_unit_id", "trigger", "status", "finished_at", "counts", "warnings"],
    )
    found = connection.execute(sa.select(AUDIT.c.id).where(AUDIT.c.run_key == entry.run_key)).scalar_one()
    return int(found)


def note_run_contacts(
    session: Session, audit_entry_id: int, contact_ids: set[int], created_ids: set[int]
) -> tuple[int, int]:
    """Remember the contacts a run wrote to, each once: the first write decides whether the run
    created it (a retried page that finds its contacts already there does not make them "matched").
    Returns how many of them the ledger did not hold yet: (created, matched)."""
    rows = {
        created: [
            {"audit_entry_id": audit_entry_id, "contact_id": contact_id, "created": created}
            for contact_id in sorted(contact_ids)
            if (contact_id in created_ids) == created
        ]
        for created in (True, False)
    }
    key = ["audit_entry_id", "contact_id"]
    connection = connection_of(session)
    return (
        insert_missing(connection, RUN_CONTACTS, rows[True], key=key),
        insert_missing(connection, RUN_CONTACTS, rows[False], key=key),
    )


def forget_run_contacts(session: Session, audit_entry_id: int) -> None:
    """Once the entry's counts are final, the run's contact ledger is not needed any more."""
    connection_of(session).execute(sa.delete(RUN_CONTACTS).where(RUN_CONTACTS.c.audit_entry_id == audit_entry_id))


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


def list_audit_entries(
    session: Session, zoom_webinar_id: str, *, cursor: str | None = None, limit: int = 50
) -> AuditPage:
    """A webinar's audit entries, newest first (by start, then id), keyset-paginated."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = (
        sa.select(AuditEntry)
        .where(AUDIT.c.zoom_webinar_id == zoom_webinar_id)
        .order_by(AUDIT.c.started_at.desc(), AUDIT.c.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        at, row_id = decode_position(cursor)
        query = query.where(sa.or_(AUDIT.c.started_at < at, sa.and_(AUDIT.c.started_at == at, AUDIT.c.id < row_id)))
    entries = list(session.scalars(query))
    next_cursor = None
    if len(entries) > limit:
        entries = entries[:limit]
        last = entries[-1]
        assert last.id is not None
        next_cursor = encode_position(last.started_at, last.id)
    return AuditPage(entries=entries, next_cursor=next_cursor)

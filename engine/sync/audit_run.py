"""The audit entry of one sync run (§7), built up while the run goes: created when the run
starts, warnings merged as activities find them (a retried activity merges the same items
again, which changes nothing), closed with status and counts at the end."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.audit import AuditEntryWrite, AuditWarning, record_audit_entry
from engine.crm.bulk import connection_of
from engine.crm.tables import AuditEntry, AuditWarningCode, SyncStatus, SyncTrigger, table_of, utcnow

AUDIT = table_of(AuditEntry)

#: Warnings that make a run "partial": something the user expected was not written.
_PARTIAL = {
    AuditWarningCode.RECORDING_NOT_SYNCED,
    AuditWarningCode.PARTICIPANTS_NOT_SYNCED,
    AuditWarningCode.WEBINAR_DATA_NOT_SYNCED,
    AuditWarningCode.SYNC_ERROR,
}


def open_run(
    session: Session,
    *,
    run_key: str,
    webinar_id: str,
    trigger: str,
    started_at: datetime,
    business_unit_id: int | None,
) -> int:
    existing = connection_of(session).execute(sa.select(AUDIT.c.id).where(AUDIT.c.run_key == run_key)).scalar()
    if existing is not None:
        return int(existing)
    return record_audit_entry(
        session,
        AuditEntryWrite(
            run_key=run_key,
            zoom_webinar_id=webinar_id,
            business_unit_id=business_unit_id,
            trigger=SyncTrigger(trigger),
            status=SyncStatus.RUNNING,
            started_at=started_at,
        ),
    )


def _key(item: Mapping[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def add_warning(
    session: Session, run_key: str, code: AuditWarningCode, message: str, items: Iterable[Mapping[str, Any]] = ()
) -> None:
    """Merge a warning into the run's entry: same code and message → items are united."""
    entry = session.scalars(sa.select(AuditEntry).where(AUDIT.c.run_key == run_key).with_for_update()).one()
    warnings = [dict(warning) for warning in entry.warnings]
    for warning in warnings:
        if warning["code"] == code and warning["message"] == message:
            known = {_key(item) for item in warning["items"]}
            warning["items"] = [*warning["items"], *(dict(i) for i in items if _key(i) not in known)]
            break
    else:
        warnings.append(
            AuditWarning(code=code, message=message, items=[dict(i) for i in items]).model_dump(mode="json")
        )
    entry.warnings = warnings
    session.add(entry)
    session.flush()


def close_run(
    session: Session, run_key: str, *, status: SyncStatus | None, counts: Mapping[str, int]
) -> tuple[int, str]:
    """Set the final status (derived from the warnings when None) and counts; returns (id, status)."""
    entry = session.scalars(sa.select(AuditEntry).where(AUDIT.c.run_key == run_key).with_for_update()).one()
    counts = dict(counts)
    for warning in entry.warnings:
        if warning["code"] == AuditWarningCode.EMAILS_EXCLUDED:
            # Each excluded email once (pages and retries may have met it several times).
            counts["emails_excluded"] = len({item.get("email") for item in warning["items"]})
    if status is None:
        codes = {warning["code"] for warning in entry.warnings}
        status = SyncStatus.PARTIAL if codes & {code.value for code in _PARTIAL} else SyncStatus.SUCCEEDED
    entry.status = status
    entry.counts = counts
    entry.finished_at = utcnow()
    session.add(entry)
    session.flush()
    assert entry.id is not None
    return entry.id, status

"""The audit entry of one sync run (§7), built up while the run goes: created when the run
starts with every count at zero, warnings merged as activities find them (a retried activity
merges the same items again, which changes nothing), counts updated in the transaction of every
page that commits (``record_page``), closed with status and final counts at the end.

Counts stay exact across retried pages (issue #13 point 11): the rows read and written of a
listing are set, not added — the activity passes the pass's counts by phase (``Listing``), which
a retry recomputes from its last heartbeat; new timeline and recording events are added in the
transaction that inserts them, so a retry that inserts nothing adds nothing; contacts are counted
from the run's contact ledger (``sync_run_contacts``), each contact once, created or matched as
the first write found it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.audit import (
    AuditEntryWrite,
    AuditWarning,
    forget_run_contacts,
    note_run_contacts,
    record_audit_entry,
)
from engine.crm.bulk import connection_of
from engine.crm.tables import AuditEntry, AuditWarningCode, SyncStatus, SyncTrigger, table_of, utcnow
from engine.metrics import after_commit, count_sync_finished
from engine.sync.contracts import all_counts

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
            counts=all_counts({}),
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


def _locked(session: Session, run_key: str) -> AuditEntry:
    return session.scalars(sa.select(AuditEntry).where(AUDIT.c.run_key == run_key).with_for_update()).one()


def _emails_excluded(warnings: Iterable[Mapping[str, Any]]) -> int:
    """Each excluded email once (pages and retries may meet it several times)."""
    emails = {
        item.get("email")
        for warning in warnings
        if warning["code"] == AuditWarningCode.EMAILS_EXCLUDED
        for item in warning["items"]
    }
    return len(emails)


def record_page(
    session: Session,
    run_key: str,
    *,
    absolute: Mapping[str, int],
    inserted: Mapping[str, int],
    contact_ids: set[int] | None = None,
    created_ids: set[int] | None = None,
) -> dict[str, int]:
    """In the transaction of a page (or a recording check) that commits: set the counts the caller
    knows absolutely (a listing pass's rows), add what this transaction newly inserted — timeline
    events, and the contacts new to the run's ledger, as created or matched — and return the
    entry's counts. Each page adds only what it inserted, so the cost of a page does not grow with
    the run (a count over the ledger would, for a 100,000-contact webinar: #16.4)."""
    entry = _locked(session, run_key)
    assert entry.id is not None
    counts = all_counts(entry.counts)
    if contact_ids:
        created, matched = note_run_contacts(session, entry.id, contact_ids, created_ids or set())
        counts["contacts_created"] += created
        counts["contacts_matched"] += matched
    counts.update(absolute)
    for name, value in inserted.items():
        counts[name] = counts.get(name, 0) + value
    counts["emails_excluded"] = _emails_excluded(entry.warnings)
    entry.counts = counts
    session.add(entry)
    session.flush()
    return counts


def close_run(
    session: Session, run_key: str, *, status: SyncStatus | None, counts: Mapping[str, int]
) -> tuple[int, str]:
    """Set the final status (derived from the warnings when None) and counts, every one present;
    returns (id, status). The counts are the run's (``counts``, a snapshot of an earlier page plus
    what only the workflow knows) or the entry's own, written by pages since, whichever is higher.
    Closing an entry already closed (a retried activity) changes nothing."""
    entry = _locked(session, run_key)
    assert entry.id is not None
    if entry.finished_at is not None:
        return entry.id, entry.status
    live = all_counts(entry.counts)
    final = {name: max(value, live.get(name, 0)) for name, value in all_counts(counts).items()}
    final["emails_excluded"] = _emails_excluded(entry.warnings)
    if status is None:
        codes = {warning["code"] for warning in entry.warnings}
        status = SyncStatus.PARTIAL if codes & {code.value for code in _PARTIAL} else SyncStatus.SUCCEEDED
    entry.status = status
    entry.counts = final
    entry.finished_at = utcnow()
    session.add(entry)
    forget_run_contacts(session, entry.id)
    session.flush()
    _count_finished(session, entry, status, final)
    return entry.id, status


def _count_finished(session: Session, entry: AuditEntry, status: str, counts: Mapping[str, int]) -> None:
    """#17.1: the finished sync, its duration and what it wrote, once the entry's closing commits."""
    try:
        seconds = (entry.finished_at - entry.started_at).total_seconds() if entry.finished_at else 0.0
    except TypeError:  # a naive time read back from an old row: no duration, still a run
        seconds = 0.0
    result = str(getattr(status, "value", status))
    after_commit(session, lambda: count_sync_finished(result, seconds, dict(counts)))

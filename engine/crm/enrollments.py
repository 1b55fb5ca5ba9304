"""Workflow definitions as versioned data, enrollments and their action log (issue 5).

Writes are idempotent so Temporal activities may retry them: a revision by (key, definition
hash), an enrollment by its row id, a step outcome by (enrollment, sequence). The partial unique
index ``uq_enrollments_one_active`` is the permanent guard for "never twice at the same time".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.crm.bulk import connection_of, insert_missing
from engine.crm.errors import DefinitionRevisionConflict, EnrollmentNotFound, WorkflowNotFound
from engine.crm.participations import TimelineEventIn, add_timeline_events, timeline_key
from engine.crm.tables import (
    DefinitionRevision,
    Enrollment,
    EnrollmentStatus,
    EnrollmentStepOutcome,
    TimelineEventKind,
    WorkflowDefinition,
    table_of,
    utcnow,
)
from engine.metrics import STEP_OUTCOMES, after_commit

log = structlog.get_logger("rollcall.enrollment")

REVISIONS = table_of(DefinitionRevision)
DEFINITIONS = table_of(WorkflowDefinition)
ENROLLMENTS = table_of(Enrollment)
OUTCOMES = table_of(EnrollmentStepOutcome)


# --- definitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedDefinition:
    definition: WorkflowDefinition
    revision: DefinitionRevision
    #: True when this call made a new revision (the content changed).
    changed: bool


def save_definition(
    session: Session,
    *,
    key: str,
    name: str,
    business_unit: str,
    enabled: bool,
    content_hash: str,
    yaml_source: str,
    source: str,
) -> SavedDefinition:
    """Make ``yaml_source`` the current revision of ``key``: the existing revision with the same
    definition hash, or a new one with the next version number.

    ``enabled`` from the file applies when the definition is first saved or its content changes;
    re-saving unchanged content keeps an enable/disable made through the API.
    """
    revision, changed = _revision_of(session, key, content_hash, yaml_source)
    row = session.scalars(sa.select(WorkflowDefinition).where(DEFINITIONS.c.key == key)).first()
    now = utcnow()
    if row is None:
        row = WorkflowDefinition(
            key=key,
            name=name,
            business_unit=business_unit,
            enabled=enabled,
            current_version=0,
            source=source,
            created_at=now,
            updated_at=now,
        )
        changed = True
    try:
        with session.begin_nested():
            session.flush()
            if changed or row.current_version != revision.version:
                row.current_version = revision.version
                row.name = name
                row.business_unit = business_unit
                row.enabled = enabled
                row.source = source
                row.updated_at = now
                changed = True
            session.add(row)
            session.flush()
    except IntegrityError:
        # Someone saved a revision of this key at the same time; the caller retries.
        raise DefinitionRevisionConflict(f"definition {key!r} was changed concurrently; retry") from None
    return SavedDefinition(definition=row, revision=revision, changed=changed)


def _revision_of(session: Session, key: str, content_hash: str, yaml_source: str) -> tuple[DefinitionRevision, bool]:
    """The revision of ``key`` with this definition hash, or a new one with the next version
    number (then True: the content changed)."""
    existing = session.scalars(
        sa.select(DefinitionRevision).where(REVISIONS.c.key == key, REVISIONS.c.content_hash == content_hash)
    ).first()
    if existing is not None:
        return existing, False
    latest = connection_of(session).execute(sa.select(sa.func.max(REVISIONS.c.version)).where(REVISIONS.c.key == key))
    revision = DefinitionRevision(
        key=key, version=(latest.scalar() or 0) + 1, content_hash=content_hash, yaml_source=yaml_source
    )
    session.add(revision)
    return revision, True


def get_definition(session: Session, key: str) -> WorkflowDefinition:
    row = session.scalars(sa.select(WorkflowDefinition).where(DEFINITIONS.c.key == key)).first()
    if row is None:
        raise WorkflowNotFound(f"no workflow {key!r}", details={"key": key})
    return row


def list_definitions(session: Session) -> list[WorkflowDefinition]:
    return list(session.scalars(sa.select(WorkflowDefinition).order_by(DEFINITIONS.c.key)))


def set_definition_enabled(session: Session, key: str, enabled: bool) -> WorkflowDefinition:
    row = get_definition(session, key)
    if row.enabled != enabled:
        row.enabled = enabled
        row.updated_at = utcnow()
        session.add(row)
        session.flush()
    return row


def get_definition_revision(session: Session, key: str, version: int | None = None) -> DefinitionRevision | None:
    """A given version of a definition, or its latest when ``version`` is None."""
    query = sa.select(DefinitionRevision).where(REVISIONS.c.key == key)
    if version is not None:
        query = query.where(REVISIONS.c.version == version)
    return session.scalars(query.order_by(REVISIONS.c.version.desc())).first()


def list_definition_revisions(session: Session, key: str) -> list[DefinitionRevision]:
    query = sa.select(DefinitionRevision).where(REVISIONS.c.key == key).order_by(REVISIONS.c.version.desc())
    return list(session.scalars(query))


# --- enrollments --------------------------------------------------------------------------------


def active_enrollment(session: Session, definition_key: str, contact_id: int) -> Enrollment | None:
    query = sa.select(Enrollment).where(
        ENROLLMENTS.c.definition_key == definition_key,
        ENROLLMENTS.c.contact_id == contact_id,
        ENROLLMENTS.c.status == EnrollmentStatus.ACTIVE,
    )
    return session.scalars(query).first()


def latest_enrollment(session: Session, definition_key: str, contact_id: int) -> Enrollment | None:
    query = (
        sa.select(Enrollment)
        .where(ENROLLMENTS.c.definition_key == definition_key, ENROLLMENTS.c.contact_id == contact_id)
        .order_by(ENROLLMENTS.c.id.desc())
    )
    return session.scalars(query).first()


def insert_active_enrollment(
    session: Session,
    *,
    definition_key: str,
    definition_version: int,
    contact_id: int,
    workflow_id: str,
    trigger: str,
) -> tuple[Enrollment, bool]:
    """The contact's active enrollment in ``definition_key``: a new one (True), or the one that
    already exists (False) — the partial unique index decides between concurrent callers."""
    enrollment = Enrollment(
        definition_key=definition_key,
        definition_version=definition_version,
        contact_id=contact_id,
        workflow_id=workflow_id,
        status=EnrollmentStatus.ACTIVE,
        trigger=trigger,
    )
    try:
        with session.begin_nested():
            session.add(enrollment)
            session.flush()
    except IntegrityError:
        session.expunge(enrollment) if enrollment in session else None
        existing = active_enrollment(session, definition_key, contact_id)
        if existing is None:  # it finished between the insert and this read: try once more
            return insert_active_enrollment(
                session,
                definition_key=definition_key,
                definition_version=definition_version,
                contact_id=contact_id,
                workflow_id=workflow_id,
                trigger=trigger,
            )
        return existing, False
    add_enrolled_events(session, [enrollment])
    return enrollment, True


def get_enrollment(session: Session, enrollment_id: int) -> Enrollment:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise EnrollmentNotFound(f"no enrollment {enrollment_id}", details={"enrollment_id": enrollment_id})
    return enrollment


def enrollments_awaiting_run(session: Session, created_before: datetime, limit: int) -> list[Enrollment]:
    """Active enrollments admitted before ``created_before`` whose run has not recorded its id
    (oldest first): runs that never started, or have not reached their first activity yet."""
    query = (
        sa.select(Enrollment)
        .where(
            ENROLLMENTS.c.status == EnrollmentStatus.ACTIVE,
            ENROLLMENTS.c.run_id.is_(None),
            ENROLLMENTS.c.created_at < created_before,
        )
        .order_by(ENROLLMENTS.c.created_at, ENROLLMENTS.c.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def find_enrollment(session: Session, definition_key: str, contact_id: int) -> Enrollment:
    """The contact's active enrollment in the workflow, else its latest one."""
    enrollment = active_enrollment(session, definition_key, contact_id) or latest_enrollment(
        session, definition_key, contact_id
    )
    if enrollment is None:
        raise EnrollmentNotFound(
            f"contact {contact_id} has never been enrolled in {definition_key!r}",
            details={"contact_id": contact_id, "definition_key": definition_key},
        )
    return enrollment


@dataclass(frozen=True)
class StepOutcomeRecord:
    """One row of the action log, as the interpreter reports it."""

    sequence: int
    step_id: str
    outcome: str
    message: str | None = None
    data: dict[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


def record_step_outcomes(
    session: Session,
    enrollment_id: int,
    outcomes: Sequence[StepOutcomeRecord],
    *,
    current_step: str | None = None,
    run_id: str | None = None,
    owner: StepOwner | None = None,
) -> None:
    """Append rows of an enrollment's history; an (enrollment, sequence) already there is left as is.
    A failed step also goes on the contact's timeline. An enrollment deleted with its contact
    (ON DELETE CASCADE) records nothing: there is no one left to record it for. ``owner``: the
    enrollment's contact and definition when the caller knows them (a step's context), else read."""
    now = utcnow()
    values: dict[str, Any] = {"updated_at": now}
    if current_step is not None:
        values["current_step"] = current_step
    if run_id is not None:
        values["run_id"] = run_id
    updated = connection_of(session).execute(
        sa.update(ENROLLMENTS).where(ENROLLMENTS.c.id == enrollment_id).values(**values)
    )
    if not outcomes or not updated.rowcount:
        return
    owner = owner or _owner(session, enrollment_id)
    if owner is None:
        return
    inserted = insert_missing(
        connection_of(session),
        OUTCOMES,
        [
            {
                "enrollment_id": enrollment_id,
                "sequence": outcome.sequence,
                "step_id": outcome.step_id,
                "outcome": outcome.outcome,
                "message": outcome.message,
                "data": outcome.data or {},
                "started_at": outcome.started_at,
                "finished_at": outcome.finished_at or now,
            }
            for outcome in outcomes
        ],
        key=["enrollment_id", "sequence"],
    )
    _log_outcomes(enrollment_id, outcomes, inserted)
    _count_outcomes(session, owner, outcomes, inserted)
    _step_failed_events(session, enrollment_id, owner, [o for o in outcomes if o.outcome == "FAILED"], now)


@dataclass(frozen=True)
class StepOwner:
    """Whose history an enrollment's outcomes are: its contact, its definition and version."""

    contact_id: int
    definition_key: str
    definition_version: int


def _owner(session: Session, enrollment_id: int) -> StepOwner | None:
    row = (
        connection_of(session)
        .execute(
            sa.select(ENROLLMENTS.c.contact_id, ENROLLMENTS.c.definition_key, ENROLLMENTS.c.definition_version).where(
                ENROLLMENTS.c.id == enrollment_id
            )
        )
        .first()
    )
    return None if row is None else StepOwner(row.contact_id, row.definition_key, row.definition_version)


# --- the contact's timeline (#14.2) ----------------------------------------------------------------


def add_enrolled_events(session: Session, enrollments: Sequence[Enrollment]) -> None:
    """ "Enrolled in …" on each contact's timeline, in the admission's transaction."""
    events = []
    for enrollment in enrollments:
        assert enrollment.id is not None
        events.append(
            TimelineEventIn(
                contact_id=enrollment.contact_id,
                kind=TimelineEventKind.WORKFLOW_ENROLLED,
                occurred_at=enrollment.created_at,
                idempotency_key=timeline_key(TimelineEventKind.WORKFLOW_ENROLLED, enrollment.id),
                data={
                    "workflow_key": enrollment.definition_key,
                    "version": enrollment.definition_version,
                    "enrollment_id": enrollment.id,
                    "trigger": enrollment.trigger,
                    "title": f"Enrolled in {enrollment.definition_key} v{enrollment.definition_version}"
                    f" ({enrollment.trigger})",
                },
            )
        )
    add_timeline_events(session, events)


def _step_failed_events(
    session: Session, enrollment_id: int, owner: StepOwner, failed: Sequence[StepOutcomeRecord], now: datetime
) -> None:
    add_timeline_events(
        session,
        [
            TimelineEventIn(
                contact_id=owner.contact_id,
                kind=TimelineEventKind.WORKFLOW_STEP_FAILED,
                occurred_at=record.finished_at or now,
                idempotency_key=timeline_key(TimelineEventKind.WORKFLOW_STEP_FAILED, enrollment_id, record.sequence),
                data={
                    "workflow_key": owner.definition_key,
                    "version": owner.definition_version,
                    "enrollment_id": enrollment_id,
                    "step_id": record.step_id,
                    "message": record.message,
                    "title": f"Step {record.step_id} of {owner.definition_key} failed",
                },
            )
            for record in failed
        ],
    )


#: How an ended enrollment reads on the timeline, by its ended reason.
_ENDED_TITLES = {
    "completed": "Completed {key}",
    "end_step": "Completed {key}",
    "goal_met": "Met the goal of {key}",
    "unenrolled": "Unenrolled from {key}",
    "suppressed": "Left {key}: on its suppression list",
    "step_failed": "{key} ended: a step failed",
}


def _ended_event(session: Session, enrollment: Enrollment) -> None:
    assert enrollment.id is not None and enrollment.ended_at is not None
    reason = enrollment.ended_reason or ""
    title = _ENDED_TITLES.get(reason, "{key} ended: " + reason.replace("_", " "))
    add_timeline_events(
        session,
        [
            TimelineEventIn(
                contact_id=enrollment.contact_id,
                kind=TimelineEventKind.WORKFLOW_ENDED,
                occurred_at=enrollment.ended_at,
                idempotency_key=timeline_key(TimelineEventKind.WORKFLOW_ENDED, enrollment.id),
                data={
                    "workflow_key": enrollment.definition_key,
                    "version": enrollment.definition_version,
                    "enrollment_id": enrollment.id,
                    "status": enrollment.status,
                    "reason": reason,
                    "step_id": enrollment.current_step,
                    "title": title.format(key=enrollment.definition_key),
                },
            )
        ],
    )


#: (definition key, version) → {step id: step type}: revisions never change once stored.
_STEP_TYPES: dict[tuple[str, int], dict[str, str]] = {}


def _step_types(session: Session, key: str, version: int) -> dict[str, str]:
    found = _STEP_TYPES.get((key, version))
    if found is None:
        from engine.enrollment.definitions import parse_revision

        found = {}
        revision = get_definition_revision(session, key, version)
        if revision is not None:
            try:
                definition, _ = parse_revision(key, version, revision.yaml_source, revision.content_hash)
                found = {step.id: str(step.type) for step in definition.steps}
            except Exception:  # a label is not worth failing a step for
                found = {}
        if len(_STEP_TYPES) > 512:
            _STEP_TYPES.clear()
        _STEP_TYPES[(key, version)] = found
    return found


def _count_outcomes(session: Session, owner: StepOwner, outcomes: Sequence[StepOutcomeRecord], inserted: int) -> None:
    """#17.1: each newly recorded outcome by workflow key, step type and code, once committed."""
    if inserted <= 0:
        return
    types = _step_types(session, owner.definition_key, owner.definition_version)
    labels = [
        (owner.definition_key, types.get(outcome.step_id, "unknown"), str(outcome.outcome))
        for outcome in sorted(outcomes, key=lambda o: o.sequence)[-inserted:]
    ]

    def count() -> None:
        for label in labels:
            STEP_OUTCOMES.labels(*label).inc()

    after_commit(session, count)


def _log_outcomes(enrollment_id: int, outcomes: Sequence[StepOutcomeRecord], inserted: int) -> None:
    """One INFO line per newly recorded step outcome (re-sent ones were the earlier sequences):
    ids and codes only, never the message or data (they may hold contact data)."""
    if inserted <= 0:
        return
    for outcome in sorted(outcomes, key=lambda o: o.sequence)[-inserted:]:
        log.info(
            "step outcome",
            enrollment_id=enrollment_id,
            step_id=outcome.step_id,
            sequence=outcome.sequence,
            outcome=outcome.outcome,
        )


def finish_enrollment(
    session: Session, enrollment_id: int, status: EnrollmentStatus, reason: str, *, run_id: str | None = None
) -> Enrollment | None:
    """Close an enrollment once: a finished enrollment keeps its first status and reason. None when
    it is gone (deleted with its contact). Its end goes on the contact's timeline."""
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        return None
    if enrollment.status == EnrollmentStatus.ACTIVE:
        now = utcnow()
        enrollment.status = status
        enrollment.ended_reason = reason
        enrollment.ended_at = now
        enrollment.updated_at = now
        if run_id is not None:
            enrollment.run_id = run_id
        session.add(enrollment)
        session.flush()
        _ended_event(session, enrollment)
    return enrollment


def step_history(session: Session, enrollment_id: int) -> list[EnrollmentStepOutcome]:
    query = (
        sa.select(EnrollmentStepOutcome).where(OUTCOMES.c.enrollment_id == enrollment_id).order_by(OUTCOMES.c.sequence)
    )
    return list(session.scalars(query))

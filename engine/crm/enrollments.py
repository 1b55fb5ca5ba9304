"""Workflow definition revisions and enrollments (the interpreter's durable record in the store).

Writes are idempotent so Temporal activities may retry them: a revision by (key, content hash),
an enrollment by workflow id, a step outcome by (enrollment, sequence).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.crm.bulk import connection_of, insert_missing
from engine.crm.errors import DefinitionRevisionConflict, EnrollmentActive, EnrollmentNotFound
from engine.crm.tables import (
    DefinitionRevision,
    Enrollment,
    EnrollmentStatus,
    EnrollmentStepOutcome,
    table_of,
    utcnow,
)

REVISIONS = table_of(DefinitionRevision)
ENROLLMENTS = table_of(Enrollment)
OUTCOMES = table_of(EnrollmentStepOutcome)


def content_hash(yaml_source: str) -> str:
    return hashlib.sha256(yaml_source.encode()).hexdigest()


def save_definition_revision(session: Session, key: str, yaml_source: str) -> DefinitionRevision:
    """The revision holding exactly ``yaml_source``: the existing one, or a new one with the next version."""
    digest = content_hash(yaml_source)
    query = sa.select(DefinitionRevision).where(REVISIONS.c.key == key, REVISIONS.c.content_hash == digest)
    existing = session.scalars(query).first()
    if existing is not None:
        return existing
    latest = connection_of(session).execute(sa.select(sa.func.max(REVISIONS.c.version)).where(REVISIONS.c.key == key))
    revision = DefinitionRevision(
        key=key, version=(latest.scalar() or 0) + 1, content_hash=digest, yaml_source=yaml_source
    )
    session.add(revision)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Someone saved a revision of this key at the same time; the caller retries.
        raise DefinitionRevisionConflict(f"definition {key!r} was changed concurrently; retry") from None
    return revision


def get_definition_revision(session: Session, key: str, version: int | None = None) -> DefinitionRevision | None:
    """A given version of a definition, or its latest when ``version`` is None."""
    query = sa.select(DefinitionRevision).where(REVISIONS.c.key == key)
    if version is not None:
        query = query.where(REVISIONS.c.version == version)
    return session.scalars(query.order_by(REVISIONS.c.version.desc())).first()


def start_enrollment(
    session: Session,
    *,
    definition_key: str,
    definition_version: int,
    contact_id: int,
    workflow_id: str,
    run_id: str | None = None,
) -> Enrollment:
    """Record an active enrollment (idempotent by workflow id); EnrollmentActive when the contact is
    already actively enrolled in this definition under another workflow."""
    existing = session.scalars(sa.select(Enrollment).where(ENROLLMENTS.c.workflow_id == workflow_id)).first()
    if existing is not None:
        return existing
    enrollment = Enrollment(
        definition_key=definition_key,
        definition_version=definition_version,
        contact_id=contact_id,
        workflow_id=workflow_id,
        run_id=run_id,
        status=EnrollmentStatus.ACTIVE,
    )
    session.add(enrollment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise EnrollmentActive(
            f"contact {contact_id} is already enrolled in {definition_key!r}",
            details={"contact_id": contact_id, "definition_key": definition_key},
        ) from None
    return enrollment


def get_enrollment(session: Session, workflow_id: str) -> Enrollment:
    enrollment = session.scalars(sa.select(Enrollment).where(ENROLLMENTS.c.workflow_id == workflow_id)).first()
    if enrollment is None:
        raise EnrollmentNotFound(f"no enrollment with workflow id {workflow_id!r}")
    return enrollment


def record_step_outcome(
    session: Session,
    *,
    workflow_id: str,
    sequence: int,
    step_id: str,
    outcome: str,
    message: str | None = None,
    data: dict[str, Any] | None = None,
    started_at: datetime | None = None,
) -> None:
    """Append one row of an enrollment's history; the same (enrollment, sequence) again is a no-op."""
    enrollment = get_enrollment(session, workflow_id)
    insert_missing(
        connection_of(session),
        OUTCOMES,
        [
            {
                "enrollment_id": enrollment.id,
                "sequence": sequence,
                "step_id": step_id,
                "outcome": outcome,
                "message": message,
                "data": data or {},
                "started_at": started_at,
                "finished_at": utcnow(),
            }
        ],
        key=["enrollment_id", "sequence"],
    )
    enrollment.current_step = step_id
    enrollment.updated_at = utcnow()
    session.add(enrollment)
    session.flush()


def finish_enrollment(session: Session, workflow_id: str, status: EnrollmentStatus) -> Enrollment:
    enrollment = get_enrollment(session, workflow_id)
    enrollment.status = status
    enrollment.updated_at = utcnow()
    session.add(enrollment)
    session.flush()
    return enrollment


def step_history(session: Session, workflow_id: str) -> list[EnrollmentStepOutcome]:
    enrollment = get_enrollment(session, workflow_id)
    query = (
        sa.select(EnrollmentStepOutcome).where(OUTCOMES.c.enrollment_id == enrollment.id).order_by(OUTCOMES.c.sequence)
    )
    return list(session.scalars(query))

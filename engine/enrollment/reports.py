"""Who is in which workflow (#14.2): a workflow's enrollments as a filtered, keyset-paginated
list, its counts and per-step "action performance", and a contact's enrollments.

Read from the store alone (the action log and the enrollments table), with a fixed number of
queries whatever the size: ``ix_enrollments_key_created`` serves the list, newest first, and
``ix_enrollments_key_status_step`` the counts by status and the "waiting now" per step.

Per step, every count is of *enrollments* (a step run twice by one enrollment, in a ``goto`` loop,
counts once): ``reached`` — has an action-log row for the step other than SKIPPED, or is active
with the step as its current one; ``succeeded`` — a row with a success code (COMPLETED, DELIVERED,
REGISTERED); ``failed`` — a FAILED row; ``waiting`` — active with the step as its current one (in a
delay, in the Zoom saga, or about to run it); ``outcomes`` — per code, how many have that row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.bulk import connection_of
from engine.crm.cursors import decode_position, encode_position
from engine.crm.tables import Contact, Enrollment, EnrollmentStatus, EnrollmentStepOutcome, table_of
from engine.dsl.outcomes import SUCCEEDED, StepOutcomeCode

ENROLLMENTS = table_of(Enrollment)
OUTCOMES = table_of(EnrollmentStepOutcome)
CONTACTS = table_of(Contact)

MAX_PAGE = 500


@dataclass(frozen=True)
class EnrollmentFilter:
    """Which enrollments of a workflow to list; every field given must hold."""

    status: str | None = None
    #: The step the enrollment is at (its ``current_step``).
    current_step: str | None = None
    #: With ``outcome``: enrollments whose action log has this step with this outcome; alone:
    #: enrollments that ran the step. ``outcome`` alone: any step with that outcome.
    step: str | None = None
    outcome: str | None = None
    trigger: str | None = None
    #: Enrolled at or after / before.
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class EnrollmentItem:
    enrollment: Enrollment
    #: Only when asked for and allowed.
    email: str | None = None


@dataclass(frozen=True)
class EnrollmentPage:
    items: list[EnrollmentItem]
    next_cursor: str | None


def _conditions(key: str, filters: EnrollmentFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [ENROLLMENTS.c.definition_key == key]
    if filters.status is not None:
        conditions.append(ENROLLMENTS.c.status == filters.status)
    if filters.current_step is not None:
        conditions.append(ENROLLMENTS.c.current_step == filters.current_step)
    if filters.trigger is not None:
        conditions.append(ENROLLMENTS.c.trigger == filters.trigger)
    if filters.since is not None:
        conditions.append(ENROLLMENTS.c.created_at >= filters.since)
    if filters.until is not None:
        conditions.append(ENROLLMENTS.c.created_at < filters.until)
    if filters.step is not None or filters.outcome is not None:
        ran = sa.select(OUTCOMES.c.id).where(OUTCOMES.c.enrollment_id == ENROLLMENTS.c.id)
        if filters.step is not None:
            ran = ran.where(OUTCOMES.c.step_id == filters.step)
        if filters.outcome is not None:
            ran = ran.where(OUTCOMES.c.outcome == filters.outcome)
        conditions.append(ran.exists())
    return conditions


def list_enrollments(
    session: Session,
    key: str,
    filters: EnrollmentFilter,
    *,
    cursor: str | None = None,
    limit: int = 100,
    with_email: bool = False,
) -> EnrollmentPage:
    """A workflow's enrollments, newest first, keyset-paginated on (enrolled at, id)."""
    limit = max(1, min(limit, MAX_PAGE))
    conditions = _conditions(key, filters)
    if cursor:
        at, row_id = decode_position(cursor)
        conditions.append(
            sa.or_(ENROLLMENTS.c.created_at < at, sa.and_(ENROLLMENTS.c.created_at == at, ENROLLMENTS.c.id < row_id))
        )
    query = (
        sa.select(Enrollment)
        .where(*conditions)
        .order_by(ENROLLMENTS.c.created_at.desc(), ENROLLMENTS.c.id.desc())
        .limit(limit + 1)
    )
    rows = list(session.scalars(query))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_position(rows[-1].created_at, rows[-1].id)
    emails = _emails(session, [row.contact_id for row in rows]) if with_email else {}
    return EnrollmentPage([EnrollmentItem(row, emails.get(row.contact_id)) for row in rows], next_cursor)


def _emails(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    if not contact_ids:
        return {}
    query = sa.select(CONTACTS.c.id, CONTACTS.c.email).where(CONTACTS.c.id.in_(sorted(set(contact_ids))))
    return {row.id: row.email for row in connection_of(session).execute(query)}


def list_contact_enrollments(session: Session, contact_id: int, *, limit: int = MAX_PAGE) -> list[Enrollment]:
    """A contact's enrollments in every workflow, newest first."""
    query = (
        sa.select(Enrollment)
        .where(ENROLLMENTS.c.contact_id == contact_id)
        .order_by(ENROLLMENTS.c.created_at.desc(), ENROLLMENTS.c.id.desc())
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    return list(session.scalars(query))


# --- stats ----------------------------------------------------------------------------------------


@dataclass
class StepStats:
    step_id: str
    reached: int = 0
    succeeded: int = 0
    failed: int = 0
    waiting: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class WorkflowStats:
    enrolled: int = 0
    active: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    steps: list[StepStats] = field(default_factory=list)


def workflow_stats(session: Session, key: str, step_order: Sequence[str] = ()) -> WorkflowStats:
    """Counts of a workflow's enrollments and, per step, its action performance (module docstring).
    Steps come in ``step_order`` (the current definition's), then any others an older revision had."""
    connection = connection_of(session)
    stats = WorkflowStats()
    by_status = sa.select(ENROLLMENTS.c.status, sa.func.count()).where(ENROLLMENTS.c.definition_key == key)
    for status, count in connection.execute(by_status.group_by(ENROLLMENTS.c.status)):
        stats.enrolled += count
        if status in {s.value for s in EnrollmentStatus}:
            setattr(stats, status, count)
    steps: dict[str, StepStats] = {step_id: StepStats(step_id) for step_id in step_order}

    def step(step_id: str) -> StepStats:
        return steps.setdefault(step_id, StepStats(step_id))

    _count_outcomes(connection, key, step)
    _count_reached_and_waiting(connection, key, step)
    stats.steps = list(steps.values())
    return stats


def _count_outcomes(connection: sa.Connection, key: str, step: Callable[[str], StepStats]) -> None:
    """Per step: enrollments by outcome code, and those that succeeded and failed there."""
    of_key = OUTCOMES.join(ENROLLMENTS, ENROLLMENTS.c.id == OUTCOMES.c.enrollment_id)
    per_code = (
        sa.select(OUTCOMES.c.step_id, OUTCOMES.c.outcome, sa.func.count(sa.distinct(OUTCOMES.c.enrollment_id)))
        .select_from(of_key)
        .where(ENROLLMENTS.c.definition_key == key)
        .group_by(OUTCOMES.c.step_id, OUTCOMES.c.outcome)
    )
    for step_id, outcome, count in connection.execute(per_code):
        step(step_id).outcomes[outcome] = count

    def distinct_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count(sa.distinct(sa.case((condition, OUTCOMES.c.enrollment_id))))

    per_step = (
        sa.select(
            OUTCOMES.c.step_id,
            distinct_where(OUTCOMES.c.outcome.in_([code.value for code in SUCCEEDED])),
            distinct_where(OUTCOMES.c.outcome == StepOutcomeCode.FAILED.value),
        )
        .select_from(of_key)
        .where(ENROLLMENTS.c.definition_key == key)
        .group_by(OUTCOMES.c.step_id)
    )
    for step_id, succeeded, failed in connection.execute(per_step):
        step(step_id).succeeded, step(step_id).failed = succeeded, failed


def _count_reached_and_waiting(connection: sa.Connection, key: str, step: Callable[[str], StepStats]) -> None:
    """Per step: active enrollments waiting there now, and every enrollment that ran it or is there."""
    at_step = sa.and_(
        ENROLLMENTS.c.definition_key == key,
        ENROLLMENTS.c.status == EnrollmentStatus.ACTIVE.value,
        ENROLLMENTS.c.current_step.is_not(None),
    )
    waiting = sa.select(ENROLLMENTS.c.current_step, sa.func.count()).where(at_step).group_by(ENROLLMENTS.c.current_step)
    for step_id, count in connection.execute(waiting):
        step(step_id).waiting = count
    of_key = OUTCOMES.join(ENROLLMENTS, ENROLLMENTS.c.id == OUTCOMES.c.enrollment_id)
    ran = (
        sa.select(OUTCOMES.c.step_id.label("step_id"), OUTCOMES.c.enrollment_id.label("enrollment_id"))
        .select_from(of_key)
        .where(ENROLLMENTS.c.definition_key == key, OUTCOMES.c.outcome != StepOutcomeCode.SKIPPED.value)
    )
    here = sa.select(ENROLLMENTS.c.current_step, ENROLLMENTS.c.id).where(at_step)
    reached = sa.union(ran, here).subquery()
    per_reached = sa.select(reached.c.step_id, sa.func.count()).group_by(reached.c.step_id)
    for step_id, count in connection.execute(per_reached):
        step(step_id).reached = count


__all__ = [
    "EnrollmentFilter",
    "EnrollmentItem",
    "EnrollmentPage",
    "StepStats",
    "WorkflowStats",
    "list_contact_enrollments",
    "list_enrollments",
    "workflow_stats",
]

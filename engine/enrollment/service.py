"""Enrolling contacts: the checks (store), the start (Temporal), bulk, unenroll, and reads.

The decision is taken in the store, in one transaction: the contact is upserted (tombstones and
exclusions respected), the rules are checked (enabled, trigger, re-enrollment, suppression,
criteria, goal), and an ``active`` enrollment row is inserted under the partial unique index
that forbids two active enrollments of one contact in one workflow. Only then is the workflow
started, with id ``enroll:{key}:{contact_id}``. A duplicate request finds the active row and
answers with the running enrollment; a crash between the commit and the start is repaired by
the next request for the same contact (it starts the missing run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.client import WorkflowExecutionStatus as RunStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from engine.crm.contacts import (
    ContactUpsert,
    ExclusionReason,
    classify_emails,
    get_contact,
    update_contact,
    upsert_contacts,
    validate_properties,
)
from engine.crm.enrollments import (
    active_enrollment,
    find_enrollment,
    finish_enrollment,
    get_definition,
    has_finished_enrollment,
    insert_active_enrollment,
    step_history,
)
from engine.crm.errors import EnrollmentNotFound
from engine.crm.segments import contact_matches
from engine.crm.sync_settings import get_sync_settings
from engine.crm.tables import Enrollment, EnrollmentStatus, EnrollmentStepOutcome
from engine.dsl import Definition, definition_hash
from engine.dsl.models import ApiTrigger, EventTrigger, ManualTrigger
from engine.dsl.templates import render_filter
from engine.enrollment.context import contact_variables, short_name
from engine.enrollment.contracts import (
    WORKFLOW_TYPE,
    EnrollmentInput,
    EnrollmentProgress,
    ExitReason,
    enrollment_workflow_id,
)
from engine.enrollment.definitions import load_revision
from engine.enrollment.errors import (
    ContactExcluded,
    CriteriaNotMet,
    EnrollmentRefused,
    GoalAlreadyMet,
    NotEnrolled,
    ReEnrollmentOff,
    Suppressed,
    TemporalUnavailable,
    TriggerNotAllowed,
    WorkflowDisabled,
)
from engine.errors import RollcallError
from engine.temporal import SearchAttribute, TaskQueue

log = structlog.get_logger("rollcall.enrollment")

Scalar = str | int | float | bool | None
MAX_BULK_ITEMS = 10_000

_TRIGGER_TYPES: dict[str, type[Any]] = {"api": ApiTrigger, "manual": ManualTrigger, "event": EventTrigger}


class ContactIn(BaseModel):
    """Who to enroll: an existing contact by id, or a person by email (created or updated)."""

    model_config = ConfigDict(extra="forbid")

    contact_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    properties: dict[str, Scalar] = Field(default_factory=dict, max_length=200)

    @field_validator("email", "first_name", "last_name")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> ContactIn:
        if (self.contact_id is None) == (self.email is None):
            raise ValueError("give either contact_id or email")
        return self


@dataclass
class Admission:
    """The store's decision for one contact: the active enrollment, new or existing."""

    enrollment: Enrollment
    created: bool
    definition: Definition
    version: int
    summary: str
    contact_id: int


@dataclass
class EnrollmentStarted:
    enrollment_id: int
    contact_id: int
    workflow_id: str
    run_id: str | None
    version: int
    created: bool
    status: str = EnrollmentStatus.ACTIVE


@dataclass
class BulkItemResult:
    index: int
    status: str  # enrolled | already_enrolled | refused | error
    contact_id: int | None = None
    enrollment_id: int | None = None
    workflow_id: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass
class EnrollmentView:
    enrollment: Enrollment
    history: list[EnrollmentStepOutcome]
    progress: EnrollmentProgress | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- the decision in the store ------------------------------------------------------------------


def _resolve_contact(session: Session, contact: ContactIn) -> int:
    if contact.contact_id is not None:
        found = get_contact(session, contact.contact_id)
        assert found.id is not None
        if contact.first_name is not None or contact.last_name is not None or contact.properties:
            _apply_fields(session, found.id, contact)
        return found.id
    assert contact.email is not None
    properties = validate_properties(contact.properties)
    # R-SET-6 / R-EXC-2: the company's own domains are never created as contacts, here either.
    excluded_domains = get_sync_settings(session).contact_exclusion_domains
    classified = classify_emails(session, [contact.email], excluded_domains=excluded_domains)
    if contact.email in classified.excluded:
        reason = classified.excluded[contact.email]
        raise ContactExcluded(_EXCLUSION_MESSAGES[reason], details={"reason": reason.value})
    if contact.email in classified.existing:
        contact_id = classified.existing[contact.email]
        _apply_fields(session, contact_id, contact.model_copy(update={"properties": properties}))
        return contact_id
    email = classified.creatable[contact.email]
    result = upsert_contacts(session, [ContactUpsert(email, contact.first_name, contact.last_name)])
    if email not in result.ids:
        raise ContactExcluded(
            _EXCLUSION_MESSAGES[ExclusionReason.DELETED_CONTACT], details={"reason": "deleted_contact"}
        )
    contact_id = result.ids[email]
    if properties:
        update_contact(session, contact_id, properties=properties)
    return contact_id


def _apply_fields(session: Session, contact_id: int, contact: ContactIn) -> None:
    changes: dict[str, Any] = {}
    if contact.first_name is not None:
        changes["first_name"] = contact.first_name
    if contact.last_name is not None:
        changes["last_name"] = contact.last_name
    if contact.properties:
        changes["properties"] = contact.properties
    if changes:
        update_contact(session, contact_id, **changes)


_EXCLUSION_MESSAGES = {
    ExclusionReason.INVALID_EMAIL: "the email is not a valid address",
    ExclusionReason.MISSING_EMAIL: "the email is empty",
    ExclusionReason.ACCOUNT_USER: "the email belongs to an account user, who is never enrolled",
    ExclusionReason.EXCLUDED_DOMAIN: "the email's domain is excluded from contact creation",
    ExclusionReason.SECONDARY_EMAIL: "the email is another contact's secondary email; enroll that contact by id",
    ExclusionReason.DELETED_CONTACT: "the contact with this email was deleted; restore it to enroll it",
}


def _matches(session: Session, node: Any, contact_id: int) -> bool:
    contact = get_contact(session, contact_id)
    rendered = render_filter(node, {"contact": contact_variables(contact)})
    return contact_matches(session, rendered, contact_id)


def admit(session: Session, key: str, contact: ContactIn, trigger: str) -> Admission:
    """Decide in the store whether the contact enters workflow ``key`` (commit is the caller's)."""
    row = get_definition(session, key)
    if not row.enabled:
        raise WorkflowDisabled(f"workflow {key!r} is disabled", details={"key": key})
    version, definition = load_revision(session, key, row.current_version)
    allowed = tuple(_TRIGGER_TYPES[t.type] for t in definition.enrollment.triggers if t.type in _TRIGGER_TYPES)
    if trigger in _TRIGGER_TYPES and not issubclass(_TRIGGER_TYPES[trigger], allowed):
        raise TriggerNotAllowed(
            f"workflow {key!r} does not accept enrollments by {trigger!r}",
            details={"trigger": trigger, "allowed": [t.type for t in definition.enrollment.triggers]},
        )
    contact_id = _resolve_contact(session, contact)
    existing = active_enrollment(session, key, contact_id)
    if existing is not None:
        return _admission(session, existing, False, definition, existing.definition_version, contact_id)
    rules = definition.enrollment
    details = {"key": key, "contact_id": contact_id}
    if not rules.re_enrollment and has_finished_enrollment(session, key, contact_id):
        raise ReEnrollmentOff(
            f"contact {contact_id} was already enrolled in {key!r}, which does not allow re-enrollment", details=details
        )
    if rules.suppression is not None and _matches(session, rules.suppression, contact_id):
        raise Suppressed(f"contact {contact_id} matches the suppression list of {key!r}", details=details)
    if rules.criteria is not None and not _matches(session, rules.criteria, contact_id):
        raise CriteriaNotMet(f"contact {contact_id} does not meet the enrollment criteria of {key!r}", details=details)
    if rules.goal is not None and _matches(session, rules.goal, contact_id):
        raise GoalAlreadyMet(f"contact {contact_id} already meets the goal of {key!r}", details=details)
    enrollment, created = insert_active_enrollment(
        session,
        definition_key=key,
        definition_version=version,
        contact_id=contact_id,
        workflow_id=enrollment_workflow_id(key, contact_id),
        trigger=trigger,
    )
    return _admission(session, enrollment, created, definition, enrollment.definition_version, contact_id)


def _admission(
    session: Session, enrollment: Enrollment, created: bool, definition: Definition, version: int, contact_id: int
) -> Admission:
    if enrollment.definition_version != version or not created:
        # A running enrollment keeps the revision it started with.
        version, definition = load_revision(session, enrollment.definition_key, enrollment.definition_version)
    contact = get_contact(session, contact_id)
    summary = f"{short_name(contact.first_name, contact.last_name, contact_id)} → {definition.key} v{version}"
    return Admission(enrollment, created, definition, version, summary, contact_id)


# --- the start in Temporal ----------------------------------------------------------------------


def search_attributes(definition: Definition, version: int, contact_id: int, trigger: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttribute.WORKFLOW_KEY, definition.key),
            SearchAttributePair(SearchAttribute.DEFINITION_VERSION, version),
            SearchAttributePair(SearchAttribute.CONTACT_ID, str(contact_id)),
            SearchAttributePair(SearchAttribute.BUSINESS_UNIT, definition.business_unit),
            SearchAttributePair(SearchAttribute.STATUS, EnrollmentStatus.ACTIVE.value),
            SearchAttributePair(SearchAttribute.TRIGGER, trigger),
        ]
    )


class EnrollmentService:
    """Used by the API, the CLI, the ``enroll`` step and event triggers alike."""

    def __init__(
        self,
        db_engine: Engine,
        client: Client | Callable[[], Any],
        *,
        task_queue: str = TaskQueue.MAIN,
        concurrency: int = 32,
    ) -> None:
        self._engine = db_engine
        self._client = client
        self._task_queue = task_queue
        self._concurrency = concurrency

    async def client(self) -> Client:
        if isinstance(self._client, Client):
            return self._client
        client = self._client()
        if asyncio.iscoroutine(client):
            client = await client
        assert isinstance(client, Client)
        return client

    def _admit(self, key: str, contact: ContactIn, trigger: str) -> Admission:
        with Session(self._engine, expire_on_commit=False) as session:
            admission = admit(session, key, contact, trigger)
            session.commit()
            return admission

    async def enroll(self, key: str, contact: ContactIn, trigger: str = "api") -> EnrollmentStarted:
        admission = await asyncio.to_thread(self._admit, key, contact, trigger)
        return await self._start(admission, trigger)

    async def _start(self, admission: Admission, trigger: str) -> EnrollmentStarted:
        enrollment = admission.enrollment
        assert enrollment.id is not None
        client = await self.client()
        workflow_id = enrollment.workflow_id
        started = EnrollmentStarted(
            enrollment_id=enrollment.id,
            contact_id=admission.contact_id,
            workflow_id=workflow_id,
            run_id=enrollment.run_id,
            version=admission.version,
            created=admission.created,
        )
        payload = EnrollmentInput(
            enrollment_id=enrollment.id,
            contact_id=admission.contact_id,
            version=admission.version,
            definition_hash=definition_hash(admission.definition),
            trigger=enrollment.trigger,
            definition=admission.definition,
            enrolled_at=enrollment.created_at,
        )
        for _attempt in range(20):
            try:
                handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                    WORKFLOW_TYPE,
                    payload,
                    id=workflow_id,
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    search_attributes=search_attributes(
                        admission.definition, admission.version, admission.contact_id, enrollment.trigger
                    ),
                    memo={"enrollment_id": enrollment.id},
                    static_summary=admission.summary,
                    static_details=f"enrollment {enrollment.id} of contact {admission.contact_id} "
                    f"in {admission.definition.key} v{admission.version} (trigger: {enrollment.trigger})",
                )
                started.run_id = handle.result_run_id
                return started
            except WorkflowAlreadyStartedError:
                running = client.get_workflow_handle(workflow_id)
                description = await running.describe()
                if await description.memo_value("enrollment_id", None) == enrollment.id:
                    started.run_id = description.run_id
                    return started
                # The contact's previous enrollment has finished in the store and its run is
                # closing right now: wait for it, then start this one.
                try:
                    await asyncio.wait_for(running.result(), timeout=5)
                except Exception:  # any end of the old run will do
                    await asyncio.sleep(0.2)
            except RPCError as exc:
                raise TemporalUnavailable(f"cannot start the enrollment workflow: {exc.message}") from None
        raise TemporalUnavailable(f"workflow {workflow_id} is still running a previous enrollment; retry")

    async def enroll_many(
        self,
        key: str,
        contacts: Sequence[ContactIn],
        trigger: str = "api",
        *,
        on_result: Callable[[BulkItemResult], None] | None = None,
    ) -> list[BulkItemResult]:
        """Enroll each contact with bounded concurrency; one result per item, in order."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(index: int, contact: ContactIn) -> BulkItemResult:
            async with limit:
                try:
                    started = await self.enroll(key, contact, trigger)
                except EnrollmentRefused as exc:
                    result = BulkItemResult(
                        index, "refused", contact_id=_detail_contact(exc), code=exc.code, message=exc.message
                    )
                except RollcallError as exc:
                    result = BulkItemResult(index, "error", code=exc.code, message=exc.message)
                except Exception as exc:
                    # One item's unexpected failure must not fail the others (some already started).
                    log.exception("enrollment of one bulk item failed", key=key, index=index)
                    result = BulkItemResult(index, "error", code="INTERNAL_ERROR", message=type(exc).__name__)
                else:
                    result = BulkItemResult(
                        index,
                        "enrolled" if started.created else "already_enrolled",
                        contact_id=started.contact_id,
                        enrollment_id=started.enrollment_id,
                        workflow_id=started.workflow_id,
                        code=None if started.created else "ALREADY_ENROLLED",
                    )
            if on_result is not None:
                on_result(result)
            return result

        return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(contacts))))

    # --- unenroll and reads ---------------------------------------------------------------------

    async def unenroll(self, key: str, contact_id: int, *, wait: float = 10.0) -> EnrollmentView:
        """End the contact's active enrollment at once (even mid-delay); it records "unenrolled"."""
        with Session(self._engine, expire_on_commit=False) as session:
            get_definition(session, key)
            enrollment = find_enrollment(session, key, contact_id)
        if enrollment.status != EnrollmentStatus.ACTIVE:
            raise NotEnrolled(
                f"contact {contact_id} is not enrolled in {key!r} (its last enrollment is {enrollment.status})",
                details={"enrollment_id": enrollment.id, "status": enrollment.status},
            )
        client = await self.client()
        handle = client.get_workflow_handle(enrollment.workflow_id)
        try:
            description = await handle.describe()
            running = description.status == RunStatus.RUNNING and (
                await description.memo_value("enrollment_id", None) == enrollment.id
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise TemporalUnavailable(f"cannot reach the enrollment workflow: {exc.message}") from None
            running = False
        if running:
            await handle.signal("unenroll")
            try:
                await asyncio.wait_for(handle.result(), timeout=wait)
            except TimeoutError:
                pass
            except Exception:  # the run's own failure is in the store
                pass
        else:
            # No run (it never started, or was terminated): close the enrollment in the store.
            assert enrollment.id is not None
            with Session(self._engine) as session:
                finish_enrollment(session, enrollment.id, EnrollmentStatus.CANCELLED, ExitReason.UNENROLLED)
                session.commit()
        assert enrollment.id is not None
        return await self.view_by_id(enrollment.id)

    async def view(self, key: str, contact_id: int) -> EnrollmentView:
        def read() -> int:
            with Session(self._engine) as session:
                get_definition(session, key)
                found = find_enrollment(session, key, contact_id)
                assert found.id is not None
                return found.id

        return await self.view_by_id(await asyncio.to_thread(read))

    async def view_by_id(self, enrollment_id: int) -> EnrollmentView:
        def read() -> EnrollmentView:
            with Session(self._engine, expire_on_commit=False) as session:
                enrollment = session.get(Enrollment, enrollment_id)
                if enrollment is None:
                    raise EnrollmentNotFound(f"no enrollment {enrollment_id}")
                return EnrollmentView(enrollment, step_history(session, enrollment_id))

        view = await asyncio.to_thread(read)
        if view.enrollment.status == EnrollmentStatus.ACTIVE:
            view.progress = await self._progress(view.enrollment)
        return view

    async def _progress(self, enrollment: Enrollment) -> EnrollmentProgress | None:
        try:
            client = await self.client()
            handle = client.get_workflow_handle(enrollment.workflow_id)
            return await asyncio.wait_for(handle.query("progress", result_type=EnrollmentProgress), timeout=3)
        except Exception:  # progress is a nicety; the store has the history
            return None


def _detail_contact(exc: RollcallError) -> int | None:
    details = exc.details
    if isinstance(details, dict):
        value = details.get("contact_id")
        return value if isinstance(value, int) else None
    return None


__all__ = [
    "MAX_BULK_ITEMS",
    "Admission",
    "BulkItemResult",
    "ContactIn",
    "EnrollmentService",
    "EnrollmentStarted",
    "EnrollmentView",
    "admit",
    "search_attributes",
]

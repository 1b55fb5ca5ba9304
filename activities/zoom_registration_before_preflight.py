"""The activities of ``AddContactToWebinar`` runs started before the ``saga-preflight`` patch.

Those runs go on the way they started (``workflows/add_to_webinar.py``, ``_run_before_preflight``):
five activities — ``resolve_webinar``, ``check_host``, ``check_registration_form``,
``register_contact``, ``record_registration`` — whose payloads hold the webinar's staff e-mails and
the personal join link (issue #17 point 5 took them out of the new path). They apply the same rules
(``engine.enrollment.registration``) through the helpers of ``ZoomRegistrationActivities``, which
registers them. Delete this module with ``workflow.deprecate_patch("saga-preflight")`` once no such
run is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from temporalio import activity

from engine.crm.registrations import ActionRegistration
from engine.dsl.models import StepRetry
from engine.enrollment.registration import (
    Approval,
    HostRole,
    Refusal,
    WebinarFacts,
    approval_of,
    host_role,
    missing_contact_fields,
)
from engine.failpoints import failpoint

if TYPE_CHECKING:
    from activities.zoom_registration import ZoomRegistrationActivities


class LegacyWebinarFacts(WebinarFacts):
    """``WebinarFacts`` as ``resolve_webinar`` returned them: with the webinar's link and the e-mails
    of its host, alternative hosts and connecting user."""

    join_url: str | None = None
    host_email: str | None = None
    alternative_hosts: list[str] = Field(default_factory=list)
    connected_by_email: str | None = None


class ResolveWebinarInput(BaseModel):
    webinar_id: str
    retry: StepRetry = StepRetry()


class ResolveWebinarResult(BaseModel):
    webinar: LegacyWebinarFacts | None = None
    refusal: Refusal | None = None
    asked: list[str] = Field(default_factory=list)


class HostCheckInput(BaseModel):
    contact_id: int
    host_email: str | None = None
    alternative_hosts: list[str] = Field(default_factory=list)
    connected_by_email: str | None = None


class HostCheckResult(BaseModel):
    contact_found: bool
    role: HostRole | None = None


class FormCheckInput(BaseModel):
    webinar_id: str
    connection: str
    contact_id: int
    retry: StepRetry = StepRetry()


class FormCheckResult(BaseModel):
    refusal: Refusal | None = None
    extra_required_fields: list[str] = Field(default_factory=list)
    missing_contact_fields: list[str] = Field(default_factory=list)


class RegisterInput(BaseModel):
    webinar_id: str
    connection: str
    contact_id: int
    approval_type: int
    retry: StepRetry = StepRetry()


class RegisterResult(BaseModel):
    refusal: Refusal | None = None
    registrant_id: str | None = None
    join_url: str | None = None
    approval: Approval | None = None
    accepted_at: datetime | None = None


class RecordInput(BaseModel):
    contact_id: int
    webinar: LegacyWebinarFacts
    registrant_id: str
    join_url: str | None
    approval: Approval
    accepted_at: datetime


class RecordResult(BaseModel):
    marketing_event_id: int
    new_registration: bool
    timeline_event_added: bool
    registered_at: datetime
    registration_count: int


class RunsBeforePreflight:
    """The five activities, on the helpers of the worker's ``ZoomRegistrationActivities``."""

    def __init__(self, shared: ZoomRegistrationActivities) -> None:
        self._shared = shared

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.resolve_webinar,
            self.check_host,
            self.check_registration_form,
            self.register_contact,
            self.record_registration,
        ]

    @activity.defn
    async def resolve_webinar(self, input: ResolveWebinarInput) -> ResolveWebinarResult:
        """Which connection owns the webinar, and the store's view of it (staff e-mails included).

        Idempotency: reads only.
        """
        view = await asyncio.to_thread(self._shared.read_store_view, input.webinar_id, None)
        found = await self._shared.find_owner(input.webinar_id, view.remembered, input.retry)
        if isinstance(found, Refusal):
            return ResolveWebinarResult(refusal=found)
        owner = view.owners.get(found.connection)
        facts = LegacyWebinarFacts(
            **found.facts(owner).model_dump(),
            join_url=found.webinar.join_url,
            host_email=found.host_email,
            alternative_hosts=[host.lower() for host in found.webinar.settings.alternative_hosts],
            connected_by_email=owner.connected_by_email if owner else None,
        )
        return ResolveWebinarResult(webinar=facts, asked=list(found.asked))

    @activity.defn(no_thread_cancel_exception=True)
    def check_host(self, input: HostCheckInput) -> HostCheckResult:
        """R-ADD-4 on the e-mails the input carries. Idempotency: reads only."""
        contact = self._shared.read_contact(input.contact_id)
        if contact is None:
            return HostCheckResult(contact_found=False)
        role = host_role(contact.email, input.host_email, input.alternative_hosts, input.connected_by_email)
        return HostCheckResult(contact_found=True, role=role)

    @activity.defn
    async def check_registration_form(self, input: FormCheckInput) -> FormCheckResult:
        """R-ADD-5 and the contact's own fields. Idempotency: reads only."""
        questions = await self._shared.registration_questions(input.connection, input.webinar_id, input.retry)
        if isinstance(questions, Refusal):
            return FormCheckResult(refusal=questions)
        contact = await asyncio.to_thread(self._shared.read_contact, input.contact_id)
        missing = missing_contact_fields(contact, questions) if contact is not None else []
        return FormCheckResult(extra_required_fields=questions.extra_required_fields(), missing_contact_fields=missing)

    @activity.defn
    async def register_contact(self, input: RegisterInput) -> RegisterResult:
        """R-ADD-1. Idempotency key: (webinar id, the contact's primary email)."""
        contact = await self._shared.read_contact_for_zoom(input.contact_id)
        created = await self._shared.add_registrant(input.connection, input.webinar_id, contact, input.retry)
        if isinstance(created, Refusal):
            return RegisterResult(refusal=created)
        accepted_at = datetime.now(UTC)
        failpoint("zoom_registration.after_add_registrant")
        return RegisterResult(
            registrant_id=created.registrant_id,
            join_url=created.join_url,
            approval=approval_of(input.approval_type),
            accepted_at=accepted_at,
        )

    @activity.defn(no_thread_cancel_exception=True)
    def record_registration(self, input: RecordInput) -> RecordResult:
        """R-ADD-7 in one transaction. Idempotency key: (webinar id, contact id)."""
        webinar = input.webinar
        recorded = self._shared.write(
            ActionRegistration(
                contact_id=input.contact_id,
                zoom_webinar_id=webinar.webinar_id,
                business_unit_id=self._shared.business_unit_of(webinar),
                connection_id=webinar.crm_connection_id,
                topic=webinar.topic,
                registrant_id=input.registrant_id,
                join_link=input.join_url,
                accepted_at=input.accepted_at,
                approval=input.approval,
                start_time=webinar.start_time,
                end_time=webinar.end_time,
                duration_minutes=webinar.duration_minutes,
                host_email=webinar.host_email,
                webinar_join_url=webinar.join_url,
            )
        )
        return RecordResult(
            marketing_event_id=recorded.marketing_event_id,
            new_registration=recorded.new_registration,
            timeline_event_added=recorded.timeline_event_added,
            registered_at=recorded.registered_at,
            registration_count=recorded.registration_count,
        )

"""Activities of the "Add Contact to Zoom Webinar" action (R-ADD-1…8), run by ``AddContactToWebinarWorkflow``.

``ZoomRegistrationActivities`` holds the CRM store's engine and the worker's ``ZoomClientPool``:
one ``ZoomClient`` per configured Zoom connection, created on first use, reused by every activity
of the worker and sharing each Zoom account's rate limiter with the webinar sync. Zoom
activities are ``async`` and reach the store through ``asyncio.to_thread``; the store-only
activities are synchronous and run in the worker's thread pool. Nothing here blocks the event loop.

No contact's email or name travels through workflow history: activities take the contact id and
read the contact themselves. (Webinar hosts' emails — Zoom users of the company, not contacts — do
travel, from ``resolve_webinar`` to ``check_host``.)

Errors. A business outcome (not found, disabled, ended, host, extra fields, daily limit…) is
*returned* as a ``Refusal``. A Zoom failure that can pass (429 per-second, 5xx, timeouts, dropped
connections) is raised as a retryable ``ApplicationError`` — with ``next_retry_delay`` set from
``Retry-After`` when Zoom sent one, or a jittered backoff for a 429 without it — so Temporal
retries it durably under the step's retry policy. Anything else is raised non-retryable.

Zoom activities heartbeat every ``HEARTBEAT_EVERY`` seconds while they wait on Zoom, so a worker
that dies mid-call is noticed within the workflow's heartbeat timeout rather than the whole
start-to-close timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.crm.errors import ContactNotFound
from engine.crm.registrations import (
    ActionRegistration,
    ConnectionOwner,
    connection_owners,
    contact_identity,
    known_webinar_connection,
    record_action_registration,
)
from engine.dsl.models import RetryPolicy
from engine.dsl.outcomes import StepOutcomeCode
from engine.failpoints import FailpointError, failpoint
from engine.zoom import (
    ApprovalType,
    NewRegistrant,
    RateLimitType,
    RegistrantAction,
    RegistrantRef,
    ZoomClient,
    ZoomConnectionConfig,
    ZoomError,
    ZoomHostCannotRegister,
    ZoomNotFound,
    ZoomRateLimited,
    ZoomRegistrationDisabled,
    ZoomSettings,
    ZoomValidationError,
    ZoomWebinarOver,
)
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConfigError

#: Seconds between heartbeats of a Zoom activity (the workflow's heartbeat timeout is a few of these).
HEARTBEAT_EVERY = 2.0
#: R-ADD-4: the message of HOST_CANNOT_REGISTER, word for word.
HOST_CANNOT_REGISTER_MESSAGE = "The webinar host cannot register for the webinar"
#: The fields R-ADD-1 sends; a form may require these and nothing else (R-ADD-5).
SENT_FIELDS = ("first_name", "last_name", "email")

HostRole = Literal["host", "alternative_host", "connecting_user"]


# --- payloads (they travel through workflow history: ids and facts, no contact PII) ------------


class Refusal(BaseModel):
    """A business outcome that ends the step without registering (returned, never raised)."""

    code: StepOutcomeCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ResolveWebinarInput(BaseModel):
    webinar_id: str
    retry: RetryPolicy = RetryPolicy()


class WebinarFacts(BaseModel):
    """The webinar as its owning connection sees it, and that connection as the store knows it."""

    webinar_id: str
    connection: str
    topic: str = ""
    start_time: datetime | None = None
    duration_minutes: int | None = None
    end_time: datetime | None = None
    approval_type: int = ApprovalType.NO_REGISTRATION.value
    is_zoom_event: bool = False
    join_url: str | None = None
    host_email: str | None = None
    alternative_hosts: list[str] = Field(default_factory=list)
    #: ``zoom_connections`` row of the store; all ``None`` when the connection is configured but
    #: connected to no business unit.
    crm_connection_id: int | None = None
    business_unit_id: int | None = None
    business_unit_name: str | None = None
    business_unit_is_primary: bool = False
    connected_by_email: str | None = None


class ResolveWebinarResult(BaseModel):
    webinar: WebinarFacts | None = None
    refusal: Refusal | None = None
    #: Connections asked, in order (the one the store remembers for this webinar first).
    asked: list[str] = Field(default_factory=list)


class HostCheckInput(BaseModel):
    contact_id: int
    host_email: str | None = None
    alternative_hosts: list[str] = Field(default_factory=list)
    connected_by_email: str | None = None


class HostCheckResult(BaseModel):
    contact_found: bool
    #: Which of the refused people the contact is, if any (R-ADD-4).
    role: HostRole | None = None


class FormCheckInput(BaseModel):
    webinar_id: str
    connection: str
    contact_id: int
    retry: RetryPolicy = RetryPolicy()


class FormCheckResult(BaseModel):
    refusal: Refusal | None = None
    extra_required_fields: list[str] = Field(default_factory=list)
    missing_contact_fields: list[str] = Field(default_factory=list)


class RegisterInput(BaseModel):
    webinar_id: str
    connection: str
    contact_id: int
    approval_type: int
    retry: RetryPolicy = RetryPolicy()


class RegisterResult(BaseModel):
    refusal: Refusal | None = None
    registrant_id: str | None = None
    join_url: str | None = None
    approval: Literal["approved", "pending"] | None = None
    accepted_at: datetime | None = None


class RecordInput(BaseModel):
    contact_id: int
    webinar: WebinarFacts
    registrant_id: str
    join_url: str | None
    approval: Literal["approved", "pending"]
    accepted_at: datetime


class RecordResult(BaseModel):
    marketing_event_id: int
    new_registration: bool
    timeline_event_added: bool
    registered_at: datetime
    registration_count: int


class CancelInput(BaseModel):
    webinar_id: str
    connection: str
    registrant_id: str


class CancelResult(BaseModel):
    cancelled: bool
    note: str


# --- helpers ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _jittered_backoff(policy: RetryPolicy, attempt: int) -> float:
    """The policy's interval for this attempt, times a random 0.5–1.0 (for 429s without Retry-After)."""
    base = policy.initial_interval.total_seconds() * policy.backoff ** max(0, attempt - 1)
    ceiling = max(policy.maximum_interval.total_seconds(), policy.initial_interval.total_seconds())
    return min(base, ceiling) * random.uniform(0.5, 1.0)


def zoom_failure(error: ZoomError, policy: RetryPolicy) -> ApplicationError:
    """``error`` as the ApplicationError that makes Temporal retry it (or not) correctly."""
    if error.retryable:
        delay = error.retry_after
        if delay is None and isinstance(error, ZoomRateLimited):
            delay = _jittered_backoff(policy, activity.info().attempt)
        return ApplicationError(
            str(error),
            type=error.code,
            next_retry_delay=timedelta(seconds=delay) if delay else None,
        )
    return ApplicationError(str(error), type=error.code, non_retryable=True)


def _is_daily_limit(error: ZoomError) -> bool:
    return isinstance(error, ZoomRateLimited) and error.limit_type == RateLimitType.DAILY


def _daily_limit_refusal(error: ZoomError, scope: str, webinar_id: str) -> Refusal:
    # Zoom's own message names the registrant's email: it is not repeated here.
    if scope == "registrant":
        message = (
            f"Zoom's daily limit of add-registrant requests for this contact and webinar {webinar_id} is reached; "
            "it resets at 00:00 UTC"
        )
    else:
        message = f"The Zoom account's daily API limit is reached (asking about webinar {webinar_id}); try tomorrow"
    details: dict[str, Any] = {"scope": scope}
    if error.retry_after is not None:
        details["retry_after_seconds"] = round(error.retry_after)
    return Refusal(code=StepOutcomeCode.DAILY_LIMIT_REACHED, message=message, details=details)


def _config_error(exc: Exception) -> ApplicationError:
    # The configuration holds secrets: say what kind of problem it is, never echo its values.
    return ApplicationError(
        f"the Zoom configuration cannot be used ({type(exc).__name__}); check ROLLCALL_ZOOM_CONNECTIONS "
        "and ROLLCALL_ZOOM_CONNECTIONS_FILE",
        type="ZOOM_CONFIG_INVALID",
        non_retryable=True,
    )


def _zoom_config_failure(exc: Exception) -> ApplicationError:
    """A Zoom configuration problem as a non-retryable failure with a stable type; the pool's
    messages name the problem without echoing configured values."""
    if isinstance(exc, ZoomConfigError):
        return ApplicationError(str(exc), type=getattr(exc, "code", "ZOOM_CONFIG_INVALID"), non_retryable=True)
    return _config_error(exc)


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


class ZoomRegistrationActivities:
    """The activities of the action. Register them with ``activities()``."""

    def __init__(
        self,
        db_engine: Engine,
        zoom_settings: ZoomSettings | None = None,
        *,
        connections: dict[str, ZoomConnectionConfig] | None = None,
        pool: ZoomClientPool | None = None,
    ) -> None:
        """Zoom clients come from ``pool`` — the worker's, shared with the webinar sync, so both
        draw on one rate limiter per Zoom account. Without one, a pool of their own is made from
        ``zoom_settings`` (default: the environment's, read on first use: a broken Zoom
        configuration fails the Zoom activities, clearly and not retried, never the worker's
        start) and ``connections`` (overrides what the settings would load; tests)."""
        self._engine = db_engine
        self._owns_pool = pool is None
        self._pool = pool or ZoomClientPool(zoom_settings, connections=connections)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.resolve_webinar,
            self.check_host,
            self.check_registration_form,
            self.register_contact,
            self.record_registration,
            self.cancel_registration,
        ]

    async def aclose(self) -> None:
        if self._owns_pool:
            await self._pool.aclose()

    # --- connections -----------------------------------------------------------------------

    def _configured(self) -> dict[str, ZoomConnectionConfig]:
        try:
            return self._pool.connections()
        except (ZoomConfigError, ValueError, yaml.YAMLError) as exc:
            raise _zoom_config_failure(exc) from None

    def _client(self, name: str) -> ZoomClient:
        try:
            return self._pool.client(name)
        except (ZoomConfigError, ValueError, yaml.YAMLError) as exc:
            raise _zoom_config_failure(exc) from None

    def _store_view(self, webinar_id: str) -> tuple[dict[str, ConnectionOwner], str | None]:
        with Session(self._engine) as session:
            return connection_owners(session), known_webinar_connection(session, webinar_id)

    def _identity(self, contact_id: int) -> tuple[str, str | None, str | None] | None:
        with Session(self._engine) as session:
            identity = contact_identity(session, contact_id)
        return None if identity is None else (identity.email, identity.first_name, identity.last_name)

    # --- step 2: who owns the webinar --------------------------------------------------------

    @activity.defn
    async def resolve_webinar(self, input: ResolveWebinarInput) -> ResolveWebinarResult:
        """Ask each configured Zoom connection for the webinar; the first that knows it owns it
        (webinar ids are unique across Zoom accounts). The connection the store remembers for this
        webinar (its marketing event) is asked first. Adds the store's view of that connection:
        business unit (R-ADD-3) and connecting user (R-ADD-4); resolves the host's email from the
        host's user id when the webinar does not carry it.

        Idempotency: reads only.
        """
        configured = self._configured()
        owners, remembered = await asyncio.to_thread(self._store_view, input.webinar_id)
        order = sorted(configured, key=lambda name: (name != remembered, name))
        transient: list[ZoomError] = []
        permanent: list[tuple[str, ZoomError]] = []
        daily: ZoomError | None = None
        async with _heartbeating():
            for name in order:
                client = self._client(name)
                try:
                    webinar = await client.get_webinar(input.webinar_id)
                except ZoomNotFound:
                    continue
                except ZoomError as error:
                    if _is_daily_limit(error):
                        daily = error
                    elif error.retryable:
                        transient.append(error)
                    else:
                        permanent.append((name, error))
                    continue
                host_email = webinar.host_email
                if not host_email and webinar.host_id:
                    host_email = await self._host_email(client, webinar.host_id, input.retry)
                owner = owners.get(name)
                end_time = (
                    webinar.start_time + timedelta(minutes=webinar.duration)
                    if webinar.start_time is not None and webinar.duration is not None
                    else None
                )
                facts = WebinarFacts(
                    webinar_id=input.webinar_id,
                    connection=name,
                    topic=webinar.topic,
                    start_time=webinar.start_time,
                    duration_minutes=webinar.duration,
                    end_time=end_time,
                    approval_type=int(webinar.settings.approval_type),
                    is_zoom_event=webinar.is_zoom_event,
                    join_url=webinar.join_url,
                    host_email=host_email.lower() if host_email else None,
                    alternative_hosts=[h.lower() for h in webinar.settings.alternative_hosts],
                    crm_connection_id=owner.connection_id if owner else None,
                    business_unit_id=owner.business_unit_id if owner else None,
                    business_unit_name=owner.business_unit_name if owner else None,
                    business_unit_is_primary=owner.business_unit_is_primary if owner else False,
                    connected_by_email=owner.connected_by_email if owner else None,
                )
                return ResolveWebinarResult(webinar=facts, asked=order[: order.index(name) + 1])
        # Nobody said "mine". Only a clean "not found" from every connection proves it is nobody's.
        if transient:
            raise zoom_failure(transient[0], input.retry) from transient[0]
        if daily is not None:
            return ResolveWebinarResult(refusal=_daily_limit_refusal(daily, "account", input.webinar_id), asked=order)
        if permanent:
            failed_name, failure = permanent[0]
            raise ApplicationError(
                f"Zoom connection {failed_name!r} could not be asked about webinar {input.webinar_id}: {failure}",
                type=failure.code,
                non_retryable=True,
            ) from failure
        return ResolveWebinarResult(
            refusal=Refusal(
                code=StepOutcomeCode.WEBINAR_NOT_FOUND,
                message=(
                    f"Webinar {input.webinar_id} was not found on any connected Zoom account "
                    f"(asked: {', '.join(order)}); it does not exist or has expired"
                ),
                details={"asked": order},
            ),
            asked=order,
        )

    async def _host_email(self, client: ZoomClient, host_id: str, policy: RetryPolicy) -> str | None:
        try:
            return (await client.get_user(host_id)).email
        except ZoomNotFound:
            return None
        except ZoomError as error:
            raise zoom_failure(error, policy) from error

    # --- step 4: host check --------------------------------------------------------------------

    @activity.defn
    def check_host(self, input: HostCheckInput) -> HostCheckResult:
        """R-ADD-4 before any call to add-registrant: the contact's primary email against the
        webinar's host, its alternative hosts and the user who connected the Zoom account,
        case-insensitively.

        Idempotency: reads only.
        """
        identity = self._identity(input.contact_id)
        if identity is None:
            return HostCheckResult(contact_found=False)
        email = identity[0].strip().lower()
        role: HostRole | None = None
        if input.host_email and email == input.host_email.strip().lower():
            role = "host"
        elif email in {h.strip().lower() for h in input.alternative_hosts}:
            role = "alternative_host"
        elif input.connected_by_email and email == input.connected_by_email.strip().lower():
            role = "connecting_user"
        return HostCheckResult(contact_found=True, role=role)

    # --- step 5: registration form ------------------------------------------------------------

    @activity.defn
    async def check_registration_form(self, input: FormCheckInput) -> FormCheckResult:
        """R-ADD-5: read the webinar's registration questions; any required field beyond first
        name, last name and email (standard or custom question) is named. Also checks that the
        contact has the fields Zoom will need (a first name always; a last name when the form
        requires it).

        Idempotency: reads only.
        """
        client = self._client(input.connection)
        async with _heartbeating():
            try:
                questions = await client.get_registration_questions(input.webinar_id)
            except ZoomError as error:
                refusal = _state_refusal(error, input.webinar_id) or (
                    _daily_limit_refusal(error, "account", input.webinar_id) if _is_daily_limit(error) else None
                )
                if refusal is not None:
                    return FormCheckResult(refusal=refusal)
                raise zoom_failure(error, input.retry) from error
        extra = questions.extra_required_fields()
        identity = await asyncio.to_thread(self._identity, input.contact_id)
        missing: list[str] = []
        if identity is not None:
            _, first_name, last_name = identity
            if not (first_name or "").strip():
                missing.append("first_name")
            last_name_required = any(q.field_name == "last_name" and q.required for q in questions.questions)
            if last_name_required and not (last_name or "").strip():
                missing.append("last_name")
        return FormCheckResult(extra_required_fields=extra, missing_contact_fields=missing)

    # --- step 6: register -----------------------------------------------------------------------

    @activity.defn
    async def register_contact(self, input: RegisterInput) -> RegisterResult:
        """R-ADD-1: add the contact (first name, last name, primary email) as a registrant.

        Idempotency key: (webinar id, the contact's primary email) — Zoom answers the same email
        with the same registrant and join link, so a retry after Zoom accepted (even a retry after
        the worker died, see failpoint ``zoom_registration.after_add_registrant``) registers nobody
        twice. Zoom caps adds at 3 per email, webinar and UTC day: the 4th is DAILY_LIMIT_REACHED.
        """
        identity = await asyncio.to_thread(self._identity, input.contact_id)
        if identity is None:
            raise ApplicationError(
                f"contact {input.contact_id} no longer exists", type="CONTACT_NOT_FOUND", non_retryable=True
            )
        email, first_name, last_name = identity
        client = self._client(input.connection)
        registrant = NewRegistrant(email=email, first_name=(first_name or "").strip(), last_name=last_name or "")
        async with _heartbeating():
            try:
                created = await client.add_registrant(input.webinar_id, registrant)
            except ZoomError as error:
                refusal = registration_refusal(error, input.webinar_id)
                if refusal is not None:
                    return RegisterResult(refusal=refusal)
                raise zoom_failure(error, input.retry) from error
        accepted_at = datetime.now(UTC)
        failpoint("zoom_registration.after_add_registrant")
        return RegisterResult(
            registrant_id=created.registrant_id,
            join_url=created.join_url,
            approval="pending" if input.approval_type == ApprovalType.MANUAL else "approved",
            accepted_at=accepted_at,
        )

    # --- step 7: record -------------------------------------------------------------------------

    @activity.defn
    def record_registration(self, input: RecordInput) -> RecordResult:
        """R-ADD-7 in one transaction: marketing event, participation ``registered`` with the
        personal join link and registrant id, "Zoom webinar registration" timeline event,
        rollups (``zoom_webinar_joinlink``, registration count).

        Idempotency key: (webinar id, contact id) — the participation's and the timeline event's
        unique keys; rollups are recomputed, never incremented. A deleted contact or a row the
        database refuses is a permanent failure (the workflow then compensates, R-ADD-8); other
        database errors are retried.
        """
        webinar = input.webinar
        if webinar.business_unit_id is None:
            raise ApplicationError(
                f"webinar {webinar.webinar_id} has no business unit to record it in",
                type="NO_BUSINESS_UNIT",
                non_retryable=True,
            )
        registration = ActionRegistration(
            contact_id=input.contact_id,
            zoom_webinar_id=webinar.webinar_id,
            business_unit_id=webinar.business_unit_id,
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
        try:
            with Session(self._engine) as session, session.begin():
                recorded = record_action_registration(session, registration)
                failpoint("zoom_registration.before_commit")
        except FailpointError as exc:
            raise ApplicationError(str(exc), type="FAILPOINT", non_retryable=exc.permanent) from exc
        except ContactNotFound as exc:
            raise ApplicationError(
                f"contact {input.contact_id} no longer exists", type="CONTACT_NOT_FOUND", non_retryable=True
            ) from exc
        except (IntegrityError, DataError) as exc:
            raise ApplicationError(
                f"the CRM store refused the registration: {_first_line(exc)}",
                type="STORE_REJECTED",
                non_retryable=True,
            ) from exc
        return RecordResult(
            marketing_event_id=recorded.marketing_event_id,
            new_registration=recorded.new_registration,
            timeline_event_added=recorded.timeline_event_added,
            registered_at=recorded.registered_at,
            registration_count=recorded.registration_count,
        )

    # --- step 8: compensation -------------------------------------------------------------------

    @activity.defn
    async def cancel_registration(self, input: CancelInput) -> CancelResult:
        """R-ADD-8 compensation: cancel the registrant in Zoom (registrant status action ``cancel``).

        Idempotency key: the registrant id — cancelling a cancelled registrant changes nothing.
        A webinar Zoom no longer knows has nothing left to cancel.
        """
        client = self._client(input.connection)
        async with _heartbeating():
            try:
                await client.update_registrant_status(
                    input.webinar_id, RegistrantAction.CANCEL, [RegistrantRef(id=input.registrant_id)]
                )
            except ZoomNotFound:
                return CancelResult(cancelled=False, note=f"webinar {input.webinar_id} no longer exists in Zoom")
            except ZoomError as error:
                # Daily status-change limits are retried at the time Zoom gives: a compensation must finish.
                raise zoom_failure(error, RetryPolicy()) from error
        return CancelResult(cancelled=True, note=f"registrant {input.registrant_id} cancelled in Zoom")


def _state_refusal(error: ZoomError, webinar_id: str) -> Refusal | None:
    """R-ADD-6: disabled, ended and not-found answers are outcomes, not retried."""
    if isinstance(error, ZoomRegistrationDisabled):
        return Refusal(
            code=StepOutcomeCode.REGISTRATION_DISABLED,
            message=f"Webinar {webinar_id} does not have registration turned on (Zoom approval_type 2)",
            details={"zoom_code": error.zoom_code},
        )
    if isinstance(error, ZoomWebinarOver):
        return Refusal(
            code=StepOutcomeCode.WEBINAR_ENDED,
            message=f"Webinar {webinar_id} has ended; Zoom no longer accepts registrations",
            details={"zoom_code": error.zoom_code},
        )
    if isinstance(error, ZoomNotFound):
        return Refusal(
            code=StepOutcomeCode.WEBINAR_NOT_FOUND,
            message=f"Webinar {webinar_id} was not found in Zoom or has expired",
            details={"zoom_code": error.zoom_code},
        )
    return None


def registration_refusal(error: ZoomError, webinar_id: str) -> Refusal | None:
    """What an add-registrant error means for the step, when it is a business outcome."""
    state = _state_refusal(error, webinar_id)
    if state is not None:
        return state
    if isinstance(error, ZoomHostCannotRegister):
        return Refusal(
            code=StepOutcomeCode.HOST_CANNOT_REGISTER,
            message=HOST_CANNOT_REGISTER_MESSAGE,
            details={"detected_by": "zoom", "zoom_code": error.zoom_code},
        )
    if _is_daily_limit(error):
        return _daily_limit_refusal(error, "registrant", webinar_id)
    if isinstance(error, ZoomValidationError) and error.field_errors:
        fields = []
        for item in error.field_errors:
            # Custom questions are reported as field "custom_questions", "<title> is required."
            name = item.message.removesuffix(" is required.") if item.field == "custom_questions" else item.field
            if name not in fields:
                fields.append(name)
        contact_fields = [f for f in fields if f in SENT_FIELDS]
        extra = [f for f in fields if f not in SENT_FIELDS]
        if extra:
            return Refusal(
                code=StepOutcomeCode.EXTRA_REQUIRED_FIELDS,
                message=extra_fields_message(webinar_id, extra),
                details={"fields": extra, "detected_by": "zoom"},
            )
        return Refusal(
            code=StepOutcomeCode.MISSING_CONTACT_FIELDS,
            message=f"Zoom refused the registration: the contact lacks {', '.join(contact_fields)}",
            details={"fields": contact_fields, "detected_by": "zoom"},
        )
    return None


def extra_fields_message(webinar_id: str, fields: list[str]) -> str:
    """The EXTRA_REQUIRED_FIELDS message, for Zoom's answer and the workflow's pre-flight alike."""
    return (
        f"The registration form of webinar {webinar_id} requires {', '.join(fields)}; Rollcall sends only "
        "first name, last name and email, so the form must not require anything else (R-ADD-5)"
    )

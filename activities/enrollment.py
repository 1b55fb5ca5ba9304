"""Activities of the enrollment interpreter (``workflows/enrollment.py``).

Each step activity, in one store transaction: writes the outcomes the workflow decided since
the last activity, checks that the contact still exists, has not met the goal and is not
suppressed, then runs the step and appends its outcome to the action log. Idempotency: every
log row is keyed by (enrollment id, sequence), so a retried activity adds nothing twice;
property writes are absolute values; webhooks carry an ``Idempotency-Key`` header
(``enrollment-{id}-{sequence}``) so receivers can drop the redeliveries a retry may cause.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import FailureType
from engine.crm.contacts import update_contact
from engine.crm.enrollments import StepOutcomeRecord, StepOwner, finish_enrollment, record_step_outcomes
from engine.crm.errors import WorkflowNotFound
from engine.crm.segments import SegmentFilter, contact_matches
from engine.crm.tables import Contact, EnrollmentStatus
from engine.dsl.delays import delay_deadline
from engine.dsl.models import (
    AddContactToZoomWebinarStep,
    BranchStep,
    DelayStep,
    EnrollStep,
    OutcomeCondition,
    SetPropertyStep,
    WebhookStep,
)
from engine.dsl.outcomes import StepOutcomeCode
from engine.dsl.templates import (
    TemplateRenderError,
    is_template,
    render,
    render_filter,
    render_json,
    secret_names,
)
from engine.dsl.webinar_ids import InvalidWebinarId, normalise_webinar_id
from engine.enrollment.branches import choose, outcome_holds
from engine.enrollment.context import Secrets, SecretsFileError, template_context
from engine.enrollment.contracts import (
    ExitReason,
    FinishRequest,
    OutcomeNote,
    RecordRequest,
    StepContext,
    StepResult,
)
from engine.enrollment.egress import EgressDenied, EgressPolicy, guarded_client, literal_address
from engine.enrollment.errors import ALREADY_ENROLLED, EnrollmentRefused
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.metrics import WEBHOOK_CALLS
from engine.retry_after import parse_retry_after

#: Responses worth retrying: the receiver is busy or broken right now.
_T = TypeVar("_T")
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: A webhook's JSON answer is kept as the step's output (``save_response: true``) up to this size.
_MAX_RESPONSE_OUTPUT = 4096
#: With ``save_response``, a rejection's message quotes this much of the answer.
_QUOTED_ANSWER = 300
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _records(notes: list[OutcomeNote]) -> list[StepOutcomeRecord]:
    return [
        StepOutcomeRecord(
            sequence=note.sequence,
            step_id=note.step_id,
            outcome=note.outcome,
            message=note.message,
            data=note.data,
            started_at=note.started_at,
        )
        for note in notes
    ]


def _owner(ctx: StepContext) -> StepOwner:
    return StepOwner(ctx.contact_id, ctx.definition_key, ctx.version)


def _run_id() -> str | None:
    try:
        return activity.info().workflow_run_id
    except RuntimeError:
        return None


def _permanent(kind: FailureType, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def _failed(kind: FailureType, step: DelayStep | SetPropertyStep, error: TemplateRenderError) -> ApplicationError:
    """A template of the step that cannot be rendered: a step failure its ``on_error`` decides (#13.5)."""
    return _permanent(kind, f"{step.type} {step.id!r}: {error.message}")


class EnrollmentActivities:
    """The enrollment's steps. The store-only ones are sync activities declared with
    ``no_thread_cancel_exception=True`` (here and in the other activity modules): a cancelled or
    timed-out attempt runs its transaction to its end instead of getting an exception raised into
    its thread mid-transaction (one raised while it waited for SQLite's write lock stopped every
    writer of the worker; the lock is now also safe against it, ``engine.crm.sqlite_transactions``)."""

    def __init__(
        self,
        db_engine: Engine,
        enrollments: EnrollmentService,
        *,
        secrets: Secrets | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        """``enrollments``: the worker's service (``build_worker``), which ``enroll`` steps use."""
        self._engine = db_engine
        self._enrollments = enrollments
        self._secrets = secrets or Secrets(None)
        self._egress = egress or EgressPolicy()
        self._http: httpx.AsyncClient | None = None

    # --- shared prelude ---------------------------------------------------------------------------

    def _begin(self, session: Session, ctx: StepContext, step_id: str) -> Contact | ExitReason:
        """Write pending outcomes, then decide whether the contact leaves before this step: the
        contact, or why it leaves."""
        record_step_outcomes(
            session, ctx.enrollment_id, _records(ctx.pending), current_step=step_id, run_id=_run_id(), owner=_owner(ctx)
        )
        contact = session.get(Contact, ctx.contact_id)
        if contact is None:
            return ExitReason.CONTACT_DELETED
        context = template_context(contact, ctx)
        if ctx.goal is not None and self._matches(session, ctx.goal, context, "the goal"):
            return ExitReason.GOAL_MET
        if ctx.suppression is not None and self._matches(session, ctx.suppression, context, "the suppression list"):
            return ExitReason.SUPPRESSED
        return contact

    @staticmethod
    def _matches(session: Session, node: SegmentFilter, context: dict[str, Any], what: str) -> bool:
        """Whether the contact matches ``node``; a template of it that cannot be rendered fails the
        step being run (#13.5)."""
        try:
            rendered = render_filter(node, context)
        except TemplateRenderError as exc:
            raise _permanent(FailureType.TEMPLATE_ERROR, f"{what}: {exc.message}") from None
        return contact_matches(session, rendered, context["contact"]["id"])

    @staticmethod
    def _outcome(
        session: Session,
        ctx: StepContext,
        step_id: str,
        outcome: StepOutcomeCode,
        *,
        message: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        record = StepOutcomeRecord(ctx.sequence, step_id, outcome, message, data)
        record_step_outcomes(session, ctx.enrollment_id, [record], current_step=step_id, owner=_owner(ctx))

    # --- steps ------------------------------------------------------------------------------------

    @activity.defn(no_thread_cancel_exception=True)
    def plan_delay(self, ctx: StepContext, step: DelayStep) -> StepResult:
        """When the delay ends (``until`` templates read fresh contact data)."""
        with Session(self._engine) as session:
            contact = self._begin(session, ctx, step.id)
            session.commit()
            if isinstance(contact, ExitReason):
                return StepResult.left(contact)
            return StepResult.delay(self._deadline(ctx, step, contact))

    def plan_delay_within(self, session: Session, ctx: StepContext, step: DelayStep) -> StepResult:
        """``plan_delay`` in the caller's transaction, which commits it (``register_to_webinar``'s
        look-ahead, #16.1); it raises what ``plan_delay`` raises, with its writes not yet committed.
        The contact is read again: the registration just changed its rollups (join link, count),
        which the delay's templates read as ``plan_delay`` would, committed."""
        session.expire_all()
        left = self._begin(session, ctx, step.id)
        if isinstance(left, ExitReason):
            return StepResult.left(left)
        return StepResult.delay(self._deadline(ctx, step, left))

    @staticmethod
    def _deadline(ctx: StepContext, step: DelayStep, contact: Contact) -> datetime | None:
        until = None
        if step.until is not None and is_template(step.until):
            try:
                until = render(step.until, template_context(contact, ctx))
            except TemplateRenderError as exc:
                raise _failed(FailureType.TEMPLATE_ERROR, step, exc) from None
        try:
            return delay_deadline(step, ctx.now, until)
        except ValueError:
            raise _permanent(
                FailureType.INVALID_DATETIME,
                f"delay {step.id!r}: 'until' gave {until!r}, which is not an ISO 8601 date-time",
            ) from None

    @activity.defn(no_thread_cancel_exception=True)
    def evaluate_branch(self, ctx: StepContext, step: BranchStep) -> StepResult:
        """The first case that holds now, on fresh contact data or on earlier outcomes."""
        with Session(self._engine) as session:
            contact = self._begin(session, ctx, step.id)
            if isinstance(contact, ExitReason):
                session.commit()
                return StepResult.left(contact)
            context = template_context(contact, ctx)

            def holds(number: int, condition: Any) -> bool:
                if isinstance(condition, OutcomeCondition):
                    return outcome_holds(condition, ctx.outcomes)
                return self._matches(session, condition, context, f"branch {step.id!r}, case {number + 1}")

            chosen, message, data = choose(step, holds)
            self._outcome(session, ctx, step.id, StepOutcomeCode.COMPLETED, message=message, data=data)
            session.commit()
            return StepResult.done(StepOutcomeCode.COMPLETED, message=message, output=data, next_step=chosen)

    @activity.defn(no_thread_cancel_exception=True)
    def set_property(self, ctx: StepContext, step: SetPropertyStep) -> StepResult:
        with Session(self._engine) as session:
            contact = self._begin(session, ctx, step.id)
            if isinstance(contact, ExitReason):
                session.commit()
                return StepResult.left(contact)
            value = step.value
            if isinstance(value, str):
                try:
                    value = render(value, template_context(contact, ctx))
                except TemplateRenderError as exc:
                    raise _failed(FailureType.TEMPLATE_ERROR, step, exc) from None
            assert contact.id is not None
            update_contact(session, contact.id, properties={step.property: value})
            output = {"property": step.property, "value": value}
            self._outcome(session, ctx, step.id, StepOutcomeCode.COMPLETED, data=output)
            session.commit()
            return StepResult.done(StepOutcomeCode.COMPLETED, output=output)

    @activity.defn(no_thread_cancel_exception=True)
    def prepare_registration(self, ctx: StepContext, step: AddContactToZoomWebinarStep) -> StepResult:
        """Render and normalise the webinar id (R-ADD-2); an invalid one is the step's outcome."""
        return self.prepare(ctx, step)

    def prepare(self, ctx: StepContext, step: AddContactToZoomWebinarStep) -> StepResult:
        """``prepare_registration``'s work, also the first part of ``register_to_webinar``
        (``activities/registration_step.py``): the contact leaves, the webinar id is invalid (the
        step's outcome, recorded) or the rendered, normalised id."""
        return self.prepare_then(ctx, step, None)[0]

    def prepare_then(
        self, ctx: StepContext, step: AddContactToZoomWebinarStep, then: Callable[[Session, str], _T] | None
    ) -> tuple[StepResult, _T | None]:
        """``prepare``, and ``then(session, webinar_id)`` in its transaction once the webinar id is
        known (``register_to_webinar`` reads what the registration needs from the store there)."""
        with Session(self._engine) as session:
            contact = self._begin(session, ctx, step.id)
            if isinstance(contact, ExitReason):
                session.commit()
                return StepResult.left(contact), None
            raw = step.webinar_id
            try:
                if is_template(raw):
                    raw = render(raw, template_context(contact, ctx))
                webinar_id = normalise_webinar_id(raw)
            except (TemplateRenderError, InvalidWebinarId) as exc:
                message = f"the webinar id {raw!r} is not valid: {exc}"
                self._outcome(session, ctx, step.id, StepOutcomeCode.INVALID_WEBINAR_ID, message=message)
                session.commit()
                return StepResult.done(StepOutcomeCode.INVALID_WEBINAR_ID, message=message), None
            read = then(session, webinar_id) if then is not None else None
            session.commit()
            return StepResult.prepared(webinar_id), read

    @activity.defn
    async def call_webhook(self, ctx: StepContext, step: WebhookStep) -> StepResult:
        """Render and send the request (to an address the egress policy allows), record DELIVERED.

        What the step stores — its failure message, its output — holds no secret or API key
        (``Secrets.redact``); the answer's body is read only when the step keeps it."""
        prepared = await asyncio.to_thread(self._prepare_webhook, ctx, step)
        if isinstance(prepared, StepResult):
            return prepared
        url, headers, body = prepared
        headers.setdefault("Idempotency-Key", f"enrollment-{ctx.enrollment_id}-{ctx.sequence}")
        try:
            status, answer_headers, answer = await self._send(step, url, headers, body)
        except ApplicationError as exc:
            WEBHOOK_CALLS.labels(ctx.definition_key, exc.type or "ERROR").inc()
            raise
        WEBHOOK_CALLS.labels(ctx.definition_key, str(status)).inc()
        if status in _RETRYABLE_STATUS:
            raise ApplicationError(
                f"webhook {step.id!r}: HTTP {status}",
                type=FailureType.WEBHOOK_RETRYABLE_STATUS,
                next_retry_delay=_retry_after(answer_headers.get("retry-after")),
            )
        if not 200 <= status < 300:
            detail = " (redirects are not followed)" if 300 <= status < 400 else ""
            if answer:
                detail += f": {answer[:_QUOTED_ANSWER].decode('utf-8', 'replace')}"
            raise self._failure(FailureType.WEBHOOK_REJECTED, f"webhook {step.id!r}: HTTP {status}{detail}")
        output: dict[str, Any] = {"status_code": status}
        saved = _json_answer(answer_headers, answer)
        if saved is not None:
            output["response"] = saved
        output = self._secrets.redact(output)
        await asyncio.to_thread(self._delivered, ctx, step.id, output)
        return StepResult.done(StepOutcomeCode.DELIVERED, output=output)

    def _failure(self, kind: FailureType, message: str, *, retryable: bool = False) -> ApplicationError:
        return ApplicationError(self._secrets.redact(message), type=kind, non_retryable=not retryable)

    async def _send(
        self, step: WebhookStep, url: str, headers: dict[str, str], body: Any
    ) -> tuple[int, httpx.Headers, bytes]:
        """The answer's status, headers and (with ``save_response``) the start of its body."""
        if self._http is None:
            self._http = guarded_client(self._egress)
        try:
            self._check_literal_destination(url)
            async with self._http.stream(
                step.method,
                url,
                headers=headers,
                json=body if body is not None and step.method != "GET" else None,
                timeout=step.timeout.total_seconds(),
            ) as response:
                answer = await _read_at_most(response, _MAX_RESPONSE_OUTPUT + 1) if step.save_response else b""
                return response.status_code, response.headers, answer
        except EgressDenied as exc:
            raise self._failure(FailureType.EGRESS_DENIED, f"webhook {step.id!r}: {exc.message}") from None
        except httpx.TimeoutException:
            raise self._failure(
                FailureType.WEBHOOK_TIMEOUT,
                f"webhook {step.id!r}: no answer within {step.timeout.total_seconds():g} s",
                retryable=True,
            ) from None
        except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            retryable = isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)
            raise self._failure(
                FailureType.WEBHOOK_UNREACHABLE,
                f"webhook {step.id!r}: {type(exc).__name__}: {exc}",
                retryable=retryable,
            ) from None

    def _check_literal_destination(self, url: str) -> None:
        """Refuse an address written in the URL before anything is sent, in any spelling the
        resolver reads (``0177.0.0.1`` too, which httpx would reject as an invalid URL); names are
        checked when connecting."""
        parts = urlsplit(url)
        address = literal_address(parts.hostname or "")
        if address is not None:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
            self._egress.check(parts.hostname or "", port, address)

    def _prepare_webhook(self, ctx: StepContext, step: WebhookStep) -> StepResult | tuple[str, dict[str, str], Any]:
        with Session(self._engine) as session:
            contact = self._begin(session, ctx, step.id)
            session.commit()
            if isinstance(contact, ExitReason):
                return StepResult.left(contact)
            # Only the secrets this step names (each declared by its definition) are readable.
            secrets = self._secrets.for_step(secret_names(step.templates()))
            context = template_context(contact, ctx, secrets=secrets)
            try:
                url = render(step.url, context)
                headers = {name: render(value, context) for name, value in step.headers.items()}
                body = render_json(step.body, context)
            except TemplateRenderError as exc:
                raise self._failure(FailureType.TEMPLATE_ERROR, f"webhook {step.id!r}: {exc.message}") from None
            except SecretsFileError as exc:
                raise self._failure(
                    FailureType.SECRETS_FILE_ERROR, f"webhook {step.id!r}: {exc.message}", retryable=True
                ) from None
            return url, headers, body

    def _delivered(self, ctx: StepContext, step_id: str, output: dict[str, Any]) -> None:
        with Session(self._engine) as session:
            self._outcome(session, ctx, step_id, StepOutcomeCode.DELIVERED, data=output)
            session.commit()

    @activity.defn
    async def enroll_contact(self, ctx: StepContext, step: EnrollStep) -> StepResult:
        """Enroll the contact into another workflow, which applies its own rules."""

        def prelude() -> ExitReason | None:
            with Session(self._engine) as session:
                contact = self._begin(session, ctx, step.id)
                session.commit()
                return contact if isinstance(contact, ExitReason) else None

        leave = await asyncio.to_thread(prelude)
        if leave is not None:
            return StepResult.left(leave)
        outcome = StepOutcomeCode.COMPLETED
        try:
            started = await self._enrollments.enroll(
                step.workflow, ContactIn(contact_id=ctx.contact_id), trigger="workflow"
            )
        except (EnrollmentRefused, WorkflowNotFound) as exc:
            # A refusal is the step's outcome, by its code (#14.1): definitions branch on it.
            outcome = _refusal_outcome(exc.code)
            output: dict[str, Any] = {"enrolled": False, "code": exc.code}
            message = exc.message
        else:
            output = {
                "enrolled": started.created,
                "code": None if started.created else ALREADY_ENROLLED,
                "enrollment_id": started.enrollment_id,
                "workflow_id": started.workflow_id,
            }
            message = f"enrolled into {step.workflow}" if started.created else f"already enrolled in {step.workflow}"

        def record() -> None:
            with Session(self._engine) as session:
                self._outcome(session, ctx, step.id, outcome, message=message, data=output)
                session.commit()

        await asyncio.to_thread(record)
        return StepResult.done(outcome, message=message, output=output)

    # --- bookkeeping ------------------------------------------------------------------------------

    @activity.defn(no_thread_cancel_exception=True)
    def record_outcomes(self, request: RecordRequest) -> None:
        with Session(self._engine) as session:
            record_step_outcomes(
                session,
                request.enrollment_id,
                _records(request.notes),
                current_step=request.current_step,
                run_id=_run_id(),
            )
            session.commit()

    @activity.defn(no_thread_cancel_exception=True)
    def finish(self, request: FinishRequest) -> None:
        with Session(self._engine) as session:
            record_step_outcomes(session, request.enrollment_id, _records(request.notes), run_id=_run_id())
            finish_enrollment(
                session, request.enrollment_id, EnrollmentStatus(request.status), request.reason, run_id=_run_id()
            )
            session.commit()

    def all(self) -> list[Any]:
        return [
            self.plan_delay,
            self.evaluate_branch,
            self.set_property,
            self.prepare_registration,
            self.call_webhook,
            self.enroll_contact,
            self.record_outcomes,
            self.finish,
        ]


def _refusal_outcome(code: str) -> StepOutcomeCode:
    """The outcome of an ``enroll`` step the other workflow refused: the refusal's code."""
    try:
        return StepOutcomeCode(code)
    except ValueError:  # a code without an outcome of its own (none today)
        return StepOutcomeCode.FAILED


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of the answer (a webhook may answer with anything, at any length)."""
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= limit:
            break
    return bytes(received[:limit])


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON data a step keeps")


def _json_answer(headers: httpx.Headers, answer: bytes) -> Any:
    """The answer as JSON when it is ``application/json`` of at most 4 KiB; None otherwise."""
    if not answer or len(answer) > _MAX_RESPONSE_OUTPUT:
        return None
    if not headers.get("content-type", "").lower().startswith("application/json"):
        return None
    try:
        # NaN and Infinity are not JSON: kept, they would poison the action log's JSON.
        return json.loads(answer, parse_constant=_refuse_constant)
    except ValueError:
        return None


def _retry_after(value: str | None) -> timedelta | None:
    """A webhook receiver's ``Retry-After`` as the next attempt's delay (None: the step's own backoff)."""
    seconds = parse_retry_after(value, datetime.now(UTC))
    return None if seconds is None else timedelta(seconds=seconds)

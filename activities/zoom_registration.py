"""Activities of the "Add Contact to Zoom Webinar" action (R-ADD-1…8), run by ``AddContactToWebinarWorkflow``.

A registration is a pre-flight and one activity (since the workflow's ``saga-preflight`` patch,
issue #16 point 1):

- the pre-flight applies the rules of ``engine.enrollment.registration`` in order, the first
  refusal ending it: who owns the webinar, the business unit (R-ADD-3), the host, alternative hosts
  and connecting user (R-ADD-4), Zoom Events and registration turned off (R-SCOPE-2, R-ADD-6), the
  registration form and the contact's own fields (R-ADD-5). One store read (the connections and
  the contact). When this worker's ``TtlCache`` holds Zoom's answers about the webinar and its
  form, the pre-flight only reads the store and runs as a local activity
  (``preflight_from_cache``, no activity task); otherwise it asks Zoom (``preflight_registration``);
- ``register_and_record``: add-registrant (R-ADD-1), then the store write (R-ADD-7), in one
  activity: the personal join link Zoom answers goes straight into the CRM store. When the store
  refuses for good, the result says so and the workflow compensates (R-ADD-8) with
  ``cancel_registration``.

What enters workflow history (issue #17 point 5): ids (contact, webinar, the host's Zoom user id,
registrant), outcome codes and the webinar's schedule. Never a contact's name or e-mail, never a
host's, an alternative host's or the connecting user's e-mail (they are compared here), never a
personal join link (it is in the store: ``participations.join_link`` and the contact's
``zoom_webinar_joinlink``).

The activities of runs started before that patch are in ``zoom_registration_before_preflight``;
``activities()`` registers them too, and they share the helpers of this class.

``ZoomRegistrationActivities`` holds the CRM store's engine and the worker's ``ZoomClientPool``
(one client per connection, sharing each Zoom account's rate limiter with the webinar sync). Zoom
activities are ``async`` and reach the store through ``asyncio.to_thread``. Nothing here blocks the
event loop.

Errors. A business outcome (not found, disabled, ended, host, extra fields, daily limit…) is
*returned* as a ``Refusal``. A Zoom failure that can pass (429 per-second, 5xx, timeouts, dropped
connections) is raised as a retryable ``ApplicationError`` — with ``next_retry_delay`` set from
``Retry-After`` when Zoom sent one, or a jittered backoff for a 429 without it — so Temporal
retries it durably under the step's retry policy. Anything else is raised non-retryable.

Zoom activities heartbeat every ``HEARTBEAT_EVERY`` seconds (``activities.failures``) while they
wait on Zoom, so a worker that dies mid-call is noticed within the workflow's heartbeat timeout
rather than the whole start-to-close timeout.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
import yaml
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import FailureType, heartbeating, zoom_config_failure, zoom_failure
from activities.zoom_registration_before_preflight import RunsBeforePreflight
from engine.crm.errors import ContactNotFound
from engine.crm.registrations import (
    ActionRegistration,
    ConnectionOwner,
    ContactIdentity,
    RecordedRegistration,
    connection_owners,
    contact_identity,
    known_webinar_connection,
    record_action_registration,
)
from engine.crm.sqlite_transactions import read_only
from engine.dsl.models import StepRetry
from engine.dsl.outcomes import StepOutcomeCode
from engine.enrollment.registration import (
    Approval,
    Refusal,
    WebinarFacts,
    approval_of,
    business_unit_refusal,
    daily_limit_refusal,
    form_refusal,
    host_refusal,
    host_role,
    is_daily_limit,
    lookup_refusal,
    missing_contact_fields,
    registration_refusal,
    registration_state_refusal,
)
from engine.failpoints import FailpointError, failpoint
from engine.metrics import REGISTRATIONS
from engine.zoom import (
    NewRegistrant,
    RegistrantAction,
    RegistrantCreated,
    RegistrantRef,
    RegistrationQuestions,
    Webinar,
    ZoomClient,
    ZoomConnectionConfig,
    ZoomError,
    ZoomNotFound,
    ZoomSettings,
)
from engine.zoom.cache import TtlCache
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConfigError

#: How long a worker (``build_worker``) keeps Zoom's answers about a webinar: its owner, host and
#: registration questions (``engine.zoom.cache``).
WEBINAR_CACHE_TTL = timedelta(seconds=30)
#: Zoom's answers about a webinar in use are asked again, in the background, once less than this
#: share of ``WEBINAR_CACHE_TTL`` is left (``_refresh_ahead``).
REFRESH_AHEAD_SHARE = 1 / 3
#: How long the pre-flight's answer about the webinar is kept for the same run's
#: ``register_and_record`` (whatever ``WEBINAR_CACHE_TTL``; another worker asks Zoom again).
RUN_MEMO_TTL = timedelta(minutes=10)
#: How long ``register_and_record`` retries a store that fails for a reason that may pass, after
#: Zoom accepted, before it gives up and the workflow compensates (R-ADD-8).
STORE_PATIENCE = timedelta(seconds=60)

log = structlog.get_logger("rollcall.zoom_registration")


# --- payloads (they travel through workflow history: ids and facts, no e-mail, no join link) ---------


class PreflightInput(BaseModel):
    contact_id: int
    #: Normalised (R-ADD-2).
    webinar_id: str
    retry: StepRetry = StepRetry()


class PreflightResult(BaseModel):
    """The first refusal of the rules, or none: then the contact may be registered."""

    #: ``None`` when no connected Zoom account owns the webinar (``refusal`` says why).
    webinar: WebinarFacts | None = None
    refusal: Refusal | None = None
    #: False when the contact was deleted (a failure, not an outcome).
    contact_found: bool = True
    #: ``preflight_from_cache`` only: this worker does not know the webinar or its form (yet), so
    #: nothing was decided; run ``preflight_registration``.
    needs_zoom: bool = False


class RegisterAndRecordInput(BaseModel):
    contact_id: int
    #: The pre-flight's facts: where to register, and what the store records about the webinar.
    webinar: WebinarFacts
    retry: StepRetry = StepRetry()


class StoreRefusal(BaseModel):
    """The CRM store refused a registration Zoom accepted (R-ADD-8: the workflow compensates)."""

    #: ``STORE_REJECTED``, ``CONTACT_NOT_FOUND``, ``STORE_UNAVAILABLE``, ``FAILPOINT``.
    type: str
    message: str


class RecordedFacts(BaseModel):
    """What the store write did (R-ADD-7)."""

    #: False when the contact already had a live registration for this webinar (a repeat).
    new_registration: bool
    registration_count: int


class RegistrationOutcome(BaseModel):
    """``refusal``: Zoom registered nobody. Otherwise Zoom accepted ``registrant_id``, and the store
    either ``recorded`` it or refused it for good (``store_refusal``: compensate)."""

    refusal: Refusal | None = None
    registrant_id: str | None = None
    approval: Approval | None = None
    recorded: RecordedFacts | None = None
    store_refusal: StoreRefusal | None = None


#: Run in the registration's store transaction once it is written (``register_to_webinar``'s
#: look-ahead, #16.1): the session, the webinar's facts and the outcome with what was recorded.
#: It must not raise for what it cannot do (a savepoint keeps the registration's write).
AfterWrite = Callable[[Session, WebinarFacts, RegistrationOutcome], None]


class QuickRegistration(BaseModel):
    """``register_quickly``'s answer: the pre-flight and, when it let the contact register, what
    register-and-record did; or ``saga``: nothing decided here, the enrollment runs the saga."""

    preflight: PreflightResult | None = None
    outcome: RegistrationOutcome | None = None
    #: Why the saga must decide (Zoom did not say what the webinar is, the contact is gone, a
    #: Zoom or store failure, a store refusal to compensate).
    saga: str | None = None


class CancelInput(BaseModel):
    webinar_id: str
    connection: str
    registrant_id: str


class CancelResult(BaseModel):
    cancelled: bool
    note: str


# --- helpers ---------------------------------------------------------------------------------------


def _counted_preflight(result: PreflightResult) -> PreflightResult:
    """A refusal of the pre-flight is a registration outcome too (#17.1)."""
    if result.refusal is not None:
        REGISTRATIONS.labels("refused", str(result.refusal.code)).inc()
    return result


def _counted(outcome: RegistrationOutcome) -> RegistrationOutcome:
    """#17.1: registrations by outcome (registered, repeat, refused with its code, store_refused)."""
    if outcome.refusal is not None:
        REGISTRATIONS.labels("refused", str(outcome.refusal.code)).inc()
    elif outcome.store_refusal is not None:
        REGISTRATIONS.labels("store_refused", outcome.store_refusal.type).inc()
    elif outcome.recorded is not None:
        REGISTRATIONS.labels("registered" if outcome.recorded.new_registration else "repeat", "").inc()
    return outcome


@dataclass(frozen=True)
class ZoomWebinar:
    """A webinar as its owning connection answered, with its host's e-mail: what the worker caches.
    Holds staff e-mails, so it never leaves the worker."""

    #: As asked (normalised, R-ADD-2).
    webinar_id: str
    connection: str
    webinar: Webinar
    host_email: str | None
    #: The connections asked to find it, in order.
    asked: tuple[str, ...]

    def facts(self, owner: ConnectionOwner | None) -> WebinarFacts:
        webinar = self.webinar
        end_time = (
            webinar.start_time + timedelta(minutes=webinar.duration)
            if webinar.start_time is not None and webinar.duration is not None
            else None
        )
        return WebinarFacts(
            webinar_id=self.webinar_id,
            connection=self.connection,
            zoom_account_id=owner.zoom_account_id if owner else None,
            topic=webinar.topic,
            start_time=webinar.start_time,
            duration_minutes=webinar.duration,
            end_time=end_time,
            approval_type=int(webinar.settings.approval_type),
            is_zoom_event=webinar.is_zoom_event,
            host_id=webinar.host_id,
            crm_connection_id=owner.connection_id if owner else None,
            business_unit_id=owner.business_unit_id if owner else None,
            business_unit_name=owner.business_unit_name if owner else None,
            business_unit_is_primary=owner.business_unit_is_primary if owner else False,
        )


@dataclass(frozen=True)
class StoreView:
    """The pre-flight's one store read."""

    owners: dict[str, ConnectionOwner]
    #: The connection of the webinar's marketing event, if the store has one.
    remembered: str | None
    contact: ContactIdentity | None


def _then(
    after_write: AfterWrite | None, webinar: WebinarFacts, outcome: RegistrationOutcome
) -> Callable[[Session, RecordedRegistration], None] | None:
    """``after_write`` as ``write`` calls it: with the outcome and what the write recorded."""
    if after_write is None:
        return None

    def then(session: Session, stored: RecordedRegistration) -> None:
        recorded = RecordedFacts(new_registration=stored.new_registration, registration_count=stored.registration_count)
        after_write(session, webinar, outcome.model_copy(update={"recorded": recorded}))

    return then


def store_view(session: Session, webinar_id: str, contact_id: int | None) -> StoreView:
    """What the pre-flight reads from the store: the connections' owners, the webinar's last known
    connection, the contact's identity."""
    return StoreView(
        connection_owners(session),
        known_webinar_connection(session, webinar_id),
        contact_identity(session, contact_id) if contact_id is not None else None,
    )


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def contact_gone(contact_id: int) -> ApplicationError:
    return ApplicationError(
        f"contact {contact_id} no longer exists", type=FailureType.CONTACT_NOT_FOUND, non_retryable=True
    )


def _this_run() -> str:
    """The workflow run the current activity works for."""
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}"


class ZoomRegistrationActivities:
    """The activities of the action. Register them with ``activities()``."""

    def __init__(
        self,
        db_engine: Engine,
        zoom_settings: ZoomSettings | None = None,
        *,
        connections: dict[str, ZoomConnectionConfig] | None = None,
        pool: ZoomClientPool | None = None,
        webinar_cache_ttl: timedelta = timedelta(0),
        store_patience: timedelta = STORE_PATIENCE,
        quick_path: bool = True,
    ) -> None:
        """Zoom clients come from ``pool`` — the worker's, shared with the webinar sync, so both
        draw on one rate limiter per Zoom account. Without one, a pool of their own is made from
        ``zoom_settings`` (default: the environment's, read on first use: a broken Zoom
        configuration fails the Zoom activities, clearly and not retried, never the worker's
        start) and ``connections`` (overrides what the settings would load; tests).

        ``webinar_cache_ttl``: how long Zoom's answers about a webinar are kept (``build_worker``
        gives ``WEBINAR_CACHE_TTL``; zero, the default, asks Zoom every time). ``store_patience``:
        how long a store failure that may pass is retried after Zoom accepted a registration.
        ``quick_path``: ``register_quickly`` may register (``ROLLCALL_REGISTRATION_QUICK_PATH``);
        off, it always answers ``saga``."""
        self._quick_path = quick_path
        self._engine = db_engine
        self._store_patience = store_patience.total_seconds()
        self._owns_pool = pool is None
        self._pool = pool or ZoomClientPool(zoom_settings, connections=connections)
        self._webinars: TtlCache[str, ZoomWebinar] = TtlCache(webinar_cache_ttl)
        self._forms: TtlCache[tuple[str, str], RegistrationQuestions] = TtlCache(webinar_cache_ttl)
        #: The pre-flight's webinar by workflow run, for that run's register step.
        self._runs: TtlCache[str, ZoomWebinar] = TtlCache(RUN_MEMO_TTL)
        #: The background refreshes under way (``_refresh_ahead``), by (connection, webinar id).
        self._refreshing: dict[tuple[str, str], asyncio.Task[None]] = {}
        #: The lookups of webinars the cache missed, under way (``_learned``), by webinar id.
        self._learning: dict[str, asyncio.Task[ZoomWebinar | None]] = {}
        self._before_preflight = RunsBeforePreflight(self)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.preflight_from_cache,
            self.preflight_registration,
            self.register_and_record,
            self.register_quickly,
            self.cancel_registration,
            *self._before_preflight.activities(),
        ]

    async def aclose(self) -> None:
        for task in [*self._refreshing.values(), *self._learning.values()]:
            task.cancel()
        if self._owns_pool:
            await self._pool.aclose()

    # --- 2. the pre-flight ------------------------------------------------------------------------------

    @activity.defn
    async def preflight_from_cache(self, input: PreflightInput) -> PreflightResult:
        """The pre-flight as a local activity: when this worker's cache holds Zoom's answers about
        the webinar and its form, the rules need only the store. Otherwise ``needs_zoom``.

        Idempotency: reads only.
        """
        cached = self._cached_webinar(input.webinar_id)
        if cached is None or self._forms.get((cached.connection, input.webinar_id)) is None:
            return PreflightResult(needs_zoom=True)
        self._refresh_ahead(cached)
        return _counted_preflight(await self._preflight(input))

    def _refresh_ahead(self, cached: ZoomWebinar) -> None:
        """While registrations keep using a webinar, Zoom is asked about it (the webinar, its host,
        its form) again in the background shortly before the cached answers expire, so they never
        expire under traffic. Without it, every registration of the moment after the expiry missed
        the cache and ran the saga: ``bench/add_to_webinar.py`` saw 737 saga runs for 1,000
        contacts (8.1/s) where a run without an expiry had 26 (13.8/s). A refresh that fails
        changes nothing: the answers expire as before and the next registration asks Zoom."""
        key = (cached.connection, cached.webinar_id)
        if key in self._refreshing:
            return
        lefts = (self._webinars.expires_in(cached.webinar_id), self._forms.expires_in(key))
        if any(left is None or left > self._webinars.ttl * REFRESH_AHEAD_SHARE for left in lefts):
            return
        task = asyncio.get_running_loop().create_task(self._refresh(cached), name=f"refresh webinar {key[1]}")
        self._refreshing[key] = task
        task.add_done_callback(lambda _task: self._refreshing.pop(key, None))

    async def _learned(self, webinar_id: str, remembered: str | None) -> ZoomWebinar | None:
        """On a cache miss, Zoom is asked about the webinar (its owner, host and form) once for all
        the registrations that miss it at that moment, and the cache keeps the answers; None when
        the cache is off, or Zoom did not say (a refusal, a failure: the saga asks again, durably,
        and reports it). Before, every registration that missed went to the saga until one saga's
        pre-flight filled the cache: ``bench/add_to_webinar.py`` saw 150 saga runs in the 14 s after
        the cache expired during a pause in traffic."""
        if self._webinars.ttl <= 0:
            return None
        task = self._learning.get(webinar_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._learn(webinar_id, remembered), name=f"learn {webinar_id}"
            )
            self._learning[webinar_id] = task
            task.add_done_callback(functools.partial(self._forget_lookup, webinar_id))
        try:
            return await asyncio.shield(task)
        except Exception as error:  # the saga asks again, durably, and reports what Zoom says
            log.info("webinar lookup failed", webinar_id=webinar_id, error=type(error).__name__)
            return None

    def _forget_lookup(self, webinar_id: str, task: asyncio.Task[ZoomWebinar | None]) -> None:
        self._learning.pop(webinar_id, None)
        if not task.cancelled():
            task.exception()  # seen: the registrations that waited for it report it

    async def _learn(self, webinar_id: str, remembered: str | None) -> ZoomWebinar | None:
        found = await self.find_owner(webinar_id, remembered, StepRetry())
        if isinstance(found, Refusal):
            return None
        questions = await self.registration_questions(found.connection, webinar_id, StepRetry())
        return None if isinstance(questions, Refusal) else found

    async def _refresh(self, cached: ZoomWebinar) -> None:
        try:
            await self._fetch(cached.connection, cached.webinar_id, cached.asked, StepRetry())
            questions = await self._client(cached.connection).get_registration_questions(cached.webinar_id)
        except Exception as error:
            log.info("webinar refresh failed", webinar_id=cached.webinar_id, error=type(error).__name__)
            return
        self._forms.put((cached.connection, cached.webinar_id), questions)

    @activity.defn
    async def preflight_registration(self, input: PreflightInput) -> PreflightResult:
        """Every check before add-registrant, in order, the first refusal ending it: the owning
        connection, R-ADD-3, R-ADD-4 (compared here: no e-mail leaves the activity), R-SCOPE-2 and
        R-ADD-6, R-ADD-5. One store read; Zoom when the worker's cache has no answer.

        Idempotency: reads only.
        """
        return _counted_preflight(await self._preflight(input))

    async def _preflight(self, input: PreflightInput) -> PreflightResult:
        return (await self._checked(input))[0]

    async def _checked(
        self, input: PreflightInput, view: StoreView | None = None
    ) -> tuple[PreflightResult, ContactIdentity | None]:
        """The pre-flight, and the contact it read (the quick path registers it without reading it
        again); ``view``: the store's part, when the caller read it already."""
        if view is None:
            view = await asyncio.to_thread(self.read_store_view, input.webinar_id, input.contact_id)
        found = await self.find_owner(input.webinar_id, view.remembered, input.retry)
        if isinstance(found, Refusal):
            return PreflightResult(refusal=found), view.contact
        self._runs.put(_this_run(), found)
        owner = view.owners.get(found.connection)
        facts = found.facts(owner)
        refusal = business_unit_refusal(facts)
        if refusal is not None:
            return PreflightResult(webinar=facts, refusal=refusal), view.contact
        if view.contact is None:
            return PreflightResult(webinar=facts, contact_found=False), None
        refusal = await self._contact_refusal(found, facts, owner, view.contact, input.retry)
        return PreflightResult(webinar=facts, refusal=refusal), view.contact

    async def _contact_refusal(
        self,
        found: ZoomWebinar,
        facts: WebinarFacts,
        owner: ConnectionOwner | None,
        contact: ContactIdentity,
        policy: StepRetry,
    ) -> Refusal | None:
        """R-ADD-4, then R-SCOPE-2/R-ADD-6, then R-ADD-5, for a webinar of the primary business unit."""
        connector = owner.connected_by_email if owner is not None else None
        role = host_role(contact.email, found.host_email, found.webinar.settings.alternative_hosts, connector)
        if role is not None:
            return host_refusal(role)
        refusal = registration_state_refusal(facts)
        if refusal is not None:
            return refusal
        questions = await self.registration_questions(found.connection, facts.webinar_id, policy)
        if isinstance(questions, Refusal):
            return questions
        missing = missing_contact_fields(contact, questions)
        return form_refusal(facts.webinar_id, contact.contact_id, questions.extra_required_fields(), missing)

    # --- 3. register, then record ----------------------------------------------------------------------

    @activity.defn
    async def register_and_record(self, input: RegisterAndRecordInput) -> RegistrationOutcome:
        return _counted(await self._register_and_record(input))

    @activity.defn
    async def register_quickly(self, input: PreflightInput) -> QuickRegistration:
        """The whole registration as one local activity of the enrollment, when the worker's cache
        knows the webinar and its form and nothing goes wrong: the pre-flight from the store, then
        add-registrant and the store write. Anything else (a cache miss, a deleted contact, any
        failure, a store refusal to compensate) returns ``saga``: the enrollment then runs the
        ``AddContactToWebinar`` saga, whose steps are idempotent (Zoom answers the same e-mail with
        the same registrant, the store write is keyed by webinar and contact)."""
        return await self.register_quickly_then(input)

    async def register_quickly_then(
        self, input: PreflightInput, after_write: AfterWrite | None = None, view: StoreView | None = None
    ) -> QuickRegistration:
        """``register_quickly``, with ``after_write`` run in the registration's store transaction;
        ``view``: what the pre-flight reads from the store (``store_view``), read by the caller."""
        if not self._quick_path:
            return QuickRegistration(saga="the quick path is off (ROLLCALL_REGISTRATION_QUICK_PATH)")
        cached = self._cached_webinar(input.webinar_id)
        if cached is None or self._forms.get((cached.connection, input.webinar_id)) is None:
            if view is None:
                view = await asyncio.to_thread(self.read_store_view, input.webinar_id, input.contact_id)
            cached = await self._learned(input.webinar_id, view.remembered)
            if cached is None:
                return QuickRegistration(saga="Zoom did not say what the webinar is (the saga asks again)")
        self._refresh_ahead(cached)
        checked, contact = await self._checked(input, view)
        _counted_preflight(checked)
        if checked.refusal is not None or checked.webinar is None:
            return QuickRegistration(preflight=checked)
        if not checked.contact_found or contact is None:
            return QuickRegistration(saga="the contact was not found")
        try:
            outcome = await self._register_and_record(
                RegisterAndRecordInput(contact_id=input.contact_id, webinar=checked.webinar, retry=input.retry),
                contact,
                after_write,
            )
        except Exception as error:  # the saga retries durably, with the step's retry policy
            return QuickRegistration(saga=f"registration failed: {type(error).__name__}")
        if outcome.store_refusal is not None:
            return QuickRegistration(saga="the store refused the registration")
        return QuickRegistration(preflight=checked, outcome=_counted(outcome))

    async def _register_and_record(
        self,
        input: RegisterAndRecordInput,
        contact: ContactIdentity | None = None,
        after_write: AfterWrite | None = None,
    ) -> RegistrationOutcome:
        """R-ADD-1 then R-ADD-7: add the contact as a registrant, then write every effect to the
        store in one transaction — the personal join link goes from Zoom's answer to the store
        without entering workflow history. A store that refuses for good (or stays unavailable for
        ``STORE_PATIENCE``) is *returned* as ``store_refusal``: the workflow compensates.

        Idempotency key: (webinar id, the contact's primary email) — Zoom answers the same email
        with the same registrant and join link, and the store write is keyed by (webinar id,
        contact id), so a retry (even after the worker died between Zoom's answer and the commit,
        see failpoint ``zoom_registration.after_add_registrant``) registers and records nobody
        twice. Zoom caps adds at 3 per email, webinar and UTC day: the 4th is DAILY_LIMIT_REACHED.
        """
        webinar = input.webinar
        business_unit_id = self.business_unit_of(webinar)
        if contact is None:  # the quick path read it a moment ago, in its pre-flight
            contact = await self.read_contact_for_zoom(input.contact_id)
        # The marketing event's host and link (not in history): known before Zoom registers anyone.
        found = await self._webinar_of(webinar.connection, webinar.webinar_id, input.retry)
        if isinstance(found, Refusal):
            return RegistrationOutcome(refusal=found)
        created = await self.add_registrant(webinar.connection, webinar.webinar_id, contact, input.retry)
        if isinstance(created, Refusal):
            return RegistrationOutcome(refusal=created)
        accepted_at = datetime.now(UTC)
        failpoint("zoom_registration.after_add_registrant")
        approval = approval_of(webinar.approval_type)
        registration = ActionRegistration(
            contact_id=input.contact_id,
            zoom_webinar_id=webinar.webinar_id,
            business_unit_id=business_unit_id,
            connection_id=webinar.crm_connection_id,
            topic=webinar.topic,
            registrant_id=created.registrant_id,
            join_link=created.join_url,
            accepted_at=accepted_at,
            approval=approval,
            start_time=webinar.start_time,
            end_time=webinar.end_time,
            duration_minutes=webinar.duration_minutes,
            host_email=found.host_email,
            webinar_join_url=found.webinar.join_url,
        )
        outcome = RegistrationOutcome(registrant_id=created.registrant_id, approval=approval)
        stored = await self._record(registration, _then(after_write, webinar, outcome))
        if isinstance(stored, StoreRefusal):
            return outcome.model_copy(update={"store_refusal": stored})
        recorded = RecordedFacts(new_registration=stored.new_registration, registration_count=stored.registration_count)
        return outcome.model_copy(update={"recorded": recorded})

    async def _record(
        self,
        registration: ActionRegistration,
        then: Callable[[Session, RecordedRegistration], None] | None = None,
    ) -> RecordedRegistration | StoreRefusal:
        """``write``, retried with backoff (heartbeating) for the store's patience while its failure
        may pass; a ``StoreRefusal`` once it is permanent or patience runs out."""
        give_up_at = time.monotonic() + self._store_patience
        delay = 1.0
        async with heartbeating():
            while True:
                try:
                    return await asyncio.to_thread(self.write, registration, then)
                except ApplicationError as exc:
                    if exc.non_retryable:
                        return StoreRefusal(type=exc.type or FailureType.STORE_REJECTED, message=exc.message)
                    failure = exc.message
                except Exception as exc:  # the store is restarting, locked, unreachable…: it may pass
                    failure = _first_line(exc)
                if time.monotonic() + delay > give_up_at:
                    return StoreRefusal(
                        type=FailureType.STORE_UNAVAILABLE,
                        message=f"the CRM store failed for {self._store_patience:.0f} s: {failure}",
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    # --- 4. compensation --------------------------------------------------------------------------------

    @activity.defn
    async def cancel_registration(self, input: CancelInput) -> CancelResult:
        """R-ADD-8 compensation: cancel the registrant in Zoom (registrant status action ``cancel``).

        Idempotency key: the registrant id — cancelling a cancelled registrant changes nothing.
        A webinar Zoom no longer knows has nothing left to cancel.
        """
        client = self._client(input.connection)
        async with heartbeating():
            try:
                await client.update_registrant_status(
                    input.webinar_id, RegistrantAction.CANCEL, [RegistrantRef(id=input.registrant_id)]
                )
            except ZoomNotFound:
                return CancelResult(cancelled=False, note=f"webinar {input.webinar_id} no longer exists in Zoom")
            except ZoomError as error:
                # Daily status-change limits are retried at the time Zoom gives: a compensation must finish.
                raise zoom_failure(error, jitter=StepRetry()) from error
        return CancelResult(cancelled=True, note=f"registrant {input.registrant_id} cancelled in Zoom")

    # --- Zoom: connections, the webinar and its form (cached) --------------------------------------------

    def _configured(self) -> dict[str, ZoomConnectionConfig]:
        try:
            return self._pool.connections()
        except (ZoomConfigError, ValueError, yaml.YAMLError) as exc:
            raise zoom_config_failure(exc) from None

    def _client(self, name: str) -> ZoomClient:
        try:
            return self._pool.client(name)
        except (ZoomConfigError, ValueError, yaml.YAMLError) as exc:
            raise zoom_config_failure(exc) from None

    def _cached_webinar(self, webinar_id: str) -> ZoomWebinar | None:
        cached = self._webinars.get(webinar_id)
        return cached if cached is not None and cached.connection in self._configured() else None

    async def _fetch(self, name: str, webinar_id: str, asked: tuple[str, ...], policy: StepRetry) -> ZoomWebinar:
        """The webinar from connection ``name``, with its host's e-mail (from the host's user when the
        webinar does not carry it); cached. Raises ``ZoomError`` for the webinar's lookup."""
        client = self._client(name)
        webinar = await client.get_webinar(webinar_id)
        host_email = webinar.host_email
        if not host_email and webinar.host_id:
            host_email = await self._host_email(client, webinar.host_id, policy)
        found = ZoomWebinar(webinar_id, name, webinar, host_email.lower() if host_email else None, asked)
        self._webinars.put(webinar_id, found)
        return found

    async def _host_email(self, client: ZoomClient, host_id: str, policy: StepRetry) -> str | None:
        try:
            return (await client.get_user(host_id)).email
        except ZoomNotFound:
            return None
        except ZoomError as error:
            raise zoom_failure(error, jitter=policy) from error

    async def find_owner(self, webinar_id: str, remembered: str | None, policy: StepRetry) -> ZoomWebinar | Refusal:
        """Which connection owns the webinar: each configured one is asked, the one the store
        remembers for this webinar (its marketing event) first; the first that knows it owns it
        (webinar ids are unique across Zoom accounts). Only a clean "not found" from every
        connection proves it is nobody's."""
        cached = self._cached_webinar(webinar_id)
        if cached is not None:
            return cached
        order = sorted(self._configured(), key=lambda name: (name != remembered, name))
        transient: list[ZoomError] = []
        permanent: list[tuple[str, ZoomError]] = []
        daily: ZoomError | None = None
        async with heartbeating():
            for number, name in enumerate(order, start=1):
                try:
                    return await self._fetch(name, webinar_id, tuple(order[:number]), policy)
                except ZoomNotFound:
                    continue
                except ZoomError as error:
                    if is_daily_limit(error):
                        daily = error
                    elif error.retryable:
                        transient.append(error)
                    else:
                        permanent.append((name, error))
        if transient:
            raise zoom_failure(transient[0], jitter=policy) from transient[0]
        if daily is not None:
            return daily_limit_refusal(daily, "account", webinar_id)
        if permanent:
            failed_name, failure = permanent[0]
            raise ApplicationError(
                f"Zoom connection {failed_name!r} could not be asked about webinar {webinar_id}: {failure}",
                type=failure.code,
                non_retryable=True,
            ) from failure
        return Refusal(
            code=StepOutcomeCode.WEBINAR_NOT_FOUND,
            message=(
                f"Webinar {webinar_id} was not found on any connected Zoom account (asked: {', '.join(order)}); "
                "it does not exist or has expired"
            ),
            details={"asked": order},
        )

    async def _webinar_of(self, connection: str, webinar_id: str, policy: StepRetry) -> ZoomWebinar | Refusal:
        """The webinar from the connection known to own it: what this run's pre-flight found, if this
        worker ran it, or the cache, or Zoom."""
        for cached in (self._runs.get(_this_run()), self._webinars.get(webinar_id)):
            if cached is not None and (cached.connection, cached.webinar_id) == (connection, webinar_id):
                return cached
        async with heartbeating():
            try:
                return await self._fetch(connection, webinar_id, (connection,), policy)
            except ZoomError as error:
                refusal = lookup_refusal(error, webinar_id)
                if refusal is not None:
                    return refusal
                raise zoom_failure(error, jitter=policy) from error

    async def registration_questions(
        self, connection: str, webinar_id: str, policy: StepRetry
    ) -> RegistrationQuestions | Refusal:
        """R-ADD-5's pre-flight of the questions endpoint (cached)."""
        cached = self._forms.get((connection, webinar_id))
        if cached is not None:
            return cached
        async with heartbeating():
            try:
                questions = await self._client(connection).get_registration_questions(webinar_id)
            except ZoomError as error:
                refusal = lookup_refusal(error, webinar_id)
                if refusal is not None:
                    return refusal
                raise zoom_failure(error, jitter=policy) from error
        self._forms.put((connection, webinar_id), questions)
        return questions

    async def add_registrant(
        self, connection: str, webinar_id: str, contact: ContactIdentity, policy: StepRetry
    ) -> RegistrantCreated | Refusal:
        """R-ADD-1: first name, last name and primary e-mail, nothing else."""
        registrant = NewRegistrant(
            email=contact.email, first_name=(contact.first_name or "").strip(), last_name=contact.last_name or ""
        )
        async with heartbeating():
            try:
                return await self._client(connection).add_registrant(webinar_id, registrant)
            except ZoomError as error:
                refusal = registration_refusal(error, webinar_id)
                if refusal is not None:
                    return refusal
                raise zoom_failure(error, jitter=policy) from error

    # --- the store ------------------------------------------------------------------------------------

    def read_store_view(self, webinar_id: str, contact_id: int | None) -> StoreView:
        with Session(read_only(self._engine)) as session:
            return store_view(session, webinar_id, contact_id)

    def read_contact(self, contact_id: int) -> ContactIdentity | None:
        with Session(read_only(self._engine)) as session:
            return contact_identity(session, contact_id)

    async def read_contact_for_zoom(self, contact_id: int) -> ContactIdentity:
        """The three fields R-ADD-1 sends; a deleted contact fails the activity (not retried)."""
        contact = await asyncio.to_thread(self.read_contact, contact_id)
        if contact is None:
            raise contact_gone(contact_id)
        return contact

    @staticmethod
    def business_unit_of(webinar: WebinarFacts) -> int:
        """The business unit the registration is recorded in (R-ADD-3 passed, so there is one)."""
        if webinar.business_unit_id is None:
            raise ApplicationError(
                f"webinar {webinar.webinar_id} has no business unit to record it in",
                type=FailureType.NO_BUSINESS_UNIT,
                non_retryable=True,
            )
        return webinar.business_unit_id

    def write(
        self,
        registration: ActionRegistration,
        then: Callable[[Session, RecordedRegistration], None] | None = None,
    ) -> RecordedRegistration:
        """R-ADD-7 in one transaction (and ``then``, which writes in a savepoint of it). A deleted
        contact or a row the database refuses is a permanent failure (a non-retryable
        ``ApplicationError``); other errors may pass."""
        try:
            with Session(self._engine) as session, session.begin():
                recorded = record_action_registration(session, registration)
                failpoint("zoom_registration.before_commit")
                if then is not None:
                    then(session, recorded)
                return recorded
        except FailpointError as exc:
            raise ApplicationError(str(exc), type=FailureType.FAILPOINT, non_retryable=exc.permanent) from exc
        except ContactNotFound as exc:
            raise contact_gone(registration.contact_id) from exc
        except (IntegrityError, DataError) as exc:
            raise ApplicationError(
                f"the CRM store refused the registration: {_first_line(exc)}",
                type=FailureType.STORE_REJECTED,
                non_retryable=True,
            ) from exc

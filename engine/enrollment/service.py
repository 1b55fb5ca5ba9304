"""Enrolling contacts: the checks (store), the start (Temporal), bulk, unenroll, and reads.

The decision is taken in the store, in one transaction (``engine.enrollment.admission``): the
contact is upserted (tombstones and exclusions respected), the rules are checked (enabled,
trigger, re-enrollment, suppression, criteria, goal), and an ``active`` enrollment row is
inserted under the partial unique index that forbids two active enrollments of one contact in
one workflow. Only then is the workflow started, with id ``enroll:{key}:{contact_id}``. A
duplicate request finds the active row and answers with the running enrollment; a crash between
the commit and the start is repaired by the next request for the same contact (it starts the
missing run), or else by the enrollment repair within minutes (``engine.enrollment.repair``).

Admissions are committed in groups: requests that arrive while a transaction is running are
decided together in the next one (``_GroupAdmitter``), and a bulk request's contacts go in
batches of ``ADMISSION_BATCH``. A transaction and its statements cost the same for one contact
or hundreds, so this is what lets one API process accept hundreds of enrollments per second
(bench/enroll.py); a request alone waits for no one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import structlog
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

from engine.crm.enrollments import find_enrollment, finish_enrollment, get_definition, get_enrollment, step_history
from engine.crm.errors import EnrollmentNotFound
from engine.crm.sqlite_transactions import read_only
from engine.crm.tables import Enrollment, EnrollmentStatus, EnrollmentStepOutcome
from engine.dsl import Definition
from engine.enrollment.admission import Admission, ContactIn, Outcome, admit, admit_many
from engine.enrollment.contracts import WORKFLOW_TYPE, EnrollmentInput, EnrollmentProgress, ExitReason
from engine.enrollment.errors import ALREADY_ENROLLED, EnrollmentRefused, NotEnrolled, TemporalUnavailable
from engine.errors import RollcallError
from engine.failpoints import failpoint
from engine.metrics import ENROLLMENTS_ADMITTED, ENROLLMENTS_REFUSED
from engine.temporal import RunKind, SearchAttribute, TaskQueue

log = structlog.get_logger("rollcall.enrollment")

MAX_BULK_ITEMS = 10_000
#: Contacts decided in one transaction at most.
ADMISSION_BATCH = 500


class EnrollResult(StrEnum):
    """What a request did for one contact — the same words in single and bulk answers, the CLI
    and the README. ``enrolled``: a new enrollment was admitted and its run started."""

    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already_enrolled"
    REFUSED = "refused"
    ERROR = "error"


@dataclass
class EnrollmentStarted:
    enrollment_id: int
    contact_id: int
    workflow_id: str
    run_id: str | None
    version: int
    created: bool
    status: str = EnrollmentStatus.ACTIVE

    @property
    def result(self) -> EnrollResult:
        return EnrollResult.ENROLLED if self.created else EnrollResult.ALREADY_ENROLLED


@dataclass
class BulkItemResult:
    index: int
    status: EnrollResult
    contact_id: int | None = None
    enrollment_id: int | None = None
    workflow_id: str | None = None
    code: str | None = None
    message: str | None = None
    #: A refusal's reason where single enrollments give one (``CONTACT_EXCLUDED``: invalid_email, …).
    reason: str | None = None
    #: The refusal's or error's details, as a single enrollment's error carries them.
    details: dict[str, Any] | None = None


@dataclass
class EnrollmentView:
    enrollment: Enrollment
    history: list[EnrollmentStepOutcome]
    progress: EnrollmentProgress | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- the start in Temporal ----------------------------------------------------------------------

#: How an enrollment whose run ended outside the interpreter (terminated in the Web UI, timed out)
#: is closed in the store: (status, ended reason). The interpreter closes every other way itself.
ENDED_OUTSIDE: dict[RunStatus, tuple[EnrollmentStatus, str]] = {
    RunStatus.TERMINATED: (EnrollmentStatus.FAILED, "run_terminated"),
    RunStatus.TIMED_OUT: (EnrollmentStatus.FAILED, "run_timed_out"),
    RunStatus.FAILED: (EnrollmentStatus.FAILED, "run_failed"),
    RunStatus.CANCELED: (EnrollmentStatus.CANCELLED, "run_canceled"),
}


class RunEnded(Exception):
    """An admitted enrollment's own run has already ended; the store has been told (when it
    ended outside the interpreter), so deciding again gives the right answer."""


def close_ended_outside(engine: Engine, enrollment_id: int, workflow_id: str, run_id: str, status: RunStatus) -> bool:
    """Close the active enrollment of a run that ended outside the interpreter, with the run's
    id; False when there is nothing to close (not such an end, or no longer active)."""
    outcome = ENDED_OUTSIDE.get(status)
    if outcome is None:
        return False
    with Session(engine) as session:
        try:
            enrollment = get_enrollment(session, enrollment_id)
        except EnrollmentNotFound:
            return False
        if enrollment.status != EnrollmentStatus.ACTIVE or enrollment.workflow_id != workflow_id:
            return False
        finish_enrollment(session, enrollment_id, outcome[0], outcome[1], run_id=run_id)
        session.commit()
    log.warning(
        "closed an enrollment whose run ended outside the interpreter",
        enrollment_id=enrollment_id,
        workflow_id=workflow_id,
        run_id=run_id,
        reason=outcome[1],
    )
    return True


def search_attributes(definition: Definition, version: int, contact_id: int, trigger: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttribute.WORKFLOW_KEY, definition.key),
            SearchAttributePair(SearchAttribute.DEFINITION_VERSION, version),
            SearchAttributePair(SearchAttribute.CONTACT_ID, str(contact_id)),
            SearchAttributePair(SearchAttribute.BUSINESS_UNIT, definition.business_unit),
            SearchAttributePair(SearchAttribute.STATUS, EnrollmentStatus.ACTIVE.value),
            SearchAttributePair(SearchAttribute.TRIGGER, trigger),
            SearchAttributePair(SearchAttribute.KIND, RunKind.ENROLLMENT.value),
        ]
    )


@dataclass
class _Ticket:
    key: str
    contact: ContactIn
    trigger: str
    future: asyncio.Future[Admission]


class _GroupAdmitter:
    """Group commit of admissions: one transaction at a time per process, deciding every request
    that arrived while the previous one ran (``admit_many``), in a thread so the event loop goes on.

    One transaction per (workflow, trigger) group; if one fails unexpectedly (say, a database
    error caused by one contact's row), its contacts are decided again one by one, so a bad row
    fails only its own request.
    """

    def __init__(self, engine: Engine, max_batch: int = ADMISSION_BATCH) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[_Ticket] = []
        self._drainer: asyncio.Task[None] | None = None

    async def admit(self, key: str, contact: ContactIn, trigger: str) -> Admission:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a test's): nothing of the old one carries over
            self._loop, self._queue, self._drainer = loop, [], None
        ticket = _Ticket(key, contact, trigger, loop.create_future())
        self._queue.append(ticket)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain(), name="rollcall-admissions")
        return await ticket.future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [t for t in self._queue[: self._max_batch] if not t.future.done()]
                del self._queue[: self._max_batch]
                if not batch:
                    continue
                try:
                    outcomes = await asyncio.to_thread(self._decide, [(t.key, t.contact, t.trigger) for t in batch])
                except Exception as exc:  # the database is unreachable, say: every request learns it
                    outcomes = [exc] * len(batch)
                for ticket, outcome in zip(batch, outcomes, strict=True):
                    if ticket.future.done():  # its request was cancelled (client gone)
                        continue
                    if isinstance(outcome, BaseException):
                        ticket.future.set_exception(outcome)
                    else:
                        ticket.future.set_result(outcome)
        finally:
            self._drainer = None

    def _decide(self, items: list[tuple[str, ContactIn, str]]) -> list[Outcome | Exception]:
        groups: dict[tuple[str, str], list[int]] = {}
        for index, (key, _contact, trigger) in enumerate(items):
            groups.setdefault((key, trigger), []).append(index)
        outcomes: list[Outcome | Exception] = [RuntimeError("not decided")] * len(items)
        for (key, trigger), indices in groups.items():
            contacts = [items[i][1] for i in indices]
            decided: Sequence[Outcome | Exception]
            try:
                decided = self.decide(key, contacts, trigger)
            except RollcallError as exc:  # the workflow refuses them all (missing, disabled, trigger)
                decided = [exc] * len(indices)
            except Exception as exc:
                if len(indices) == 1:
                    decided = [exc]  # this request's own failure; other groups keep their outcomes
                else:
                    log.warning("a batch of admissions failed; deciding them one by one", key=key, size=len(indices))
                    decided = [self._decide_alone(key, contact, trigger) for contact in contacts]
            for index, outcome in zip(indices, decided, strict=True):
                outcomes[index] = outcome
        return outcomes

    def decide(self, key: str, contacts: Sequence[ContactIn], trigger: str) -> list[Outcome]:
        """``admit_many`` in a transaction of its own."""
        with Session(self._engine, expire_on_commit=False) as session:
            decided = admit_many(session, key, contacts, trigger)
            session.commit()
            return decided

    def _decide_alone(self, key: str, contact: ContactIn, trigger: str) -> Outcome | Exception:
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                admission = admit(session, key, contact, trigger)
                session.commit()
                return admission
        except Exception as exc:
            return exc


def start_arguments(admission: Admission, task_queue: str) -> tuple[EnrollmentInput, dict[str, Any]]:
    """The input and the options of an enrollment's ``start_workflow`` (bench/enroll.py's
    baseline sends exactly these): id, search attributes (ids only), memo, summaries."""
    enrollment = admission.enrollment
    assert enrollment.id is not None
    payload = EnrollmentInput(
        enrollment_id=enrollment.id,
        contact_id=admission.contact_id,
        version=admission.version,
        definition_hash=admission.definition_hash,
        trigger=enrollment.trigger,
        definition=admission.definition,
        enrolled_at=enrollment.created_at,
    )
    options: dict[str, Any] = {
        "id": enrollment.workflow_id,
        "task_queue": task_queue,
        "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        "id_conflict_policy": WorkflowIDConflictPolicy.FAIL,
        "search_attributes": search_attributes(
            admission.definition, admission.version, admission.contact_id, enrollment.trigger
        ),
        "memo": {"enrollment_id": enrollment.id},
        "static_summary": admission.summary,
        "static_details": f"enrollment {enrollment.id} of contact {admission.contact_id} "
        f"in {admission.definition.key} v{admission.version} (trigger: {enrollment.trigger})",
    }
    return payload, options


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
        self._admitter = _GroupAdmitter(db_engine)

    @property
    def engine(self) -> Engine:
        """The CRM store's engine."""
        return self._engine

    @property
    def task_queue(self) -> str:
        """Where enrollment runs are started."""
        return self._task_queue

    async def client(self) -> Client:
        if isinstance(self._client, Client):
            return self._client
        client = self._client()
        if asyncio.iscoroutine(client):
            client = await client
        assert isinstance(client, Client)
        return client

    async def enroll(self, key: str, contact: ContactIn, trigger: str = "api") -> EnrollmentStarted:
        try:
            started = await self._enroll(key, contact, trigger)
        except RollcallError as exc:
            _count(key, EnrollResult.ERROR, exc.code)
            raise
        except Exception:
            _count(key, EnrollResult.ERROR, "INTERNAL_ERROR")
            raise
        _count(key, started.result, None)
        return started

    async def _enroll(self, key: str, contact: ContactIn, trigger: str) -> EnrollmentStarted:
        for _attempt in range(3):
            admission = await self._admitter.admit(key, contact, trigger)
            failpoint("enrollment.after_admission")
            try:
                return await self.start_admitted(admission)
            except RunEnded:
                continue  # the store now says how it ended: decide again
        raise TemporalUnavailable(f"the enrollment of this contact in {key!r} keeps ending as it is requested; retry")

    async def start_admitted(self, admission: Admission) -> EnrollmentStarted:
        """Start the run of an admitted enrollment; a run of this enrollment already there is its
        answer (so a request, a retry and the enrollment repair may all call this safely)."""
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
        if not admission.created:
            # Already admitted: its run may be there (a duplicate request), missing (its start was
            # lost), or ended without closing it (terminated, timed out): never run it twice.
            try:
                description = await client.get_workflow_handle(workflow_id).describe()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise TemporalUnavailable(f"cannot reach the enrollment workflow: {exc.message}") from None
                description = None
            if description is not None and await description.memo_value("enrollment_id", None) == enrollment.id:
                if description.status == RunStatus.RUNNING:
                    started.run_id = description.run_id
                    return started
                if description.status is not None:
                    await asyncio.to_thread(
                        close_ended_outside,
                        self._engine,
                        enrollment.id,
                        workflow_id,
                        description.run_id,
                        description.status,
                    )
                raise RunEnded(f"the run of enrollment {enrollment.id} has ended ({description.status})")
        payload, options = start_arguments(admission, self._task_queue)
        for _attempt in range(20):
            try:
                handle: WorkflowHandle[Any, Any] = await client.start_workflow(WORKFLOW_TYPE, payload, **options)
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
        """Enroll each contact; one result per item, in order.

        Contacts are decided in batches of ``ADMISSION_BATCH`` (one transaction each) and their
        workflows started with at most ``concurrency`` starts in flight; the next batch is decided
        while the previous one starts, and no more than two batches wait for their starts.
        """
        bulk = _Bulk(key, contacts, trigger, on_result, asyncio.Semaphore(self._concurrency))
        waiting: list[list[asyncio.Task[None]]] = []
        try:
            for first in range(0, len(contacts), ADMISSION_BATCH):
                waiting.append(await self._admit_batch(bulk, first))
                if len(waiting) > 2:
                    await asyncio.gather(*waiting.pop(0))
            for tasks in waiting:
                await asyncio.gather(*tasks)
        except BaseException:
            for tasks in waiting:
                for task in tasks:
                    task.cancel()
            raise
        return bulk.results()

    async def _admit_batch(self, bulk: _Bulk, first: int) -> list[asyncio.Task[None]]:
        """Admit the batch of ``bulk``'s contacts from ``first`` on; the starts of their runs, as tasks."""
        chunk = bulk.contacts[first : first + ADMISSION_BATCH]
        admitted = await asyncio.gather(
            *(self._admitter.admit(bulk.key, contact, bulk.trigger) for contact in chunk), return_exceptions=True
        )
        failpoint("enrollment.after_admission")  # committed, no run started yet
        starts = []
        for offset, outcome in enumerate(admitted):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                bulk.done(_failed(bulk.key, first + offset, outcome))
            else:
                starts.append(asyncio.create_task(self._start_item(bulk, first + offset, outcome)))
        return starts

    async def _start_item(self, bulk: _Bulk, index: int, admission: Admission) -> None:
        """Start the run of item ``index`` (at most ``concurrency`` at once) and report its result."""
        async with bulk.limit:
            try:
                try:
                    started = await self.start_admitted(admission)
                except RunEnded:
                    started = await self._enroll(bulk.key, bulk.contacts[index], bulk.trigger)
            except Exception as exc:
                bulk.done(_failed(bulk.key, index, exc))
                return
        bulk.done(
            BulkItemResult(
                index,
                started.result,
                contact_id=started.contact_id,
                enrollment_id=started.enrollment_id,
                workflow_id=started.workflow_id,
                code=None if started.created else ALREADY_ENROLLED,
            )
        )

    # --- unenroll and reads ---------------------------------------------------------------------

    async def unenroll(self, key: str, contact_id: int, *, wait: float = 10.0) -> EnrollmentView:
        """End the contact's active enrollment at once (even mid-delay); it records "unenrolled"."""

        def read() -> Enrollment:
            with Session(read_only(self._engine), expire_on_commit=False) as session:
                get_definition(session, key)
                return find_enrollment(session, key, contact_id)

        # The store in a thread, never in the event loop: a writer waiting there for SQLite's
        # write lock would stop the loop that the lock's holder may need to finish.
        enrollment = await asyncio.to_thread(read)
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
            await asyncio.to_thread(self._close_unenrolled, enrollment.id)
        assert enrollment.id is not None
        return await self.view_by_id(enrollment.id)

    def _close_unenrolled(self, enrollment_id: int) -> None:
        with Session(self._engine) as session:
            finish_enrollment(session, enrollment_id, EnrollmentStatus.CANCELLED, ExitReason.UNENROLLED)
            session.commit()

    async def view(self, key: str, contact_id: int) -> EnrollmentView:
        def read() -> int:
            with Session(read_only(self._engine)) as session:
                get_definition(session, key)
                found = find_enrollment(session, key, contact_id)
                assert found.id is not None
                return found.id

        return await self.view_by_id(await asyncio.to_thread(read))

    async def view_by_id(self, enrollment_id: int) -> EnrollmentView:
        def read() -> EnrollmentView:
            with Session(read_only(self._engine), expire_on_commit=False) as session:
                enrollment = session.get(Enrollment, enrollment_id)
                if enrollment is None:
                    raise EnrollmentNotFound(f"no enrollment {enrollment_id}")
                return EnrollmentView(enrollment, step_history(session, enrollment_id))

        # The run's progress first, then the store: a step's activity commits its outcome before
        # the run moves past it, so every step the progress has passed is in the history read
        # after it. (Read the other way round, a query answered after a workflow task that ran
        # several local activities could report a step whose outcome the earlier read missed.)
        progress = None
        current = await asyncio.to_thread(self._enrollment, enrollment_id)
        if current.status == EnrollmentStatus.ACTIVE:
            progress = await self._progress(current)
        view = await asyncio.to_thread(read)
        if view.enrollment.status == EnrollmentStatus.ACTIVE:
            view.progress = progress
        return view

    def _enrollment(self, enrollment_id: int) -> Enrollment:
        with Session(read_only(self._engine), expire_on_commit=False) as session:
            enrollment = session.get(Enrollment, enrollment_id)
            if enrollment is None:
                raise EnrollmentNotFound(f"no enrollment {enrollment_id}")
            return enrollment

    async def _progress(self, enrollment: Enrollment) -> EnrollmentProgress | None:
        try:
            client = await self.client()
            handle = client.get_workflow_handle(enrollment.workflow_id)
            return await asyncio.wait_for(handle.query("progress", result_type=EnrollmentProgress), timeout=3)
        except Exception:  # progress is a nicety; the store has the history
            return None


@dataclass
class _Bulk:
    """One ``enroll_many`` request: its items, and their results as they come."""

    key: str
    contacts: Sequence[ContactIn]
    trigger: str
    on_result: Callable[[BulkItemResult], None] | None
    #: Starts in flight at most.
    limit: asyncio.Semaphore
    found: list[BulkItemResult | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.found = [None] * len(self.contacts)

    def done(self, result: BulkItemResult) -> None:
        self.found[result.index] = result
        _count(self.key, result.status, result.code)
        if self.on_result is not None:
            self.on_result(result)

    def results(self) -> list[BulkItemResult]:
        assert all(result is not None for result in self.found)
        return [result for result in self.found if result is not None]


def _count(key: str, result: EnrollResult, code: str | None) -> None:
    """#17.1: admitted (enrolled, already enrolled) or refused (with its code) by workflow key; a
    key no workflow has is not a label (anyone can send one)."""
    if result in (EnrollResult.ENROLLED, EnrollResult.ALREADY_ENROLLED):
        ENROLLMENTS_ADMITTED.labels(key, result.value).inc()
        return
    code = code or "INTERNAL_ERROR"
    ENROLLMENTS_REFUSED.labels("(unknown)" if code == "WORKFLOW_NOT_FOUND" else key, code).inc()


def _failed(key: str, index: int, exc: BaseException) -> BulkItemResult:
    """A bulk item's refusal or error, with the code, message, reason and details a single
    enrollment's error answer carries (#13.13)."""
    if isinstance(exc, RollcallError):
        details = exc.details if isinstance(exc.details, dict) else None
        reason = details.get("reason") if details else None
        contact_id = details.get("contact_id") if details else None
        return BulkItemResult(
            index,
            EnrollResult.REFUSED if isinstance(exc, EnrollmentRefused) else EnrollResult.ERROR,
            contact_id=contact_id if isinstance(contact_id, int) and isinstance(exc, EnrollmentRefused) else None,
            code=exc.code,
            message=exc.message,
            reason=reason if isinstance(reason, str) else None,
            details=details,
        )
    # One item's unexpected failure must not fail the others (some already started).
    log.error("enrollment of one bulk item failed", key=key, index=index, error=repr(exc))
    return BulkItemResult(index, EnrollResult.ERROR, code="INTERNAL_ERROR", message=type(exc).__name__)


__all__ = [
    "MAX_BULK_ITEMS",
    "Admission",
    "BulkItemResult",
    "ContactIn",
    "EnrollResult",
    "EnrollmentService",
    "EnrollmentStarted",
    "EnrollmentView",
    "admit",
    "admit_many",
    "search_attributes",
    "start_arguments",
]

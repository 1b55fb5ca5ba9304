"""Activities of the per-webinar sync saga (``workflows/webinar_sync.py``).

Idempotency keys: the audit entry by run key (workflow id + run id); contacts by primary email;
the marketing event by Zoom webinar id; participations by (event, contact); sessions by (event,
contact, join time); timeline events by their ``timeline_key``; recordings by Zoom file id;
enrollments by the store's one-active-enrollment guard. A retried activity therefore rewrites
the same rows, and a chunk resumes from its heartbeated cursor (phase, page token).

Participant lists never leave these activities: each chunk pages Zoom, writes page by page in
one transaction each (rows + rollups together) and returns counts and a cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from activities.failures import zoom_config_failure, zoom_failure
from engine.crm.db import prefer_generic_plans
from engine.crm.enrollments import list_definitions
from engine.crm.participations import MarketingEventUpsert, RecordingUpsert, upsert_marketing_events
from engine.crm.segments import Condition, EventFilter, EventKind, Operator, search_contacts
from engine.crm.sqlite_transactions import polite
from engine.crm.statistics import StatisticsKeeper
from engine.crm.sync_settings import get_sync_settings
from engine.crm.tables import (
    AuditWarningCode,
    BusinessUnit,
    SyncStatus,
    TranscriptStatus,
    ZoomConnection,
    table_of,
)
from engine.crm.transcripts import TranscriptWrite, store_transcript, transcripts_to_fetch
from engine.crm.webhook_events import recording_download_token
from engine.dsl.models import EventTrigger
from engine.enrollment.definitions import load_revision
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.failpoints import failpoint
from engine.sync.audit_run import add_warning, close_run, open_run, record_page
from engine.sync.contracts import (
    FinishInput,
    FinishResult,
    Listing,
    RecordingCheck,
    RecordingResult,
    RecordingState,
    SyncPlan,
    SyncRequest,
)
from engine.sync.decide import SkipKind, SkipReason, decision_for
from engine.sync.recordings import OccurrenceFiles, no_recording_grace, recording_outcome
from engine.sync.transcripts import MAX_TRANSCRIPT_BYTES, read_transcript
from engine.sync.writer import PageResult, write_recordings, write_registrants, write_sessions
from engine.zoom.client import Page, ZoomClient
from engine.zoom.errors import (
    ZoomDownloadTooLarge,
    ZoomError,
    ZoomNoRecording,
    ZoomNotFound,
    ZoomPageTokenExpired,
)
from engine.zoom.models import PastInstance, Recording, RegistrantStatus, Webinar
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConfigError

T = TypeVar("T")

#: Registrants of every status (R-SYNC-1); Zoom lists approved ones only unless asked.
REGISTRANT_STATUSES = (RegistrantStatus.APPROVED, RegistrantStatus.PENDING, RegistrantStatus.DENIED)
_VIDEO_TYPES = {"MP4", "M4A"}
_TRANSCRIPT = "TRANSCRIPT"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CONNECTIONS = table_of(ZoomConnection)


class ChunkInput(BaseModel):
    plan: SyncPlan
    phase: int = 0
    token: str | None = None
    max_pages: int = 10
    #: What this pass over the listing counted before this chunk, by phase.
    listing: Listing = Field(default_factory=Listing)


class ChunkResult(BaseModel):
    phase: int
    token: str | None
    done: bool
    counts: dict[str, int]
    total: int | None = None
    listing: Listing | None = None
    #: The audit entry's counts after the chunk's last page (the store's, exact).
    run_counts: dict[str, int] | None = None


def _end_of(start: datetime | None, duration_minutes: int | None) -> datetime | None:
    """A webinar's (or an occurrence's) scheduled end."""
    return start + timedelta(minutes=duration_minutes) if start and duration_minutes else None


def _add(counts: dict[str, int], page: PageResult, prefix: str) -> None:
    for name, value in (
        (f"{prefix}_rows", page.rows),
        (f"{prefix}_written", page.written),
        ("contacts_created", page.contacts_created),
        ("contacts_matched", page.contacts_matched),
        ("timeline_events", page.timeline_events),
        ("guests_without_email", page.guests_without_email),
        ("emails_excluded", len(page.excluded)),
    ):
        if value:
            counts[name] = counts.get(name, 0) + value


@dataclass(frozen=True)
class _ZoomFacts:
    """What ``plan_sync`` reads from Zoom: the webinar, its host's email, its ended instances."""

    webinar: Webinar
    host_email: str | None
    instances: list[PastInstance]


@dataclass(frozen=True)
class _PagedListing(Generic[T]):
    """A paged Zoom listing of ``phases`` parts (registrant statuses, or occurrences): its pages
    from a token, how one page is written, and the prefix of its counts."""

    phases: int
    pages_of: Callable[[int, str | None], AsyncIterator[Page[T]]]
    write: Callable[[Session, int, list[T]], PageResult]
    prefix: str


@dataclass
class _Cursor:
    """Where a chunk is: the phase and page token to read next, what it added (``counts``), the
    pass's counts by phase (``listing``), and what its last page said."""

    phase: int
    token: str | None
    counts: dict[str, int]
    listing: Listing
    pages: int = 0
    total: int | None = None
    run_counts: dict[str, int] | None = None

    @classmethod
    def resumed(cls, request: ChunkInput) -> _Cursor:
        """The chunk's start, or where an earlier attempt of it last heartbeated."""
        details = activity.info().heartbeat_details
        if not details:
            return cls(request.phase, request.token, {}, request.listing)
        listing = Listing.model_validate(details[3]) if len(details) > 3 else request.listing
        return cls(details[0], details[1], dict(details[2]), listing)

    def heartbeat(self) -> None:
        activity.heartbeat(self.phase, self.token, self.counts, self.listing.model_dump())

    def result(self, *, done: bool) -> ChunkResult:
        return ChunkResult(
            phase=self.phase,
            token=self.token,
            done=done,
            counts=self.counts,
            total=self.total,
            listing=self.listing,
            run_counts=self.run_counts,
        )


async def _read_ahead(pages: AsyncIterator[T], limit: int) -> AsyncGenerator[T, None]:
    """At most ``limit`` of ``pages``, the next one asked of Zoom while the caller writes the one it
    has (Zoom and the store work at the same time, #16.4): no page is asked for beyond ``limit``,
    and one still coming when the caller stops early is cancelled (close this with ``aclosing``)."""
    if limit <= 0:
        return
    coming: asyncio.Future[T] | None = asyncio.ensure_future(anext(pages))
    taken = 0
    try:
        while coming is not None:
            try:
                page = await coming
            except StopAsyncIteration:
                coming = None
                return
            taken += 1
            coming = asyncio.ensure_future(anext(pages)) if taken < limit else None
            yield page
    finally:
        if coming is not None:
            # Not awaited: whatever it ends with (the listing's end, an error, the cancellation) is
            # read here, so nothing is reported as never retrieved.
            coming.cancel()
            coming.add_done_callback(lambda done: done.cancelled() or done.exception())


class WebinarSyncActivities:
    def __init__(self, db_engine: Engine, pool: ZoomClientPool, *, enrollments: EnrollmentService) -> None:
        self._engine = db_engine
        #: PostgreSQL's statistics refreshed as a webinar's rows are written (#16.3).
        self._statistics = StatisticsKeeper(db_engine)
        self._pool = pool
        #: The worker's (``build_worker``): event-triggered enrollments (``publish_events``).
        self._enrollments = enrollments

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.plan_sync,
            self.sync_registrants,
            self.sync_attendees,
            self.sync_recordings,
            self.finish_sync,
            self.publish_events,
        ]

    def _client(self, connection: str) -> ZoomClient:
        try:
            return self._pool.client(connection)
        except ZoomConfigError as error:
            raise zoom_config_failure(error) from None

    # --- 1–2: decide, webinar, connection and BU, marketing event -----------------------------

    @activity.defn
    async def plan_sync(self, request: SyncRequest) -> SyncPlan:
        info = activity.info()
        plan = SyncPlan(
            run_key=f"{info.workflow_id}:{info.workflow_run_id}",
            webinar_id=request.webinar_id,
            connection=request.connection,
            trigger=request.trigger,
            started_at=datetime.now(UTC),
        )
        facts = await self._zoom_facts(self._client(request.connection), request.webinar_id)
        if facts is None:
            await asyncio.to_thread(
                self._skip, plan, SkipReason(SkipKind.NOT_SYNCED, "the webinar was not found in Zoom (deleted?)")
            )
            return plan
        webinar = facts.webinar
        plan.topic = webinar.topic
        plan.duration_minutes = webinar.duration
        plan.instance_uuids = [instance.uuid for instance in facts.instances]
        plan.instance_ends = [_end_of(instance.start_time, webinar.duration) for instance in facts.instances]
        plan.ended = bool(facts.instances)
        return await asyncio.to_thread(self._store_plan, plan, facts)

    async def _zoom_facts(self, client: ZoomClient, webinar_id: str) -> _ZoomFacts | None:
        """The webinar, its host's email and its ended instances (oldest first); None when Zoom
        does not know the webinar."""
        try:
            webinar = await client.get_webinar(webinar_id)
        except ZoomNotFound:
            return None
        except ZoomError as error:
            raise zoom_failure(error) from None
        host_email = webinar.host_email
        if not host_email and webinar.host_id:
            try:
                host_email = (await client.get_user(webinar.host_id)).email
            except ZoomNotFound:
                host_email = None
            except ZoomError as error:
                raise zoom_failure(error) from None
        instances: list[PastInstance] = []
        try:
            instances = await client.list_past_instances(webinar_id)
        except ZoomNotFound:
            instances = []  # not started or not ended yet
        except ZoomError as error:
            raise zoom_failure(error) from None
        instances.sort(key=lambda instance: (instance.start_time is None, instance.start_time or _EPOCH))
        return _ZoomFacts(webinar, host_email, instances)

    def _store_plan(self, plan: SyncPlan, facts: _ZoomFacts) -> SyncPlan:
        """The connection and its business unit, the settings' decision (R-SET), the audit entry and
        the marketing event, in one transaction; a webinar not to sync gets its entry's reason."""
        with Session(self._engine) as session:
            connection = session.scalars(sa.select(ZoomConnection).where(CONNECTIONS.c.name == plan.connection)).first()
            if connection is None or connection.id is None:
                missing = f"no connection named {plan.connection!r} in the store"
                self._skip_in(
                    session, plan, SkipReason(SkipKind.ERROR, f"connected Zoom account data not found: {missing}")
                )
                session.commit()
                return plan
            plan.business_unit_id = connection.business_unit_id
            unit = session.get(BusinessUnit, connection.business_unit_id)
            plan.business_unit = unit.name if unit else None
            decision = decision_for(
                session,
                connection.id,
                webinar_id=plan.webinar_id,
                host_id=facts.webinar.host_id,
                host_email=facts.host_email,
                is_zoom_event=facts.webinar.is_zoom_event,
            )
            self._open(session, plan)
            if not decision.sync:
                assert decision.reason is not None
                self._skip_in(session, plan, decision.reason)
                session.commit()
                return plan
            plan.sync = True
            plan.recordings = decision.recordings
            if not decision.recordings and plan.ended:
                add_warning(
                    session,
                    plan.run_key,
                    AuditWarningCode.RECORDING_NOT_SYNCED,
                    f"recordings and transcripts were not synced: {decision.recording_reason}",
                )
            plan.marketing_event_id = self._store_event(session, plan, connection, facts)
            session.commit()
            failpoint("webinar_sync.plan.after_commit")  # crash tests: plan stored, not returned
            return plan

    @staticmethod
    def _open(session: Session, plan: SyncPlan) -> None:
        """The run's audit entry (made once: a retried activity finds it)."""
        open_run(
            session,
            run_key=plan.run_key,
            webinar_id=plan.webinar_id,
            trigger=plan.trigger,
            started_at=plan.started_at,
            business_unit_id=plan.business_unit_id,
        )

    @staticmethod
    def _store_event(session: Session, plan: SyncPlan, connection: ZoomConnection, facts: _ZoomFacts) -> int:
        """The webinar's marketing event (R-SYNC-2), created or brought up to date; its id."""
        assert connection.id is not None
        webinar = facts.webinar
        event = MarketingEventUpsert(
            zoom_webinar_id=plan.webinar_id,
            business_unit_id=connection.business_unit_id,
            connection_id=connection.id,
            topic=webinar.topic,
            start_time=webinar.start_time,
            end_time=_end_of(webinar.start_time, webinar.duration),
            duration_minutes=webinar.duration,
            host_email=facts.host_email,
            join_url=webinar.join_url,
            is_zoom_event=webinar.is_zoom_event,
        )
        return upsert_marketing_events(session, [event])[plan.webinar_id]

    def _skip(self, plan: SyncPlan, reason: SkipReason) -> None:
        with Session(self._engine) as session:
            self._skip_in(session, plan, reason)
            session.commit()

    @classmethod
    def _skip_in(cls, session: Session, plan: SyncPlan, reason: SkipReason) -> None:
        """A webinar not to sync: the entry says which setting or rule stopped it (R-AUD-1, R-AUD-4)."""
        cls._open(session, plan)
        not_created = [{"record": "marketing_event"}, {"record": "contacts"}, {"record": "recordings"}]
        if reason.kind == SkipKind.ERROR:
            add_warning(session, plan.run_key, AuditWarningCode.SYNC_ERROR, reason.text)
        elif reason.kind == SkipKind.SETTING_OFF:
            add_warning(session, plan.run_key, AuditWarningCode.SYNC_SETTING_OFF, reason.text)
            add_warning(
                session,
                plan.run_key,
                AuditWarningCode.WEBINAR_DATA_NOT_SYNCED,
                "webinar data was not synced because a sync setting is off",
                not_created,
            )
        else:
            add_warning(session, plan.run_key, AuditWarningCode.WEBINAR_DATA_NOT_SYNCED, reason.text, not_created)

    # --- 3: registrants -----------------------------------------------------------------------

    async def _chunk(self, request: ChunkInput, listing: _PagedListing[T]) -> ChunkResult:
        """Up to ``max_pages`` pages from the cursor, each written in its own transaction together
        with the audit entry's counts (``record_page``); the cursor and the pass's counts are
        heartbeated after every page so a retry resumes at the next one and counts it once."""
        cursor = _Cursor.resumed(request)
        while cursor.phase < listing.phases:
            try:
                if not await self._read_phase(request, listing, cursor):
                    return cursor.result(done=False)
            except ZoomPageTokenExpired:
                # Tokens live 15 minutes; start this listing again (every write is an upsert, and
                # the phase's counts start again too).
                cursor.token = None
                cursor.listing = cursor.listing.restarted(cursor.phase)
                continue
            except ZoomError as error:
                if error.retryable and cursor.pages > 0:
                    # Progress was made: hand the cursor back, so the next chunk starts afresh (attempt
                    # 1) instead of one long chunk piling up ever longer backoffs.
                    return cursor.result(done=False)
                raise zoom_failure(error) from None
            cursor.phase, cursor.token = cursor.phase + 1, None
            cursor.heartbeat()
        return cursor.result(done=True)

    async def _read_phase(self, request: ChunkInput, listing: _PagedListing[T], cursor: _Cursor) -> bool:
        """The cursor's phase from its page token, page by page (each committed, then heartbeated);
        False when the chunk has read its ``max_pages`` before the phase's end."""
        page_written = f"webinar_sync.{listing.prefix}.page_written"  # failpoint: committed, cursor not heartbeated
        # A phase entered with the chunk's pages all read still reads its first page, as it always did.
        limit = max(1, request.max_pages - cursor.pages)
        pages = _read_ahead(listing.pages_of(cursor.phase, cursor.token), limit)
        async with contextlib.aclosing(pages):
            async for page in pages:
                cursor.total = page.total_records
                result, cursor.listing, cursor.run_counts = await asyncio.to_thread(
                    self._commit_page, request.plan, listing, cursor.phase, page, cursor.listing
                )
                failpoint(page_written)
                _add(cursor.counts, result, listing.prefix)
                cursor.token = page.next_page_token or None
                cursor.pages += 1
                if cursor.token is None:
                    return True
                cursor.heartbeat()
                if cursor.pages >= request.max_pages:
                    return False
        return True

    def _commit_page(
        self, plan: SyncPlan, listing: _PagedListing[T], phase: int, page: Page[T], before: Listing
    ) -> tuple[PageResult, Listing, dict[str, int]]:
        """One page's rows, its exclusions and the audit entry's counts, in one transaction (polite
        on SQLite: the pages follow each other with no pause, other processes' writers go between;
        on PostgreSQL its statements are planned once, ``prefer_generic_plans``)."""
        with Session(polite(self._engine)) as session:
            prefer_generic_plans(session)
            result = listing.write(session, phase, page.items)
            self._excluded(session, plan, result)
            after = before.with_page(
                phase,
                rows=result.rows,
                written=result.written,
                guests=result.guests_without_email,
                total=page.total_records,
            )
            snapshot = record_page(
                session,
                plan.run_key,
                absolute=after.counts(listing.prefix),
                inserted={"timeline_events": result.timeline_events},
                contact_ids=result.contact_ids,
                created_ids=result.created_ids,
            )
            session.commit()
        self._statistics.wrote(plan.webinar_id, result.rows)
        return result, after, snapshot

    @activity.defn
    async def sync_registrants(self, request: ChunkInput) -> ChunkResult:
        plan = request.plan
        assert plan.marketing_event_id is not None and plan.business_unit_id is not None
        client = self._client(plan.connection)
        excluded_domains = await asyncio.to_thread(self._contact_exclusions)

        def pages(phase: int, token: str | None) -> AsyncIterator[Page[Any]]:
            return client.registrant_pages(plan.webinar_id, REGISTRANT_STATUSES[phase], start_token=token)

        def write(session: Session, _phase: int, items: list[Any]) -> PageResult:
            return write_registrants(
                session,
                marketing_event_id=plan.marketing_event_id or 0,
                zoom_webinar_id=plan.webinar_id,
                business_unit_id=plan.business_unit_id or 0,
                excluded_domains=excluded_domains,
                registrants=items,
                seen_at=datetime.now(UTC),
            )

        return await self._chunk(request, _PagedListing(len(REGISTRANT_STATUSES), pages, write, "registrants"))

    def _contact_exclusions(self) -> list[str]:
        with Session(self._engine) as session:
            return list(get_sync_settings(session).contact_exclusion_domains)

    @staticmethod
    def _excluded(session: Session, plan: SyncPlan, result: PageResult) -> None:
        if result.excluded:
            add_warning(
                session,
                plan.run_key,
                AuditWarningCode.EMAILS_EXCLUDED,
                "some emails were excluded (account users, excluded domains, invalid, secondary or deleted)",
                [{"email": email, "reason": reason} for email, reason in sorted(result.excluded.items())],
            )

    # --- 4–5: attendees -----------------------------------------------------------------------

    @activity.defn
    async def sync_attendees(self, request: ChunkInput) -> ChunkResult:
        """The participants report of every ended instance (one row per join session), each
        session stored with its occurrence (R-SYNC-3: attendance is computed per occurrence)."""
        plan = request.plan
        assert plan.marketing_event_id is not None and plan.business_unit_id is not None
        client = self._client(plan.connection)
        excluded_domains = await asyncio.to_thread(self._contact_exclusions)

        def pages(phase: int, token: str | None) -> AsyncIterator[Page[Any]]:
            return client.participant_report_pages(plan.instance_uuids[phase], start_token=token)

        def write(session: Session, phase: int, items: list[Any]) -> PageResult:
            return write_sessions(
                session,
                marketing_event_id=plan.marketing_event_id or 0,
                zoom_webinar_id=plan.webinar_id,
                business_unit_id=plan.business_unit_id or 0,
                excluded_domains=excluded_domains,
                rows=items,
                webinar_topic=plan.topic,
                occurrence=plan.instance_uuids[phase],
            )

        return await self._chunk(request, _PagedListing(len(plan.instance_uuids), pages, write, "attendees"))

    # --- 6: recordings and transcripts --------------------------------------------------------

    @activity.defn
    async def sync_recordings(self, plan: SyncPlan, check: RecordingCheck | None = None) -> RecordingResult:
        """Store, per occurrence, what is ready; say what is still coming so the workflow waits
        (R-SYNC-5), and which occurrences have no recording at all (``engine.sync.recordings``),
        judged as of ``check.as_of`` (the workflow's clock; now for a caller that gives none)."""
        assert plan.marketing_event_id is not None
        client = self._client(plan.connection)
        as_of = check.as_of if check is not None else datetime.now(UTC)
        grace = no_recording_grace(plan.duration_minutes, check.grace_seconds if check is not None else 2 * 3600)
        found = await self._recordings_of(client, plan)
        state, absent = recording_outcome([files for files, _ in found], as_of=as_of, grace=grace)
        run_counts: dict[str, int] | None = None
        stored = events = 0
        if any(upserts for _, upserts in found):
            stored, events, run_counts = await asyncio.to_thread(self._store_recordings, plan, found)
            uuids = plan.instance_uuids or [plan.webinar_id]
            files = [(uuids[index], upserts) for index, (_files, upserts) in enumerate(found)]
            run_counts = await self._transcripts(client, plan, files) or run_counts
        failpoint("webinar_sync.recordings.after_write")  # crash tests: files stored, result not returned
        detail = {
            RecordingState.PROCESSING: "no recording is ready in Zoom yet",
            RecordingState.TRANSCRIPT_PENDING: "the video is stored; no transcript yet",
        }.get(state)
        return RecordingResult(
            state=state,
            counts={"recording_files": stored, "recording_events": events},
            detail=detail,
            absent=absent,
            run_counts=run_counts,
        )

    async def _recordings_of(
        self, client: ZoomClient, plan: SyncPlan
    ) -> list[tuple[OccurrenceFiles, list[RecordingUpsert]]]:
        """Each occurrence's recording files that are ready, and what the occurrence has."""
        found: list[tuple[OccurrenceFiles, list[RecordingUpsert]]] = []
        for index, uuid in enumerate(plan.instance_uuids or [plan.webinar_id]):
            ended = plan.instance_ends[index] if index < len(plan.instance_ends) else None
            try:
                recording = await client.get_recordings(uuid)
            except (ZoomNoRecording, ZoomNotFound):
                found.append((OccurrenceFiles(uuid, ended), []))
                continue
            except ZoomError as error:
                raise zoom_failure(error) from None
            found.append(self._occurrence_files(plan, uuid, ended, recording))
        return found

    def _store_recordings(
        self, plan: SyncPlan, found: list[tuple[OccurrenceFiles, list[RecordingUpsert]]]
    ) -> tuple[int, int, dict[str, int]]:
        """The ready files of every occurrence and their "recording available" events, counted in
        the audit entry, in one transaction: (files, new events, the entry's counts)."""
        stored = events = 0
        with Session(self._engine) as session:
            for index, (_files, upserts) in enumerate(found):
                if not upserts:
                    continue
                files_stored, new_events = write_recordings(
                    session,
                    marketing_event_id=plan.marketing_event_id or 0,
                    zoom_webinar_id=plan.webinar_id,
                    recordings=upserts,
                    seen_at=datetime.now(UTC),
                    occurrence=None if index == 0 else plan.instance_uuids[index],
                )
                stored, events = stored + files_stored, events + new_events
            snapshot = record_page(
                session,
                plan.run_key,
                absolute={"recording_files": stored},
                inserted={"recording_events": events, "timeline_events": events},
            )
            session.commit()
            return stored, events, snapshot

    @staticmethod
    def _occurrence_files(
        plan: SyncPlan, uuid: str, ended: datetime | None, recording: Recording
    ) -> tuple[OccurrenceFiles, list[RecordingUpsert]]:
        """The video and transcript files of one occurrence's recording that are ready."""
        upserts: list[RecordingUpsert] = []
        videos = transcripts = 0
        processing = False
        for item in recording.recording_files:
            kind = item.file_type.upper()
            if kind not in _VIDEO_TYPES and kind != _TRANSCRIPT:
                continue
            if (item.status or "completed") != "completed":
                processing = True
                continue
            videos += kind in _VIDEO_TYPES
            transcripts += kind == _TRANSCRIPT
            upserts.append(
                RecordingUpsert(
                    zoom_file_id=item.id,
                    marketing_event_id=plan.marketing_event_id or 0,
                    file_type=kind,
                    status="available",
                    topic=recording.topic or plan.topic,
                    play_url=item.play_url or recording.share_url,
                    download_url=item.download_url,
                    start_time=item.recording_start or recording.start_time,
                    end_time=item.recording_end,
                    file_size=int(item.file_size) if item.file_size is not None else None,
                )
            )
        files = OccurrenceFiles(uuid, ended, videos=videos, transcripts=transcripts, processing=processing)
        return files, upserts

    async def _transcripts(
        self, client: ZoomClient, plan: SyncPlan, occurrences: list[tuple[str, list[RecordingUpsert]]]
    ) -> dict[str, int] | None:
        """Download, parse and store each ready transcript not stored yet (#15.4); returns the
        audit entry's counts after the last one stored, if any was."""
        wanted = [
            (occurrence, upsert)
            for occurrence, upserts in occurrences
            for upsert in upserts
            if upsert.file_type == _TRANSCRIPT and upsert.download_url
        ]
        if not wanted:
            return None

        def missing() -> dict[str, int]:
            with Session(self._engine) as session:
                return transcripts_to_fetch(session, [upsert.zoom_file_id for _, upsert in wanted])

        fetch = await asyncio.to_thread(missing)
        snapshot = None
        for occurrence, upsert in wanted:
            if upsert.zoom_file_id in fetch:
                recording_id = fetch[upsert.zoom_file_id]
                snapshot = await self._transcript(client, plan, occurrence, recording_id, upsert) or snapshot
        return snapshot

    async def _transcript(
        self, client: ZoomClient, plan: SyncPlan, occurrence: str, recording_id: int, upsert: RecordingUpsert
    ) -> dict[str, int] | None:
        """One transcript, fetched then stored with its cues in one transaction; it never leaves
        this activity. Returns the audit entry's counts once stored."""
        fetched = await self._fetch_transcript(client, plan, occurrence, upsert)
        if fetched is None:
            return None
        data, refused = fetched
        return await asyncio.to_thread(self._store_transcript, plan, occurrence, recording_id, upsert, data, refused)

    async def _fetch_transcript(
        self, client: ZoomClient, plan: SyncPlan, occurrence: str, upsert: RecordingUpsert
    ) -> tuple[bytes, str | None] | None:
        """The file's bytes through the client (the webhook's ``download_token`` when one came, else
        the account's token), or why it was not downloaded (too large); None — with a warning, the
        next sync tries again — when Zoom refuses it for good. 429/5xx are retried by Temporal."""
        assert upsert.download_url is not None
        announced = upsert.file_size or 0
        if announced > MAX_TRANSCRIPT_BYTES:
            return b"", f"Zoom announces {announced} bytes, more than the {MAX_TRANSCRIPT_BYTES} Rollcall downloads"
        token = await asyncio.to_thread(self._download_token, plan.connection, occurrence)
        try:
            data = await client.download(upsert.download_url, max_bytes=MAX_TRANSCRIPT_BYTES, download_token=token)
        except ZoomDownloadTooLarge as error:
            return b"", error.message
        except ZoomError as error:
            if error.retryable:
                raise zoom_failure(error) from None
            await asyncio.to_thread(self._transcript_warning, plan, occurrence, f"could not be downloaded: {error}")
            return None
        return data, None

    def _store_transcript(
        self,
        plan: SyncPlan,
        occurrence: str,
        recording_id: int,
        upsert: RecordingUpsert,
        data: bytes,
        refused: str | None,
    ) -> dict[str, int] | None:
        """Parsed and stored (``stored``), or stored as ``too_large``/``invalid`` with a warning; the
        audit entry counts it in the same transaction. None when it was stored already."""
        status, detail, cues = read_transcript(data, refused)
        write = TranscriptWrite(
            recording_id=recording_id,
            marketing_event_id=plan.marketing_event_id or 0,
            zoom_webinar_id=plan.webinar_id,
            occurrence=occurrence,
            occurrence_start=upsert.start_time,
            status=status,
            byte_size=len(data) if refused is None else upsert.file_size or 0,
            sha256=hashlib.sha256(data).hexdigest() if refused is None else None,
            detail=detail,
        )
        with Session(self._engine) as session:
            prefer_generic_plans(session)
            if store_transcript(session, write, cues) is None:
                return None
            if detail is not None:
                self._warn_transcript(session, plan, occurrence, f"was not stored: {detail}")
            inserted = {"transcripts": int(status == TranscriptStatus.STORED), "transcript_cues": len(cues)}
            snapshot = record_page(session, plan.run_key, absolute={}, inserted=inserted)
            session.commit()
            return snapshot

    def _download_token(self, connection: str, occurrence: str) -> str | None:
        with Session(self._engine) as session:
            return recording_download_token(session, connection, occurrence, now=datetime.now(UTC))

    def _transcript_warning(self, plan: SyncPlan, occurrence: str, problem: str) -> None:
        with Session(self._engine) as session:
            self._warn_transcript(session, plan, occurrence, problem)
            session.commit()

    @staticmethod
    def _warn_transcript(session: Session, plan: SyncPlan, occurrence: str, problem: str) -> None:
        add_warning(
            session,
            plan.run_key,
            AuditWarningCode.RECORDING_NOT_SYNCED,
            f"a transcript {problem}",
            [{"occurrence": occurrence}],
        )

    # --- 7: the audit entry -------------------------------------------------------------------

    @activity.defn(no_thread_cancel_exception=True)
    def finish_sync(self, request: FinishInput) -> FinishResult:
        plan = request.plan
        with Session(self._engine) as session:
            self._open(session, plan)
            guests = request.counts.get("guests_without_email", 0)
            if guests:
                add_warning(
                    session,
                    plan.run_key,
                    AuditWarningCode.PARTICIPANTS_NOT_SYNCED,
                    f"{guests} participant session(s) had no email (Zoom hides guests' emails) and were not synced; "
                    "turn registration on for the webinar so attendees are identified (R-SCOPE-3)",
                    [{"guests_without_email": guests}],
                )
            if request.recording is not None:
                self._recording_warnings(session, plan, request.recording, request.waited_seconds)
            status = None
            if request.error is not None:
                add_warning(
                    session,
                    plan.run_key,
                    AuditWarningCode.SYNC_ERROR,
                    f"the sync stopped: {request.error}; what was written before is kept and consistent "
                    f"(counts show it), the rest was not applied",
                )
                status = SyncStatus.FAILED
            elif not plan.sync:
                status = SyncStatus.SKIPPED
            entry_id, final = close_run(session, plan.run_key, status=status, counts=request.counts)
            session.commit()
            failpoint("webinar_sync.finish.after_commit")  # crash tests: entry closed, result not returned
            return FinishResult(audit_entry_id=entry_id, status=final)

    @staticmethod
    def _recording_warnings(session: Session, plan: SyncPlan, recording: RecordingResult, waited_seconds: int) -> None:
        """R-AUD-2: occurrences without a recording, and what was still not there when the run
        stopped waiting."""
        if recording.absent:
            add_warning(
                session,
                plan.run_key,
                AuditWarningCode.RECORDING_NOT_SYNCED,
                'no recording in Zoom: Zoom still answers "no recording" well after the webinar ended '
                "(never recorded, or deleted); if one appears later, Zoom's recording webhook starts a sync "
                "that adds it",
                recording.absent,
            )
        if recording.state == RecordingState.SYNCED or (recording.state == RecordingState.NONE and recording.absent):
            return
        waited = f" after waiting {waited_seconds // 60} min" if waited_seconds else ""
        message = {
            RecordingState.PROCESSING: f"recording unavailable or still processing in Zoom{waited}; "
            "the next sync picks it up",
            RecordingState.TRANSCRIPT_PENDING: f"the transcript was not available{waited}; the video is "
            "synced, the next sync picks the transcript up",
            RecordingState.NONE: "no recording: deleted or never recorded",
        }[recording.state]
        add_warning(session, plan.run_key, AuditWarningCode.RECORDING_NOT_SYNCED, message)

    # --- 8: events for event-triggered enrollments --------------------------------------------

    @activity.defn
    async def publish_events(self, plan: SyncPlan) -> int:
        """Enroll, into every enabled definition with an ``event`` trigger, the contacts whose
        events of this webinar match it. Idempotent: already enrolled contacts are left alone."""

        def matches() -> list[tuple[str, list[int]]]:
            found: list[tuple[str, list[int]]] = []
            with Session(self._engine) as session:
                for row in list_definitions(session):
                    if not row.enabled:
                        continue
                    _version, definition = load_revision(session, row.key, row.current_version)
                    for trigger in definition.enrollment.triggers:
                        if not isinstance(trigger, EventTrigger):
                            continue
                        here = Condition(type="condition", field="webinar_id", op=Operator.EQ, value=plan.webinar_id)
                        # Built without validation: the trigger may already hold the maximum of conditions.
                        node = EventFilter.model_construct(
                            type="event", event=trigger.event, where=[*trigger.where, here]
                        )
                        ids: list[int] = []
                        cursor = None
                        while True:
                            page = search_contacts(session, node, limit=500, cursor=cursor)
                            ids.extend(contact.id for contact in page.contacts if contact.id is not None)
                            cursor = page.next_cursor
                            if cursor is None:
                                break
                        if ids:
                            found.append((row.key, ids))
            return found

        found = await asyncio.to_thread(matches)
        if not found:
            return 0
        started = 0
        for key, ids in found:
            results = await self._enrollments.enroll_many(key, [ContactIn(contact_id=i) for i in ids], trigger="event")
            started += sum(1 for item in results if item.status == "enrolled")
        return started


__all__ = ["ChunkInput", "ChunkResult", "EventKind", "WebinarSyncActivities"]

"""Webinars: "Sync now" (R-SYNC-7), following a sync run, and the webinar's transcript (#15.4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from engine.api.deps import SessionDep
from engine.api.errors import error_response
from engine.api.routers.transcripts import CueOut, SpeakerFilter, TranscriptOut, WebinarTranscriptOut
from engine.api.schemas.crm import AuditEntryOut, Cursor
from engine.crm.transcripts import MAX_CUE_LIMIT, list_cues, webinar_transcripts
from engine.errors import NotFound
from engine.sync.contracts import SyncProgress
from engine.sync.progress import describe
from engine.sync.service import SyncService, ZoomUnavailable

router = APIRouter(prefix="/webinars", tags=["webinars"])

WebinarId = Annotated[str, Path(pattern=r"^\d{9,12}$", description="the Zoom webinar id (digits)")]


class SyncStarted(BaseModel):
    webinar_id: str
    workflow_id: str
    connection: str
    zoom_account_id: str
    business_unit: str | None


class SyncState(BaseModel):
    webinar_id: str
    workflow_id: str
    run_id: str | None
    #: The Temporal run's status: running, completed, failed, continued_as_new, terminated…
    status: str
    #: Counts so far (rows read, totals Zoom reported), the current phase, and while the run waits
    #: for a recording, what for and when it looks next.
    progress: SyncProgress
    #: The same in words, as the run's current details in the Temporal Web UI.
    details: str
    #: The run's audit entry (counts as pages commit); the previous run's until this one opens its own.
    audit_entry: AuditEntryOut | None


class TranscriptNotFound(NotFound):
    code = "TRANSCRIPT_NOT_FOUND"


def _service(request: Request) -> SyncService:
    service: SyncService = request.app.state.sync
    return service


def _retry_later(exc: ZoomUnavailable) -> JSONResponse:
    return error_response(
        exc.http_status, exc.code, exc.message, exc.details, headers={"Retry-After": str(exc.retry_after)}
    )


@router.post(
    "/{webinar_id}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncStarted,
    responses={
        404: {"description": "no connected Zoom account has the webinar (WEBINAR_NOT_FOUND)"},
        429: {"description": "Zoom rate-limits the lookup (ZOOM_RATE_LIMITED); see Retry-After"},
        503: {"description": "Zoom could not be asked (ZOOM_UNAVAILABLE); see Retry-After"},
    },
)
async def sync_now(webinar_id: WebinarId, request: Request) -> SyncStarted | JSONResponse:
    """Sync one webinar now; a sync already running for it takes this request as a follow-up.
    A webinar the store knows is started without asking Zoom (the sync retries a busy Zoom)."""
    try:
        workflow_id, owner = await _service(request).sync_now(webinar_id)
    except ZoomUnavailable as exc:
        return _retry_later(exc)
    return SyncStarted(
        webinar_id=webinar_id,
        workflow_id=workflow_id,
        connection=owner.connection,
        zoom_account_id=owner.zoom_account_id,
        business_unit=owner.business_unit,
    )


@router.get("/{webinar_id}/sync", responses={404: {"description": "the webinar has not been synced yet"}})
async def sync_state(webinar_id: WebinarId, request: Request) -> SyncState:
    """The webinar's latest sync run: running / completed / failed, and live progress — from
    Temporal and the store only (this never calls Zoom)."""
    found = await _service(request).status(webinar_id)
    entry = found.audit_entry
    return SyncState(
        webinar_id=webinar_id,
        workflow_id=found.workflow_id,
        run_id=found.run_id,
        status=found.status,
        progress=found.progress,
        details=describe(found.progress),
        audit_entry=AuditEntryOut.model_validate(entry.model_dump()) if entry is not None else None,
    )


@router.get("/{webinar_id}/transcript", responses={404: {"description": "no transcript stored (TRANSCRIPT_NOT_FOUND)"}})
def webinar_transcript(
    webinar_id: WebinarId,
    session: SessionDep,
    occurrence: Annotated[str | None, Query(max_length=100, description="one occurrence's Zoom UUID")] = None,
    speaker: SpeakerFilter = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CUE_LIMIT)] = 100,
) -> WebinarTranscriptOut:
    """The webinar's stored transcripts (one per occurrence) and their cues in order — speaker,
    start and end from the start of the recording, text — a page at a time."""
    transcripts = [t for t in webinar_transcripts(session, webinar_id) if occurrence in (None, t.occurrence)]
    if not transcripts:
        raise TranscriptNotFound(
            "no transcript of this webinar is stored (not synced yet, or Zoom has none)",
            details={"webinar_id": webinar_id, "occurrence": occurrence},
        )
    occurrences = {t.id: t.occurrence for t in transcripts if t.id is not None}
    page = list_cues(session, list(occurrences), speaker=speaker, cursor=cursor, limit=limit)
    return WebinarTranscriptOut(
        webinar_id=webinar_id,
        transcripts=[TranscriptOut.of(t) for t in transcripts],
        cues=[CueOut.of(cue, occurrences[cue.transcript_id]) for cue in page.cues],
        next_cursor=page.next_cursor,
    )

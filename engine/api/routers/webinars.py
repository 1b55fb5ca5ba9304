"""Webinars: "Sync now" (R-SYNC-7) and following a sync run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from engine.api.deps import TemporalDep
from engine.errors import NotFound
from engine.sync.contracts import SyncProgress, sync_workflow_id
from engine.sync.service import SyncService

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
    status: str
    progress: SyncProgress | None


def _service(request: Request) -> SyncService:
    service: SyncService = request.app.state.sync
    return service


@router.post("/{webinar_id}/sync", status_code=status.HTTP_202_ACCEPTED)
async def sync_now(webinar_id: WebinarId, request: Request) -> SyncStarted:
    """Sync one webinar now; a sync already running for it takes this request as a follow-up."""
    workflow_id, owner = await _service(request).sync_now(webinar_id)
    return SyncStarted(
        webinar_id=webinar_id,
        workflow_id=workflow_id,
        connection=owner.connection,
        zoom_account_id=owner.zoom_account_id,
        business_unit=owner.business_unit,
    )


@router.get("/{webinar_id}/sync")
async def sync_state(webinar_id: WebinarId, request: Request, client: TemporalDep) -> SyncState:
    """The webinar's latest sync run: running / completed / failed, and live progress."""
    owner = await _service(request).owner(webinar_id)
    workflow_id = sync_workflow_id(owner.zoom_account_id, webinar_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"webinar {webinar_id} has not been synced yet") from None
        raise
    progress = None
    try:
        progress = await handle.query("progress", result_type=SyncProgress)
    except Exception:
        progress = None
    run_status = description.status or WorkflowExecutionStatus.RUNNING
    return SyncState(webinar_id=webinar_id, workflow_id=workflow_id, status=run_status.name.lower(), progress=progress)

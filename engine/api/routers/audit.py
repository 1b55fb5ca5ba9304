"""The audit log of webinar syncs (§7), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from engine.api.deps import SessionDep
from engine.api.schemas.crm import AuditEntryOut, AuditPageOut, Cursor, Limit
from engine.crm.audit import list_audit_entries

router = APIRouter(tags=["audit"])

WebinarId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9]+$")]


@router.get("/webinars/{webinar_id}/audit")
def get_webinar_audit(
    webinar_id: WebinarId, session: SessionDep, cursor: Cursor = None, limit: Limit = 50
) -> AuditPageOut:
    page = list_audit_entries(session, webinar_id, cursor=cursor, limit=limit)
    return AuditPageOut(
        entries=[AuditEntryOut.model_validate(entry.model_dump()) for entry in page.entries],
        next_cursor=page.next_cursor,
    )

"""Zoom connections: one connected Zoom account per business unit, credentials by reference only."""

from __future__ import annotations

from fastapi import APIRouter, status

from engine.api.deps import SessionDep
from engine.api.schemas.crm import PathId, ZoomConnectionCreate, ZoomConnectionOut
from engine.crm import accounts

router = APIRouter(prefix="/zoom-connections", tags=["zoom connections"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_zoom_connection(body: ZoomConnectionCreate, session: SessionDep) -> ZoomConnectionOut:
    connection = accounts.create_zoom_connection(session, **body.model_dump())
    session.commit()
    session.refresh(connection)
    return ZoomConnectionOut.model_validate(connection.model_dump())


@router.get("")
def list_zoom_connections(session: SessionDep) -> list[ZoomConnectionOut]:
    return [ZoomConnectionOut.model_validate(c.model_dump()) for c in accounts.list_zoom_connections(session)]


@router.get("/{connection_id}")
def get_zoom_connection(connection_id: PathId, session: SessionDep) -> ZoomConnectionOut:
    return ZoomConnectionOut.model_validate(accounts.get_zoom_connection(session, connection_id).model_dump())

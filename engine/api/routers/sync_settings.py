"""Sync settings (R-SET-1…6) and each Zoom user's own switches and per-webinar overrides (R-SET-7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from engine.api.auth import Role
from engine.api.deps import CallerDep, SessionDep
from engine.api.schemas.crm import PathId, WebinarOverrideOut, WebinarOverridePut, ZoomUserOut, ZoomUserPut
from engine.crm import sync_settings as repo
from engine.crm.tables import ZoomUser, ZoomWebinarOverride

router = APIRouter(tags=["sync settings"])

ZoomUserId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
WebinarId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9]+$")]


@router.get("/sync-settings")
def get_sync_settings(session: SessionDep) -> repo.SyncSettingsValues:
    return repo.settings_values(repo.get_sync_settings(session))


@router.put("/sync-settings")
def put_sync_settings(body: repo.SyncSettingsValues, session: SessionDep, caller: CallerDep) -> repo.SyncSettingsValues:
    """Replace the account's sync settings as a whole (an admin key; the store checks again that only
    an admin turns global sync on)."""  # R-SET-1
    settings = repo.put_sync_settings(session, body, admin=caller.role is Role.ADMIN)
    session.commit()
    session.refresh(settings)
    return repo.settings_values(settings)


def _user_out(user: ZoomUser) -> ZoomUserOut:
    return ZoomUserOut.model_validate(user.model_dump())


def _override_out(override: ZoomWebinarOverride) -> WebinarOverrideOut:
    return WebinarOverrideOut.model_validate(override.model_dump())


@router.get("/zoom-connections/{connection_id}/users")
def list_zoom_users(connection_id: PathId, session: SessionDep) -> list[ZoomUserOut]:
    return [_user_out(user) for user in repo.list_zoom_users(session, connection_id)]


@router.put("/zoom-connections/{connection_id}/users/{zoom_user_id}")
def put_zoom_user(
    connection_id: PathId, zoom_user_id: ZoomUserId, body: ZoomUserPut, session: SessionDep
) -> ZoomUserOut:
    user = repo.put_zoom_user(
        session,
        connection_id,
        zoom_user_id,
        email=body.email,
        sync_new_webinars_by_default=body.sync_new_webinars_by_default,
        sync_recordings=body.sync_recordings,
    )
    session.commit()
    session.refresh(user)
    return _user_out(user)


@router.get("/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars")
def list_webinar_overrides(
    connection_id: PathId, zoom_user_id: ZoomUserId, session: SessionDep
) -> list[WebinarOverrideOut]:
    return [_override_out(o) for o in repo.list_webinar_overrides(session, connection_id, zoom_user_id)]


@router.put("/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}")
def put_webinar_override(
    connection_id: PathId,
    zoom_user_id: ZoomUserId,
    webinar_id: WebinarId,
    body: WebinarOverridePut,
    session: SessionDep,
) -> WebinarOverrideOut:
    override = repo.put_webinar_override(
        session, connection_id, zoom_user_id, webinar_id, sync_enabled=body.sync_enabled
    )
    session.commit()
    session.refresh(override)
    return _override_out(override)


@router.delete(
    "/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_webinar_override(
    connection_id: PathId, zoom_user_id: ZoomUserId, webinar_id: WebinarId, session: SessionDep
) -> Response:
    repo.delete_webinar_override(session, connection_id, zoom_user_id, webinar_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

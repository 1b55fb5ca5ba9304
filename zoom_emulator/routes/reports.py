"""Past webinars and reports: instances, participants (one row per join session), absentees.

Instance routes match any path so that awkward UUIDs are judged by ``path_ref``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from zoom_emulator.core.facts import RateLabel
from zoom_emulator.core.state import REPORT_RETENTION, Session, zoom_time
from zoom_emulator.routes.common import ZoomReply, begin, instance_or_404, paginate, path_ref, webinar_or_404

router = APIRouter()


@router.get("/v2/past_webinars/{ref:path}/instances")
async def list_past_instances(request: Request) -> Response:
    call = await begin(request, "list_past_instances", RateLabel.LIGHT)
    ref = path_ref(request, 3) or ""
    webinar = webinar_or_404(call, ref)
    now = call.emulator.clock.now()
    ended = sorted((i for i in webinar.instances if i.end_time <= now), key=lambda i: i.start_time)
    return call.reply({"webinars": [{"uuid": i.uuid, "start_time": zoom_time(i.start_time)} for i in ended]})


@router.get("/v2/report/webinars/{ref:path}/participants")
async def report_participants(
    request: Request,
    page_size: int | None = None,
    next_page_token: str | None = None,
    include_fields: str | None = None,
) -> Response:
    call = await begin(request, "report_participants", RateLabel.HEAVY)
    ref = path_ref(request, 4)
    instance = instance_or_404(call, ref, message='Webinar "{ref}" not found or has expired')
    if call.emulator.clock.now() - instance.start_time > REPORT_RETENTION:
        raise ZoomReply(400, 12702, "Can not access webinar a year ago.")
    with_registrant = include_fields == "registrant_id"
    body = paginate(
        call,
        ("report", instance.uuid, str(with_registrant)),
        lambda: instance.sessions,
        items_key="participants",
        page_size=page_size,
        next_page_token=next_page_token,
        render=lambda s: s.to_json(with_registrant_id=with_registrant),
    )
    return call.reply(body)


@router.get("/v2/past_webinars/{ref:path}/participants")
async def past_participants(
    request: Request, page_size: int | None = None, next_page_token: str | None = None
) -> Response:
    call = await begin(request, "past_participants", RateLabel.MEDIUM)
    instance = instance_or_404(call, path_ref(request, 3), message="Webinar does not exist.")

    def row(s: Session) -> dict[str, Any]:
        # One row per join session, like the report, with the newer registrant_id field.
        return {
            "id": s.participant_user_id,
            "user_id": s.user_id,
            "name": s.name,
            "user_email": s.email,
            "registrant_id": s.registrant_id,
            "join_time": zoom_time(s.join_time),
            "leave_time": zoom_time(s.leave_time),
            "duration": int((s.leave_time - s.join_time).total_seconds()),
            "status": "in_meeting",
            "failover": False,
        }

    body = paginate(
        call,
        ("past_participants", instance.uuid),
        lambda: instance.sessions,
        items_key="participants",
        page_size=page_size,
        next_page_token=next_page_token,
        render=row,
    )
    return call.reply(body)


@router.get("/v2/past_webinars/{ref:path}/absentees")
async def absentees(request: Request, page_size: int | None = None, next_page_token: str | None = None) -> Response:
    call = await begin(request, "absentees", RateLabel.HEAVY)
    instance = instance_or_404(call, path_ref(request, 3), message="Meeting ID is invalid or not end.")
    webinar = call.state.webinars[instance.webinar_id]
    if webinar.approval_type == 2:
        raise ZoomReply(400, 3000, f"This Webinar has not registration required: {instance.uuid}")

    def rows() -> list[dict[str, Any]]:
        came = {s.registrant_id for s in instance.sessions} | {s.email.lower() for s in instance.sessions}
        return [
            r.to_json()
            for r in webinar.registrants.values()
            if r.status == "approved" and r.id not in came and r.email.lower() not in came
        ]

    body = paginate(
        call,
        ("absentees", instance.uuid),
        rows,
        items_key="registrants",
        page_size=page_size,
        next_page_token=next_page_token,
    )
    return call.reply(body)

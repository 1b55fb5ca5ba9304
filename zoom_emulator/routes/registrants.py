"""Registrants: add (``POST``), list (``GET``) and change status (``PUT …/status``); each change
emits its ``webinar.registration_*`` webhook."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from zoom_emulator.core.facts import (
    ADDS_PER_EMAIL_PER_DAY,
    MAX_STATUS_BATCH,
    STATUS_CHANGES_PER_REGISTRANT_PER_DAY,
    RateLabel,
)
from zoom_emulator.core.state import Registrant, Webinar, zoom_time
from zoom_emulator.routes.common import ZoomReply, begin, paginate, webinar_or_404

router = APIRouter()


def registration_object(webinar: Webinar, registrant: Registrant) -> dict[str, Any]:
    """``payload.object`` of ``webinar.registration_*`` events: the webinar id is a number there."""
    return {
        "id": webinar.id,
        "uuid": webinar.current_uuid(),
        "host_id": webinar.host.id,
        "topic": webinar.topic,
        "type": webinar.type,
        "start_time": zoom_time(webinar.start_time),
        "duration": webinar.duration,
        "timezone": webinar.timezone,
        "registrant": {
            "id": registrant.id,
            "email": registrant.email,
            "first_name": registrant.first_name,
            "last_name": registrant.last_name,
            "join_url": registrant.join_url,
            "status": registrant.status,
        },
    }


def _missing_answers(webinar: Webinar, body: dict[str, Any]) -> list[dict[str, str]]:
    errors = [
        {"field": q["field_name"], "message": f"{q['field_name']} is required."}
        for q in webinar.questions
        if q["required"] and not str(body.get(q["field_name"]) or "").strip()
    ]
    answered = {
        str(a.get("title"))
        for a in body.get("custom_questions") or []
        if isinstance(a, dict) and str(a.get("value") or "").strip()
    }
    errors += [
        {"field": "custom_questions", "message": f"{q['title']} is required."}
        for q in webinar.custom_questions
        if q["required"] and q["title"] not in answered
    ]
    return errors


@router.post("/v2/webinars/{webinar_id}/registrants")
async def add_registrant(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "add_registrant", RateLabel.LIGHT)
    webinar = webinar_or_404(call, webinar_id)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ZoomReply(400, 300, "Request Body should be a valid JSON object.")
    required = [
        {"field": name, "message": f"{name} is required."}
        for name in ("email", "first_name")
        if not isinstance(body.get(name), str) or not body[name].strip()
    ]
    if required:
        raise ZoomReply(400, 300, "Validation Failed.", errors=required)
    email: str = body["email"].strip()
    now = call.emulator.clock.now()
    if webinar.approval_type == 2:
        raise ZoomReply(400, 3000, f"This webinar does not have registration as required: {webinar.id}.")
    if webinar.is_over(now):
        raise ZoomReply(
            400, 3038, "Webinar is over, you cannot register now. If you have any questions, contact the webinar host."
        )
    if email.lower() in webinar.host_emails():
        raise ZoomReply(400, 3027, "Host cannot register.")
    day_key = (webinar.id, email.lower(), now.date())
    if call.state.adds_per_email_day[day_key] >= ADDS_PER_EMAIL_PER_DAY:
        raise ZoomReply(
            429,
            429,
            f"You have exceeded the daily rate limit of ({ADDS_PER_EMAIL_PER_DAY}) for Add a webinar "
            f"registrant API requests for the registrant ({email}). "
            "You can resume these API requests at GMT 00:00:00.",
            headers={"x-ratelimit-limit": str(ADDS_PER_EMAIL_PER_DAY), "x-ratelimit-remaining": "0"},
        )
    missing = _missing_answers(webinar, body)
    if missing:
        raise ZoomReply(400, 300, "Validation Failed.", errors=missing)
    existing = webinar.registrant_by_email.get(email.lower())
    registrant = existing or webinar.add_registrant_from_api(body, now)
    call.state.adds_per_email_day[day_key] += 1
    call.state.add_calls[webinar.id] += 1
    if existing is None:
        call.emulator.webhooks.emit(
            webinar.account_id, "webinar.registration_created", registration_object(webinar, registrant)
        )
    answer: dict[str, Any] = {
        # Zoom's 2023 OpenAPI types this webinar id as a string; the subset is the reference here.
        "id": str(webinar.id),
        "registrant_id": registrant.id,
        "join_url": registrant.join_url,
        "topic": webinar.topic,
        "start_time": zoom_time(webinar.start_time),
    }
    if webinar.occurrences:
        answer["occurrences"] = webinar.to_json()["occurrences"]
    return call.reply(answer, 201)


@router.get("/v2/webinars/{webinar_id}/registrants")
async def list_registrants(
    request: Request,
    webinar_id: str,
    status: str = "approved",
    page_size: int | None = None,
    next_page_token: str | None = None,
) -> Response:
    call = await begin(request, "list_registrants", RateLabel.MEDIUM)
    webinar = webinar_or_404(call, webinar_id)
    if status not in ("approved", "pending", "denied"):
        raise ZoomReply(400, 300, "Validation Failed.", errors=[{"field": "status", "message": "Invalid value"}])
    if webinar.approval_type == 2:
        raise ZoomReply(400, 3000, f"This webinar does not have registration as required: {webinar.id}.")

    def rows() -> list[dict[str, Any]]:
        # Cancelled registrants carry status "denied", so they are listed under status=denied.
        return [r.to_json() for r in webinar.registrants.values() if r.status == status]

    body = paginate(
        call,
        ("registrants", str(webinar.id), status),
        rows,
        items_key="registrants",
        page_size=page_size,
        next_page_token=next_page_token,
    )
    return call.reply(body)


@router.put("/v2/webinars/{webinar_id}/registrants/status")
async def update_registrant_status(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "update_registrant_status", RateLabel.MEDIUM)
    webinar = webinar_or_404(call, webinar_id)
    try:
        body = await request.json()
    except ValueError:
        body = None
    action = body.get("action") if isinstance(body, dict) else None
    refs = body.get("registrants", []) if isinstance(body, dict) else None
    errors = []
    if action not in ("approve", "deny", "cancel"):
        errors.append({"field": "action", "message": "Invalid value: approve, deny or cancel."})
    if not isinstance(refs, list) or len(refs) > MAX_STATUS_BATCH or not all(isinstance(r, dict) for r in refs):
        errors.append({"field": "registrants", "message": f"At most {MAX_STATUS_BATCH} registrants."})
    if errors or not isinstance(refs, list):
        raise ZoomReply(400, 300, "Validation Failed.", errors=errors)
    now = call.emulator.clock.now()
    targets = []
    for ref in refs:
        registrant = webinar.registrants.get(str(ref.get("id", ""))) or webinar.registrant_by_email.get(
            str(ref.get("email", "")).lower()
        )
        if registrant is None:
            continue
        if call.state.status_changes_per_day[(registrant.id, now.date())] >= STATUS_CHANGES_PER_REGISTRANT_PER_DAY:
            raise ZoomReply(
                429,
                429,
                f"You have exceeded the daily rate limit of ({STATUS_CHANGES_PER_REGISTRANT_PER_DAY}) for "
                f"webinar Update registrant's status API requests for the registrant ({registrant.email}). "
                "You can resume these API requests at GMT 00:00:00.",
            )
        targets.append(registrant)
    event = {"approve": "approved", "deny": "denied", "cancel": "cancelled"}[str(action)]
    for registrant in targets:
        call.state.status_changes_per_day[(registrant.id, now.date())] += 1
        registrant.set_status("approved" if action == "approve" else "denied", cancelled=action == "cancel")
        call.emulator.webhooks.emit(
            webinar.account_id,
            f"webinar.registration_{event}",
            registration_object(webinar, registrant),
            payload_extra={"operator": webinar.host.email, "operator_id": webinar.host.id},
        )
    return call.no_content()

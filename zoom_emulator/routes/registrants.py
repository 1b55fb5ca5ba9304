"""Registrants: add (``POST``), list (``GET``) and change status (``PUT …/status``); each change
emits its ``webinar.registration_*`` webhook."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from zoom_emulator.core.events import registration_object
from zoom_emulator.core.facts import (
    ADDS_PER_EMAIL_PER_DAY,
    MAX_ANSWER_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_STATUS_BATCH,
    STATUS_CHANGES_PER_REGISTRANT_PER_DAY,
    RateLabel,
)
from zoom_emulator.core.limits import next_utc_midnight
from zoom_emulator.core.state import Registrant, Webinar, zoom_time
from zoom_emulator.routes.common import ZoomReply, begin, paginate, webinar_or_404

router = APIRouter()

#: What Zoom accepts as an e-mail address: one ``@``, no spaces, a dot in the domain.
EMAIL_FORMAT = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _invalid_fields(body: dict[str, Any]) -> list[dict[str, str]]:
    """400 code 300 ``errors[]`` for the body itself: required fields, e-mail format, lengths."""
    errors = [
        {"field": name, "message": f"{name} is required."}
        for name in ("email", "first_name")
        if not isinstance(body.get(name), str) or not body[name].strip()
    ]
    email = body.get("email")
    if isinstance(email, str) and email.strip():
        if not EMAIL_FORMAT.match(email.strip()):
            errors.append({"field": "email", "message": "Invalid email address."})
        elif len(email.strip()) > MAX_EMAIL_LENGTH:
            errors.append({"field": "email", "message": f"email must be at most {MAX_EMAIL_LENGTH} characters."})
    for name in ("first_name", "last_name"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            errors.append({"field": name, "message": f"{name} must be a string."})
        elif isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
            errors.append({"field": name, "message": f"{name} must be at most {MAX_NAME_LENGTH} characters."})
    answers = body.get("custom_questions") or []
    if not isinstance(answers, list) or any(
        not isinstance(a, dict) or len(str(a.get("value") or "")) > MAX_ANSWER_LENGTH for a in answers
    ):
        errors.append(
            {"field": "custom_questions", "message": f"Each value must be at most {MAX_ANSWER_LENGTH} characters."}
        )
    return errors


def _daily_limit_reached(limit: int, api: str, email: str, now: datetime) -> ZoomReply:
    """Zoom's per-registrant daily limit: a 429 that says it is a daily one and until when."""
    return ZoomReply(
        429,
        429,
        f"You have exceeded the daily rate limit of ({limit}) for {api} API requests for the registrant ({email}). "
        "You can resume these API requests at GMT 00:00:00.",
        headers={
            "X-RateLimit-Category": RateLabel.LIGHT.value,
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "Retry-After": zoom_time(next_utc_midnight(now)),
        },
    )


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
    invalid = _invalid_fields(body)
    if invalid:
        raise ZoomReply(400, 300, "Validation Failed.", errors=invalid)
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
        raise _daily_limit_reached(ADDS_PER_EMAIL_PER_DAY, "Add a webinar registrant", email, now)
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

    def rows() -> list[Registrant]:
        # Cancelled registrants carry status "denied", so they are listed under status=denied.
        return [r for r in webinar.registrants.values() if r.status == status]

    body = paginate(
        call,
        ("registrants", str(webinar.id), status),
        rows,
        items_key="registrants",
        page_size=page_size,
        next_page_token=next_page_token,
        render=Registrant.to_json,
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
            raise _daily_limit_reached(
                STATUS_CHANGES_PER_REGISTRANT_PER_DAY, "webinar Update registrant's status", registrant.email, now
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

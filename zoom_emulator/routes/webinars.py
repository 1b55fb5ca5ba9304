"""A webinar and its registration form: ``GET /webinars/{id}``, ``…/registrants/questions``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from zoom_emulator.core.facts import RateLabel
from zoom_emulator.routes.common import begin, webinar_or_404

router = APIRouter()


@router.get("/v2/webinars/{webinar_id}")
async def get_webinar(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "get_webinar", RateLabel.LIGHT)
    return call.reply(webinar_or_404(call, webinar_id).to_json())


@router.get("/v2/webinars/{webinar_id}/registrants/questions")
async def get_registration_questions(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "get_registration_questions", RateLabel.LIGHT)
    webinar = webinar_or_404(call, webinar_id)
    return call.reply({"questions": webinar.questions, "custom_questions": webinar.custom_questions})

"""``GET /metrics``: Rollcall's metrics in Prometheus' text format (#17.1).

A viewer key is needed (``engine.api.access.ROUTE_ROLES``), unless ``ROLLCALL_METRICS_PUBLIC`` is
true: the numbers hold no contact data, but they tell how busy each workflow and connection is."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from engine.metrics import rollcall_metrics_text

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of this API process",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
async def metrics() -> Response:
    body = await run_in_threadpool(rollcall_metrics_text)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)

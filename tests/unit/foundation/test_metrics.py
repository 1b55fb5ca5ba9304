"""#17.1: the parts of Rollcall's metrics that the end-to-end demo cannot pin down — Zoom paths
as templates, the rate limiter's waits, counts only once a transaction commits, and who may read
``GET /metrics``."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from engine.api.app import create_app
from engine.config import Settings
from engine.metrics import after_commit, zoom_endpoint
from engine.zoom.ratelimit import AccountRateLimiter, RateLabel
from engine.zoom.settings import ZoomPlan, ZoomSettings


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v2/webinars/81000000001/registrants", "/webinars/{id}/registrants"),
        ("/v2/webinars/81000000001/registrants/questions", "/webinars/{id}/registrants/questions"),
        ("/v2/webinars/81000000001/registrants/status", "/webinars/{id}/registrants/status"),
        ("/v2/users/host%40corp.example/webinars", "/users/{id}/webinars"),
        ("/v2/users/u-alice", "/users/{id}"),
        ("/v2/past_webinars/7777QqQq%252F%252FQq%3D%3D/participants", "/past_webinars/{id}/participants"),
        ("/v2/report/webinars/81000000001/participants", "/report/webinars/{id}/participants"),
        ("/v2/webinars/81000000001/recordings", "/webinars/{id}/recordings"),
        ("/oauth/token", "/oauth/token"),
    ],
)
def test_zoom_paths_become_templates_without_ids_or_emails(path: str, template: str) -> None:
    """Low-cardinality labels: a Zoom call is named by its endpoint, never by a webinar or user."""
    assert zoom_endpoint(path) == template


async def test_a_wait_for_the_rate_limiter_is_counted_by_label() -> None:
    """Free plan, Heavy: under one call a second, so the second call waits for the bucket."""
    limiter = AccountRateLimiter(ZoomPlan.FREE)
    waits, seconds = (
        _value("rollcall_zoom_rate_limit_waits_total", label="Heavy"),
        _value("rollcall_zoom_rate_limit_wait_seconds_total", label="Heavy"),
    )
    started = time.monotonic()
    await limiter.acquire(RateLabel.HEAVY)  # the burst of one: no wait
    await limiter.acquire(RateLabel.HEAVY)
    assert time.monotonic() - started > 0.9
    assert _value("rollcall_zoom_rate_limit_waits_total", label="Heavy") == waits + 1
    assert _value("rollcall_zoom_rate_limit_wait_seconds_total", label="Heavy") - seconds > 0.9


def test_counts_wait_for_the_commit_and_a_rollback_counts_nothing() -> None:
    """A step outcome or a finished sync is counted when its transaction commits: an activity
    retried after a rollback does not count it twice."""
    engine = sa.create_engine("sqlite://")
    counted: list[str] = []
    with Session(engine) as session:
        session.execute(sa.text("SELECT 1"))
        after_commit(session, lambda: counted.append("rolled back"))
        session.rollback()
        session.execute(sa.text("SELECT 1"))
        after_commit(session, lambda: counted.append("committed"))
        assert counted == []
        session.commit()
        session.commit()
    assert counted == ["committed"]


@pytest.mark.parametrize("public", [False, True])
async def test_metrics_need_a_viewer_key_unless_public(public: bool) -> None:
    """Least privilege: a viewer key reads /metrics; ROLLCALL_METRICS_PUBLIC=true opens it to a
    scraper without a key. The text parses as Prometheus' format and counts API requests by route."""
    settings = Settings(
        _env_file=None,
        database_url="sqlite://",
        definitions_dir=None,
        api_keys=["scraper:viewer:viewer-key"],
        metrics_public=public,
    )
    app = create_app(settings, zoom_settings=ZoomSettings(connections=[]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as api:
        keyless = await api.get("/metrics")
        assert keyless.status_code == (200 if public else 401)
        await api.get("/healthz")
        answer = await api.get("/metrics", headers={"Authorization": "Bearer viewer-key"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        names = {family.name for family in text_string_to_metric_families(answer.text)}
        assert {"rollcall_api_requests", "rollcall_enrollments_admitted", "rollcall_step_outcomes"} <= names
        assert 'route="/healthz",status="200"' in answer.text
        spec = (await api.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
        assert spec["security"] == ([] if public else [{"ApiKey": []}])

"""/readyz tells which dependency is missing instead of pretending to be ready."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from engine.api.app import create_app
from engine.config import Settings


async def test_readyz_is_503_and_names_temporal_when_temporal_is_unreachable(
    db_engine: Engine, unused_port: int
) -> None:
    settings = Settings(temporal_address=f"127.0.0.1:{unused_port}", api_keys=["k"])
    app = create_app(settings, db_engine=db_engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as api:
        response = await api.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["temporal"]["ok"] is False
    assert f"127.0.0.1:{unused_port}" in body["checks"]["temporal"]["reason"]

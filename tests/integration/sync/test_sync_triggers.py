"""How syncs start: "Sync now" through the API (R-SYNC-7) and Zoom's signed webhooks end to end."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from sqlalchemy import Engine
from support.http import serve
from support.waiting import eventually
from support.zoom import emulator_connection
from temporalio.client import Client

from engine.api.app import create_app
from engine.config import Settings
from engine.zoom.settings import ZoomConnectionConfig, ZoomSettings
from zoom_emulator import EmulatorServer

pytestmark = pytest.mark.timeout(120)
API_KEY = "sync-trigger-tests"
SECRET = "sync-webhook-secret-token"


def zoom_settings(sync_world: SyncWorld, emulator: EmulatorServer) -> ZoomSettings:
    connections = []
    for name, account in (("sync-main", sync_world.main_account), ("sync-emea", sync_world.emea_account)):
        config = emulator_connection(emulator, account, name=name).model_dump()
        config["webhook_secret_token"] = SECRET
        connections.append(ZoomConnectionConfig.model_validate(config))
    return ZoomSettings(connections=connections)


async def test_sync_now_through_the_api(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> None:
    settings = Settings(
        api_keys=[API_KEY], database_url=database_url, definitions_dir=None, temporal_task_queue=sync_world.task_queue
    )
    app = create_app(
        settings,
        db_engine=db_engine,
        temporal_client=temporal_client,
        zoom_settings=zoom_settings(sync_world, sync_emulator),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://rollcall.test",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as api:
        started = await api.post(f"/v1/webinars/{world.W_EMEA}/sync")
        assert started.status_code == 202, started.text
        body = started.json()
        assert (body["connection"], body["business_unit"]) == ("sync-emea", "EMEA")
        assert body["workflow_id"] == f"webinar-sync:{sync_world.emea_account}:{world.W_EMEA}"
        result = await temporal_client.get_workflow_handle(body["workflow_id"]).result()
        assert result["status"] == "succeeded"
        state = (await api.get(f"/v1/webinars/{world.W_EMEA}/sync")).json()
        assert (state["status"], state["progress"]["status"]) == ("completed", "succeeded")
        audit = (await api.get(f"/v1/webinars/{world.W_EMEA}/audit")).json()
        assert audit["entries"][0]["trigger"] == "manual"

        missing = await api.post("/v1/webinars/93177777777/sync")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "WEBINAR_NOT_FOUND")
        assert (await api.post("/v1/webinars/not-a-webinar/sync")).status_code == 422
        assert (await api.get("/v1/webinars/93177777777/sync")).status_code == 404


async def test_a_signed_webinar_ended_webhook_syncs_the_webinar_with_no_manual_step(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> None:
    """The emulator signs ``webinar.ended`` as Zoom does → the API route verifies it → signal-with-start
    of the webinar's sync → the run writes its audit entry (trigger ``webhook``)."""
    target = temporal_client.service_client.config.target_host
    settings = Settings(
        api_keys=[API_KEY],
        database_url=database_url,
        definitions_dir=None,
        temporal_address=target,
        temporal_task_queue=sync_world.task_queue,
    )
    app = create_app(settings, db_engine=db_engine, zoom_settings=zoom_settings(sync_world, sync_emulator))
    with serve(app) as url:
        # The sync world's emulator clock is frozen in 2025; the API checks signatures by the wall clock.
        await sync_world.admin.set_webhook_timestamp_clock("wall")
        await sync_world.admin.subscribe_webhooks(sync_world.main_account, f"{url}/v1/zoom/webhooks/sync-main", SECRET)
        await sync_world.admin.emit_webhook(
            sync_world.main_account,
            "webinar.ended",
            {"id": world.W_ENDED, "uuid": world.INSTANCE, "topic": "Quarterly product update", "host_id": "host-1"},
        )

        def finished() -> bool:
            entries = view.audit(db_engine, world.W_ENDED)
            return bool(entries) and entries[0]["status"] != "running"

        await eventually(finished, "a finished audit entry", within=60, every=0.2)
        deliveries = await sync_world.admin.webhook_deliveries()

    (entry,) = view.audit(db_engine, world.W_ENDED)
    assert (entry["trigger"], entry["status"]) == ("webhook", "partial")
    assert view.participations(db_engine, world.W_ENDED)["alice@customers.example"][0] == "attended"
    assert [d["status_code"] for d in deliveries if d.get("event") == "webinar.ended"] == [200]


async def test_the_sync_command_follows_the_run_and_prints_the_audit_entry(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> None:
    """``rollcall sync`` (engine.cli.sync.follow_sync) over real HTTP: 202, live progress, then the entry."""
    from rich.console import Console

    from engine.cli.client import ApiClient
    from engine.cli.sync import follow_sync

    settings = Settings(
        api_keys=[API_KEY],
        database_url=database_url,
        definitions_dir=None,
        temporal_address=temporal_client.service_client.config.target_host,
        temporal_task_queue=sync_world.task_queue,
    )
    app = create_app(settings, db_engine=db_engine, zoom_settings=zoom_settings(sync_world, sync_emulator))
    console = Console(record=True, width=200)
    with serve(app) as url, ApiClient(url, API_KEY) as client:
        code = await asyncio.to_thread(follow_sync, client, world.W_ENDED, console, poll=0.1)

    printed = console.export_text()
    assert code == 0
    assert f"webinar-sync:{sync_world.main_account}:{world.W_ENDED}" in printed
    assert f"audit: webinar {world.W_ENDED} — partial (manual)" in printed
    assert "EMAILS_EXCLUDED" in printed and "PARTICIPANTS_NOT_SYNCED" in printed
    assert "contacts_created" in printed

"""Helpers of the sync tests that put Zoom's clock on the workflow's (grace periods, waits for a
recording), build recent webinars relative to it, and serve the API on loopback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from integration.sync.sync_kit import SyncWorld
from sqlalchemy import Engine
from support.zoom import emulator_connection
from temporalio.client import Client

from engine.api.app import create_app
from engine.config import Settings
from engine.zoom.settings import ZoomSettings
from zoom_emulator import EmulatorServer
from zoom_emulator.core.seeds import (
    InstanceSeed,
    RecordingFileSeed,
    RecordingSeed,
    RegistrantSeed,
    SessionSeed,
    WebinarSeed,
)

API_KEY = "sync-live-tests"
ATTENDEE = "rita@customers.example"


def recording(after_minutes: float) -> RecordingSeed:
    """A video and its transcript, ready ``after_minutes`` after the occurrence's end."""
    return RecordingSeed(
        files=[
            RecordingFileSeed(file_type="MP4", file_extension="MP4", available_after_minutes=after_minutes),
            RecordingFileSeed(
                file_type="TRANSCRIPT",
                file_extension="VTT",
                recording_type="audio_transcript",
                available_after_minutes=after_minutes,
            ),
        ]
    )


def ended_webinar(webinar_id: str, *, start: datetime, recording_after_minutes: float) -> WebinarSeed:
    """A 60-minute webinar that started at ``start``: one registrant who attended 40 minutes."""
    return WebinarSeed(
        id=int(webinar_id),
        host_id="host-1",
        topic="Recent webinar",
        start_time=start,
        duration=60,
        registrants=[RegistrantSeed(email=ATTENDEE, first_name="Rita", last_name="Recent")],
        instances=[
            InstanceSeed(
                uuid=f"Recent{webinar_id}Instance==",
                start_time=start,
                sessions=[
                    SessionSeed(
                        name="Rita Recent",
                        email=ATTENDEE,
                        join_time=start,
                        leave_time=start + timedelta(minutes=40),
                    )
                ],
                recording=recording(recording_after_minutes),
            )
        ],
    )


def zoom_settings(sync_world: SyncWorld, emulator: EmulatorServer) -> ZoomSettings:
    return ZoomSettings(
        connections=[
            emulator_connection(emulator, sync_world.main_account, name="sync-main"),
            emulator_connection(emulator, sync_world.emea_account, name="sync-emea"),
        ]
    )


def api_app(
    sync_world: SyncWorld, emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> FastAPI:
    """The API with the test world's Zoom connections, on the worker's task queue."""
    settings = Settings(
        api_keys=[API_KEY],
        database_url=database_url,
        definitions_dir=None,
        temporal_address=temporal_client.service_client.config.target_host,
        temporal_task_queue=sync_world.task_queue,
    )
    return create_app(settings, db_engine=db_engine, zoom_settings=zoom_settings(sync_world, emulator))


def requests_to_zoom(stats: dict[str, Any]) -> int:
    """Every request the emulator served (its ``/_admin/stats``)."""
    return sum(int(count) for count in stats["requests"].values())

"""Benchmark: the per-webinar sync (WebinarSyncWorkflow) against a plain script doing the same work.

One webinar with 10,000 registrants and 8,000 attendees (every 2nd rejoins once: 12,000 join
sessions) plus a recording (video + a 2 MB WebVTT transcript, downloaded, parsed and stored cue by
cue since issue #15 point 4), in the Zoom emulator (its own process, rate limits off on both
sides); ``--scale N`` makes it N times larger (``--scale 10``: 100,000 registrants, 80,000
attendees, 120,000 sessions, the same transcript; issue #16 point 4). Temporal is a dev server
started here with the WAL pragmas of ``rollcall up``; the worker runs in this process; each store
is fresh.

- **Temporal**: ``request_sync`` → ``handle.result()`` (workflow start → result, through every run
  a long pass continues as new into), then a re-sync of the same webinar (nothing new to write);
- **plain script**, in the same run: the same pages fetched with a bare ``ZoomClient`` and the same
  page-by-page writes (``engine/sync/writer.py``: one transaction per page, rollups included; the
  marketing event, recordings, the transcript and the audit entry too), no Temporal; then its
  re-sync.

Each side runs ``--rounds`` times on fresh stores (best time kept; default 2, 1 at a larger
scale), alternating, after a warm-up. Prints wall times, rows/s, the ratio, the longest run's
history and how many runs a sync took, the peak RSS of this process (the worker) while the
Temporal sync runs (the emulator and the Temporal server are other processes), and the CPU seconds
the worker, the emulator, the Temporal server and PostgreSQL (on SQLite the store's work is the
worker's) spent on each Temporal sync — unlike wall times, those hardly move when other work
shares the machine. Not a test: never collected by pytest.

    .venv/bin/python bench/sync.py [--scale 10] [--rounds 2] [--skip-postgres]

Targets on this 2-core machine (``TARGETS``; the first-sync target is SQLite's, PostgreSQL is
reported): at scale 1 (issue 7, #15 acceptance 5) first sync ≤ 10 s, ≤ 200 history events, peak
worker RSS ≤ 300 MB, re-sync ≤ 5 s, ratio to the plain script ≤ 1.5; at scale 10 (#16.4) first
sync ≤ 60 s, every run's history ≤ 200 events, peak worker RSS ≤ 300 MB, re-sync ≤ 45 s. The last
line of the output is ``BENCH {json}``: the scale, the figures per backend, the scale's targets,
whether each holds, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.webinar_sync import REGISTRANT_STATUSES
from engine.cli.supervisor import installed_binary
from engine.crm.accounts import create_zoom_connection
from engine.crm.db import create_db_engine, prefer_generic_plans, upgrade_database
from engine.crm.participations import MarketingEventUpsert, RecordingUpsert, upsert_marketing_events
from engine.crm.statistics import StatisticsKeeper
from engine.crm.sync_settings import SyncSettingsValues, get_sync_settings, put_sync_settings
from engine.crm.tables import AttendanceSession, Contact, Participation, TimelineEvent, TranscriptCue, TranscriptStatus
from engine.crm.transcripts import TranscriptWrite, store_transcript, transcripts_to_fetch
from engine.ports import free_loopback_port
from engine.sync.audit_run import close_run, open_run
from engine.sync.contracts import SyncResult
from engine.sync.transcripts import MAX_TRANSCRIPT_BYTES, parse_transcript
from engine.sync.triggers import request_sync
from engine.sync.writer import write_recordings, write_registrants, write_sessions
from engine.temporal import DATA_CONVERTER, SearchAttribute
from engine.zoom.client import ZoomClient
from engine.zoom.models import Recording
from engine.zoom.settings import ZoomConnectionConfig, ZoomSettings
from worker import build_worker
from zoom_emulator import EmulatorAdmin, RateLimitMode, SeedDocument
from zoom_emulator.core.seeds import RecordingFileSeed, RecordingSeed, generated_webinar_seed

ACCOUNT = "bench-sync-account"
CONNECTION = "bench"
WEBINAR = 93000000077
INSTANCE = "/bench//Sync+Instance=="
START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
REGISTRANTS = 10_000
ATTENDEES = 8_000
SESSIONS = 12_000  # every 2nd attendee rejoins once
TRANSCRIPT_BYTES = 2_000_000
POSTGRES_ADMIN_URL = os.environ.get(
    "ROLLCALL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
#: Targets by ``--scale`` (the first-sync target is SQLite's): the 10k webinar (issue 7, #15
#: acceptance 5) and the 100k one (#16.4, which sets no ratio to the plain script).
#: Issue #16 point 3: PostgreSQL's first sync and re-sync at most this many times SQLite's, same run.
POSTGRESQL_OVER_SQLITE = 1.5
TARGETS: dict[int, dict[str, float]] = {
    1: {"first": 10.0, "resync": 5.0, "events": 200, "rss_mb": 300.0, "ratio": 1.5},
    10: {"first": 60.0, "resync": 45.0, "events": 200, "rss_mb": 300.0},
}


@dataclass(frozen=True)
class Scale:
    """The benchmark's webinar, ``factor`` times the 10k one: registrants, attendees, join sessions."""

    factor: int = 1

    @property
    def registrants(self) -> int:
        return REGISTRANTS * self.factor

    @property
    def attendees(self) -> int:
        return ATTENDEES * self.factor

    @property
    def sessions(self) -> int:
        return SESSIONS * self.factor

    @property
    def targets(self) -> dict[str, float]:
        """This scale's targets; none for a scale the issues set none for."""
        return TARGETS.get(self.factor, {})


def seed(
    webinar: int = WEBINAR,
    registrants: int = REGISTRANTS,
    attendees: int = ATTENDEES,
    transcript_bytes: int = TRANSCRIPT_BYTES,
) -> SeedDocument:
    """The benchmark's webinar (a 2 MB transcript by default) and a small one for the warm-up (20 KB)."""

    def recording(transcript: int) -> RecordingSeed:
        return RecordingSeed(
            files=[
                RecordingFileSeed(file_type="MP4", file_extension="MP4"),
                RecordingFileSeed(
                    file_type="TRANSCRIPT",
                    file_extension="VTT",
                    recording_type="audio_transcript",
                    file_size=transcript,
                ),
            ]
        )

    return generated_webinar_seed(
        clock=START + timedelta(days=1),
        account_id=ACCOUNT,
        host_email="host@bench-host.example",
        topic="Bench all hands",
        webinars=[
            (webinar, f"{INSTANCE}{webinar}", registrants, attendees, 2, recording(transcript_bytes)),
            (webinar + 1, f"{INSTANCE}{webinar + 1}", 300, 200, 2, recording(20_000)),
        ],
    )


# --- the processes around the worker ---------------------------------------------------------------


@contextmanager
def emulator_process(directory: Path, transcript_bytes: int, scale: Scale) -> Iterator[str]:
    """The emulator in its own process (like Zoom, it does not share the worker's CPU or GIL)."""
    path = directory / "seed.json"
    document = seed(registrants=scale.registrants, attendees=scale.attendees, transcript_bytes=transcript_bytes)
    path.write_text(document.model_dump_json())
    port = free_loopback_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zoom_emulator",
            "--port",
            str(port),
            "--seed",
            str(path),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30 * scale.factor  # it generates the webinar's people first
        while True:
            try:
                if httpx.get(f"{base_url}/_admin/clock", timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Zoom emulator did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def connection_config(base_url: str) -> ZoomConnectionConfig:
    return ZoomConnectionConfig.model_validate(
        {
            "name": CONNECTION,
            "account_id": ACCOUNT,
            "client_id": "bench",
            "client_secret": "bench",
            "api_base_url": f"{base_url}/v2",
            "oauth_base_url": base_url,
            "plan": "business",
        }
    )


@asynccontextmanager
async def dev_server(directory: Path) -> AsyncIterator[Client]:
    """A persistent dev server with ``rollcall up``'s pragmas (engine/cli/up.py)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        search_attributes=SearchAttribute.ALL,
        data_converter=DATA_CONVERTER,
        ui=False,
        dev_server_database_filename=str(directory / "temporal.db"),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"],
        dev_server_log_level="error",
    )
    try:
        yield env.client
    finally:
        await env.shutdown()


# --- stores --------------------------------------------------------------------------------------


def prepare(engine: Engine) -> Engine:
    upgrade_database(engine)
    with Session(engine) as session:
        create_zoom_connection(
            session,
            business_unit_id=1,
            name=CONNECTION,
            zoom_account_id=ACCOUNT,
            connected_by_email="host@bench-host.example",
            credentials_ref="env:ROLLCALL_ZOOM_CONNECTIONS",
        )
        put_sync_settings(session, SyncSettingsValues(sync_enabled=True), admin=True)
        session.commit()
    return engine


def row_counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as connection:
        return tuple(
            connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (Contact, Participation, AttendanceSession, TimelineEvent, TranscriptCue)
        )


class Stores:
    """Fresh, migrated, prepared stores; each is dropped as soon as its side is measured, so no
    background work on an old store (PostgreSQL's autovacuum, say) runs during the next one."""

    def fresh(self) -> Engine:
        raise NotImplementedError

    def drop(self, engine: Engine) -> None:
        engine.dispose()

    def settle(self, engine: Engine) -> None:
        """Between a first sync and its re-sync (what the database would do on its own, soon)."""


class SqliteStores(Stores):
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files = iter(range(1_000))

    def fresh(self) -> Engine:
        return prepare(create_db_engine(f"sqlite:///{self._directory / f'store-{next(self._files)}.db'}"))

    def drop(self, engine: Engine) -> None:
        engine.dispose()
        database = engine.url.database
        assert database is not None
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)


class PostgresStores(Stores):
    def __init__(self, admin: Engine) -> None:
        self._admin = admin

    def fresh(self) -> Engine:
        name = f"rollcall_bench_{uuid.uuid4().hex[:8]}"
        with self._admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = prepare(create_db_engine(self._admin.url.set(database=name).render_as_string(hide_password=False)))
        # Autovacuum's ANALYZE would land at a random moment of one side's run or the other's and
        # change that side's plans (a re-sync on tables without statistics takes twice as long):
        # it is off here, and both sides get the same explicit ANALYZE between sync and re-sync.
        with engine.begin() as connection:
            tables = connection.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            for (table,) in list(tables):
                connection.execute(sa.text(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)'))
        return engine

    def settle(self, engine: Engine) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE"))

    def drop(self, engine: Engine) -> None:
        engine.dispose()
        with self._admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{engine.url.database}" WITH (FORCE)'))


@contextmanager
def scratch_postgres() -> Iterator[PostgresStores | None]:
    """Scratch databases on 127.0.0.1:5432, or None when PostgreSQL is not reachable."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        print(f"\npostgresql: not reachable at {POSTGRES_ADMIN_URL} ({str(exc.orig).strip().splitlines()[0]}); skipped")
        admin.dispose()
        yield None
        return
    try:
        yield PostgresStores(admin)
    finally:
        admin.dispose()


# --- the two ways to sync ------------------------------------------------------------------------


@dataclass
class Timing:
    seconds: float
    rows: int
    #: The longest history among the sync's runs (continue-as-new makes several), and how many.
    events: int = 0
    peak_rss_mb: float = 0.0
    runs: int = 1
    #: CPU seconds spent meanwhile by the worker (this process), the emulator and the Temporal
    #: server: unlike wall time, hardly changed by other work on a shared machine.
    cpu_s: dict[str, float] = field(default_factory=dict)


class CpuMeter:
    """CPU seconds (user + system) of this process, the emulator, the dev server and PostgreSQL's
    processes (every ``postgres`` process of the machine: a backend that ends within the block
    loses its share) over a block."""

    def __init__(self) -> None:
        me = psutil.Process()
        children = me.children(recursive=True)
        self._processes = {
            "worker": me,
            "emulator": next((p for p in children if "zoom_emulator" in " ".join(p.cmdline())), None),
            "server": next((p for p in children if p.name().startswith("temporal")), None),
        }
        self._start = self._now()
        self._postgres_start = self._postgres()
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for name, process in self._processes.items():
            if process is not None:
                times = process.cpu_times()
                found[name] = times.user + times.system
        return found

    @staticmethod
    def _postgres() -> dict[int, float]:
        found: dict[int, float] = {}
        for process in psutil.process_iter(["name", "cpu_times"]):
            times = process.info["cpu_times"]
            if process.info["name"] == "postgres" and times is not None:
                found[process.pid] = times.user + times.system
        return found

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        self._postgres_start = self._postgres()
        return self

    def __exit__(self, *_: object) -> None:
        self.used = {name: round(value - self._start[name], 1) for name, value in self._now().items()}
        postgres = self._postgres()
        if postgres:
            spent = sum(value - self._postgres_start.get(pid, 0.0) for pid, value in postgres.items())
            self.used["postgres"] = round(spent, 1)


class RssSampler:
    """Peak resident memory of this process, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


async def temporal_sync(client: Client, queue: str, webinar: int) -> Timing:
    with RssSampler() as rss, CpuMeter() as cpu:
        started = time.perf_counter()
        workflow_id = await request_sync(
            client,
            webinar_id=str(webinar),
            connection=CONNECTION,
            zoom_account_id=ACCOUNT,
            trigger="manual",
            task_queue=queue,
            recording_wait_seconds=0,
        )
        handle = client.get_workflow_handle(workflow_id, result_type=SyncResult)
        result = await handle.result()
        seconds = time.perf_counter() - started
    assert result.status == "succeeded", result
    lengths = await history_lengths(client, workflow_id, handle.result_run_id)
    rows = result.counts.get("registrants_rows", 0) + result.counts.get("attendees_rows", 0)
    return Timing(seconds, rows, max(lengths), rss.peak / 2**20, len(lengths), cpu.used)


async def history_lengths(client: Client, workflow_id: str, last_run_id: str | None) -> list[int]:
    """The history length of each run of one sync, first to last: from the last run back along
    continue-as-new (each run's first event names the run it continues)."""
    lengths: list[int] = []
    run_id = last_run_id  # None: the latest run
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.insert(0, len(history.events))
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            return lengths


@dataclass
class PlainRun:
    """What the plain script's steps share: the store, the Zoom client, the webinar and its event."""

    engine: Engine
    client: ZoomClient
    webinar: int
    statistics: StatisticsKeeper
    event_id: int = 0
    topic: str = ""
    excluded: list[str] = field(default_factory=list)


async def plain_sync(engine: Engine, zoom: ZoomConnectionConfig, webinar: int) -> Timing:
    """The same fetches and the same page-by-page writes, in a plain loop."""
    started = time.perf_counter()
    run_key = f"plain:{uuid.uuid4().hex}"
    async with ZoomClient(zoom, rate_limit=False) as client:
        run = PlainRun(engine, client, webinar, StatisticsKeeper(engine))
        instances = await plain_open(run, run_key)
        rows = await plain_registrants(run)
        files: list[RecordingUpsert] = []
        for instance in instances:
            rows += await plain_sessions(run, instance)
            files += plain_files(run, await client.get_recordings(instance))
        with Session(engine) as session:
            write_recordings(
                session,
                marketing_event_id=run.event_id,
                zoom_webinar_id=str(webinar),
                recordings=files,
                seen_at=datetime.now(UTC),
            )
            session.commit()
        await plain_transcripts(engine, client, run.event_id, webinar, instances[0], files)
        with Session(engine) as session:
            close_run(session, run_key, status=None, counts={"rows": rows})
            session.commit()
    return Timing(time.perf_counter() - started, rows)


async def plain_open(run: PlainRun, run_key: str) -> list[str]:
    """The webinar from Zoom, the audit entry and the marketing event; the webinar's instances."""
    meta = await run.client.get_webinar(run.webinar)
    instances = [instance.uuid for instance in await run.client.list_past_instances(run.webinar)]
    run.topic = meta.topic
    end = meta.start_time + timedelta(minutes=meta.duration) if meta.start_time and meta.duration else None
    with Session(run.engine) as session:
        open_run(
            session,
            run_key=run_key,
            webinar_id=str(run.webinar),
            trigger="manual",
            started_at=datetime.now(UTC),
            business_unit_id=1,
        )
        run.excluded = list(get_sync_settings(session).contact_exclusion_domains)
        event = MarketingEventUpsert(
            zoom_webinar_id=str(run.webinar),
            business_unit_id=1,
            connection_id=1,
            topic=meta.topic,
            start_time=meta.start_time,
            end_time=end,
            duration_minutes=meta.duration,
            host_email=meta.host_email,
            join_url=meta.join_url,
        )
        run.event_id = upsert_marketing_events(session, [event])[str(run.webinar)]
        session.commit()
    return instances


async def plain_registrants(run: PlainRun) -> int:
    rows = 0
    for status in REGISTRANT_STATUSES:
        async for registrants in run.client.registrant_pages(run.webinar, status):
            with Session(run.engine) as session:
                prefer_generic_plans(session)  # as the sync's pages do (#16.3)
                write_registrants(
                    session,
                    marketing_event_id=run.event_id,
                    zoom_webinar_id=str(run.webinar),
                    business_unit_id=1,
                    excluded_domains=run.excluded,
                    registrants=registrants.items,
                    seen_at=datetime.now(UTC),
                )
                session.commit()
            run.statistics.wrote(str(run.webinar), len(registrants.items))  # as the sync does (#16.3)
            rows += len(registrants.items)
    return rows


async def plain_sessions(run: PlainRun, instance: str) -> int:
    rows = 0
    async for page in run.client.participant_report_pages(instance):
        with Session(run.engine) as session:
            prefer_generic_plans(session)
            write_sessions(
                session,
                marketing_event_id=run.event_id,
                zoom_webinar_id=str(run.webinar),
                business_unit_id=1,
                excluded_domains=run.excluded,
                rows=page.items,
                webinar_topic=run.topic,
            )
            session.commit()
        run.statistics.wrote(str(run.webinar), len(page.items))
        rows += len(page.items)
    return rows


def plain_files(run: PlainRun, recording: Recording) -> list[RecordingUpsert]:
    return [
        RecordingUpsert(
            zoom_file_id=item.id,
            marketing_event_id=run.event_id,
            file_type=item.file_type.upper(),
            status="available",
            topic=recording.topic,
            play_url=item.play_url or recording.share_url,
            download_url=item.download_url,
            start_time=item.recording_start or recording.start_time,
            end_time=item.recording_end,
        )
        for item in recording.recording_files
        if item.file_type.upper() in ("MP4", "M4A", "TRANSCRIPT")
    ]


async def plain_transcripts(
    engine: Engine, client: ZoomClient, event_id: int, webinar: int, instance: str, files: list[RecordingUpsert]
) -> None:
    """Download, parse and store the transcripts not stored yet, as ``sync_recordings`` does."""
    with Session(engine) as session:
        missing = transcripts_to_fetch(session, [f.zoom_file_id for f in files if f.file_type == "TRANSCRIPT"])
    for file in files:
        if file.zoom_file_id not in missing or file.download_url is None:
            continue
        data = await client.download(file.download_url, max_bytes=MAX_TRANSCRIPT_BYTES)
        cues = await asyncio.to_thread(parse_transcript, data)
        write = TranscriptWrite(
            recording_id=missing[file.zoom_file_id],
            marketing_event_id=event_id,
            zoom_webinar_id=str(webinar),
            occurrence=instance,
            occurrence_start=file.start_time,
            status=TranscriptStatus.STORED,
            byte_size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

        def store(write: TranscriptWrite = write, cues: list[Any] = cues) -> None:
            with Session(engine) as session:
                prefer_generic_plans(session)
                store_transcript(session, write, cues)
                session.commit()

        await asyncio.to_thread(store)


# --- the comparison --------------------------------------------------------------------------------


@dataclass
class Side:
    first: list[Timing] = field(default_factory=list)
    resync: list[Timing] = field(default_factory=list)

    def best(self, which: str) -> Timing:
        timings: list[Timing] = getattr(self, which)
        return min(timings, key=lambda t: t.seconds)

    def all(self) -> list[Timing]:
        return self.first + self.resync


@dataclass
class Bench:
    """One backend's comparison: its stores, the Temporal client, the emulator's connection."""

    backend: str
    stores: Stores
    client: Client
    zoom: ZoomConnectionConfig
    scale: Scale
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=32, thread_name_prefix="bench-activity")
    )

    async def side(self, side: str, webinar: int) -> tuple[Timing, Timing, tuple[int, ...]]:
        """One side's first sync and re-sync on a fresh store, and the rows the store holds then."""
        engine = self.stores.fresh()
        try:
            if side == "temporal":
                queue = f"bench-sync-{uuid.uuid4().hex[:8]}"
                settings = ZoomSettings(connections=[self.zoom], rate_limit_enabled=False)
                worker = build_worker(
                    self.client, engine, task_queue=queue, executor=self.executor, zoom_settings=settings
                )
                async with worker:
                    first = await temporal_sync(self.client, queue, webinar)
                    self.stores.settle(engine)
                    again = await temporal_sync(self.client, queue, webinar)
            else:
                first = await plain_sync(engine, self.zoom, webinar)
                self.stores.settle(engine)
                again = await plain_sync(engine, self.zoom, webinar)
            return first, again, row_counts(engine)
        finally:
            self.stores.drop(engine)

    async def rounds(self, rounds: int) -> tuple[Side, Side, tuple[int, ...]]:
        """``rounds`` timed rounds after a warm-up on the small webinar; both sides must write the
        same rows, round after round."""
        temporal, plain = Side(), Side()
        expected: tuple[int, ...] | None = None
        for round_number in range(rounds + 1):  # round 0 warms everything up on the small webinar
            webinar = WEBINAR + 1 if round_number == 0 else WEBINAR
            measured: dict[str, tuple[Timing, Timing, tuple[int, ...]]] = {}
            # Alternate which side goes first, so neither always runs on a warmer (or busier) machine.
            for side in ("temporal", "plain") if round_number % 2 else ("plain", "temporal"):
                measured[side] = await self.side(side, webinar)
            assert measured["temporal"][2] == measured["plain"][2], measured  # the same rows on both sides
            if round_number == 0:
                continue
            assert expected in (None, measured["temporal"][2])
            expected = measured["temporal"][2]
            for timings, (first, again, _rows) in ((temporal, measured["temporal"]), (plain, measured["plain"])):
                timings.first.append(first)
                timings.resync.append(again)
        self.executor.shutdown()
        assert expected is not None
        return temporal, plain, expected


async def compare(bench: Bench, rounds: int) -> dict[str, Any]:
    """Both sides on the bench's backend; prints the figures and returns them (for the BENCH line)."""
    temporal, plain, expected = await bench.rounds(rounds)
    t_first, t_again = temporal.best("first"), temporal.best("resync")
    p_first, p_again = plain.best("first"), plain.best("resync")
    ratio = max(t_first.seconds / p_first.seconds, t_again.seconds / p_again.seconds)
    figures = {
        "zoom_rows": t_first.rows,
        "transcript_cues": expected[-1],
        "first_sync_s": round(t_first.seconds, 2),
        "resync_s": round(t_again.seconds, 2),
        "plain_first_s": round(p_first.seconds, 2),
        "plain_resync_s": round(p_again.seconds, 2),
        "ratio": round(ratio, 3),
        "history_events": max(t.events for t in temporal.all()),
        "runs_per_sync": max(t.runs for t in temporal.all()),
        "peak_rss_mb": round(max(t.peak_rss_mb for t in temporal.all())),
        "rounds_first_s": [round(t.seconds, 2) for t in temporal.first],
        "rounds_plain_first_s": [round(t.seconds, 2) for t in plain.first],
        "first_sync_cpu_s": t_first.cpu_s,
        "resync_cpu_s": t_again.cpu_s,
    }
    measured: dict[str, float] = {
        "first": t_first.seconds,
        "resync": t_again.seconds,
        "events": max(t.events for t in temporal.all()),
        "rss_mb": max(t.peak_rss_mb for t in temporal.all()),
        "ratio": ratio,
    }
    holds = {name: measured[name] <= target for name, target in bench.scale.targets.items()}
    print_figures(bench, figures, holds, expected, rounds)
    return {"figures": figures, "holds": holds}


def print_figures(
    bench: Bench, figures: dict[str, Any], holds: dict[str, bool], rows: tuple[int, ...], rounds: int
) -> None:
    scale, targets = bench.scale, bench.scale.targets

    def against(name: str, unit: str = "") -> str:
        if name not in targets:
            return ""
        shown = f"{targets[name]:g}{unit}"
        return f"   target ≤ {shown}: {'met' if holds[name] else 'NOT met'}"

    contacts, participations, sessions, timeline, cues = rows
    first, again = figures["first_sync_s"], figures["resync_s"]
    print(
        f"\n{bench.backend}: {figures['zoom_rows']:,} Zoom rows per sync ({scale.registrants:,} registrants"
        f" + {scale.sessions:,} sessions) and its transcript"
    )
    print(
        f"  store after a sync: {contacts:,} contacts, {participations:,} participations, "
        f"{sessions:,} sessions, {timeline:,} timeline events, {cues:,} transcript cues (same on both sides)"
    )
    print(f"  best of {rounds}, each on a fresh store:")
    sqlite_only = "" if bench.backend.startswith("sqlite") else " (target is for SQLite)"
    rows_per_sync = figures["zoom_rows"]
    first_target = against("first", " s") + sqlite_only
    print(f"  Temporal first sync   {first:6.2f} s  {rows_per_sync / first:8,.0f} rows/s{first_target}")
    print(f"  Temporal re-sync      {again:6.2f} s  {rows_per_sync / again:8,.0f} rows/s{against('resync', ' s')}")
    for label, seconds in (("first", figures["plain_first_s"]), ("re-sync", figures["plain_resync_s"])):
        print(f"  plain script {label:<8} {seconds:6.2f} s  {rows_per_sync / seconds:8,.0f} rows/s")
    print(f"  ratio Temporal/plain  {figures['ratio']:6.2f} x (the worse of first and re-sync){against('ratio')}")
    print(
        f"  history events        {figures['history_events']:6d} in the longest run"
        f" ({figures['runs_per_sync']} run(s) per sync){against('events')}"
    )
    print(
        f"  peak RSS (worker)     {figures['peak_rss_mb']:6.0f} MB during the Temporal syncs{against('rss_mb', ' MB')}"
    )
    per_round = ", ".join(
        f"{a:.2f}/{b:.2f}" for a, b in zip(figures["rounds_first_s"], figures["rounds_plain_first_s"], strict=True)
    )
    print(f"  every round, first sync Temporal/plain (s): {per_round}")
    for label, name in (("first sync", "first_sync_cpu_s"), ("re-sync", "resync_cpu_s")):
        used = ", ".join(f"{process} {seconds:.1f}" for process, seconds in figures[name].items())
        print(f"  CPU seconds of the Temporal {label}: {used}")


async def main() -> None:
    parser = argparse.ArgumentParser(description="The webinar sync through Temporal against a plain script.")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per backend (after one warm-up)")
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="the webinar times the 10k one: --scale 10 is 100,000 registrants, 80,000 attendees, 120,000 "
        "sessions (issue #16 point 4)",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--transcript-bytes",
        type=int,
        default=TRANSCRIPT_BYTES,
        help="size of the webinar's WebVTT transcript (the target case: 2 MB; a small one shows its cost)",
    )
    args = parser.parse_args()
    scale = Scale(args.scale)
    rounds = args.rounds if args.rounds is not None else (2 if scale.factor == 1 else 1)
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-sync-") as name:
        directory = Path(name)
        with emulator_process(directory, args.transcript_bytes, scale) as base_url:
            async with EmulatorAdmin(base_url) as admin:
                await admin.set_rate_limit_mode(RateLimitMode.OFF)
            zoom = connection_config(base_url)
            print(
                f"webinar {WEBINAR}: {scale.registrants:,} registrants, {scale.attendees:,} attendees"
                f" ({scale.sessions:,} join sessions), a recording (video + a {args.transcript_bytes:,}-byte"
                " transcript); emulator in its own process, rate limits off"
            )
            print(f"machine: {os.cpu_count()} CPUs, load average {load_average()}; Temporal dev server with SQLite WAL")
            measured: dict[str, dict[str, Any]] = {}
            async with dev_server(directory) as client:
                sqlite = Bench("sqlite (WAL, temp dir)", SqliteStores(directory), client, zoom, scale)
                measured["sqlite"] = await compare(sqlite, rounds)
                if not args.skip_postgres:
                    with scratch_postgres() as postgres:
                        if postgres is not None:
                            bench = Bench("postgresql (127.0.0.1)", postgres, client, zoom, scale)
                            measured["postgresql"] = await compare(bench, rounds)
    report(measured, rounds, args.transcript_bytes, scale)
    sys.stdout.flush()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def report(measured: dict[str, dict[str, Any]], rounds: int, transcript_bytes: int, scale: Scale) -> None:
    """One ``BENCH {json}`` line: the scale, the figures of each backend, the scale's targets,
    whether each holds (the first-sync target is SQLite's; PostgreSQL's figure is reported against
    it too), and the load average at the end (the machine may be shared)."""
    line = {
        "bench": "sync",
        "scale": scale.factor,
        "registrants": scale.registrants,
        "attendees": scale.attendees,
        "join_sessions": scale.sessions,
        "transcript_bytes": transcript_bytes,
        "rounds": rounds,
        "cores": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        **{backend: result["figures"] for backend, result in measured.items()},
        "targets": {**scale.targets, "postgresql_over_sqlite": POSTGRESQL_OVER_SQLITE},
        "holds": {backend: result["holds"] for backend, result in measured.items()},
    }
    if "sqlite" in measured and "postgresql" in measured:
        sqlite_figures, postgresql_figures = measured["sqlite"]["figures"], measured["postgresql"]["figures"]
        ratios = {
            name: round(postgresql_figures[key] / sqlite_figures[key], 2)
            for name, key in (("first", "first_sync_s"), ("resync", "resync_s"))
            if sqlite_figures.get(key)
        }
        line["postgresql_over_sqlite"] = ratios
        line["holds"]["postgresql_over_sqlite"] = {
            name: ratio <= POSTGRESQL_OVER_SQLITE for name, ratio in ratios.items()
        }
        print(
            "\nPostgreSQL / SQLite (#16.3, target ≤ "
            f"{POSTGRESQL_OVER_SQLITE}): " + ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
        )
    print("BENCH " + json.dumps(line, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
    # The SDK can abort at interpreter exit after all work is done (docs/temporal.md, "SDK exit").
    os._exit(0)

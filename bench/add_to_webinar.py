"""Benchmark: 1,000 contacts enrolled into webinar-invite (delay shortened) against the Zoom emulator.

Run: ``.venv/bin/python bench/add_to_webinar.py [--contacts 1000] [--concurrency 32] [--full] [--eager] [--workers 1]
[--no-sandbox] [--deadline 300]``. Not a test. A few minutes on a quiet 2-core machine; on a loaded one raise
``--deadline`` (seconds to wait for all registrations). ``--eager`` turns on the dev server's eager
activity execution (an activity scheduled by a workflow task goes straight back to the worker that
completed it), which ``rollcall up`` does not do today.

What runs, each in its own process as under ``rollcall up``:

- a Temporal dev server started here with the WAL pragmas (``journal_mode=wal``,
  ``synchronous=off``), its history in a temp dir;
- the Zoom emulator (``python -m zoom_emulator``), rate limits off;
- one ``rollcall worker`` (Rollcall's own token buckets off: ``ROLLCALL_ZOOM_RATE_LIMIT_ENABLED=false``);
- this process: the CRM store (SQLite in the temp dir) and ``EnrollmentService.enroll_many`` (what
  the bulk API endpoint calls) with ``--concurrency`` starts at once, plus a loopback HTTP receiver
  for the flow's webhooks.

The definition is ``definitions/webinar-invite.yaml`` with the hooks pointed at the receiver and
``wait_for_webinar_end`` shortened from "until one hour after the webinar" (days away) to:

- ``for: 1h`` (default): every enrollment registers, branches on REGISTERED and parks in the delay,
  exactly what the real flow does during a bulk enrollment; the post-webinar steps would run days
  later, never during the registration burst, so they are left out of the measurement;
- ``for: 1s`` with ``--full``: every enrollment runs the whole flow to its end (attendance branch,
  "recording" webhook), and the bench also waits for all of them to complete. The later steps then
  compete with the registrations still in flight: a conservative registration rate.

Measured, in the same run:

1. enrollments: from the first ``enroll_many`` call until the store's action log holds REGISTERED
   for all N contacts (timed by the log rows' own ``finished_at``);
2. direct: ``ZoomClient.add_registrant`` for N other emails to a twin webinar, ``--concurrency``
   calls at once (the same bound as the enrollment starts and the worker's 32 activity slots);
3. bare starts: N plain ``client.start_workflow`` calls of the same enrollment workflow with the
   same input and options as ``EnrollmentService`` sends (contacts admitted beforehand, not timed),
   ``--concurrency`` at once, on a task queue no worker polls: what the Temporal server allows for
   starting the same number of workflows, and nothing more.

Prints the three rates, the ratios, the CPU seconds each process used while enrolling (and per
registration), the history events of one registration (enrollment + saga) and the load average
(1 min) before and after the enrollments. Target (issue #16 point 1): ≥ 40 registrations/s. The
last line is ``BENCH {json}``: the figures, the target and whether it holds (issue #16 point 6).
Expect the enrollment path to be CPU-bound on the Temporal server and the worker: a registration
is an enrollment workflow plus a child workflow (the saga).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.cli.supervisor import installed_binary
from engine.crm.accounts import create_zoom_connection
from engine.crm.db import create_db_engine, upgrade_database
from engine.crm.tables import Enrollment, EnrollmentStepOutcome, table_of
from engine.enrollment.contracts import WORKFLOW_TYPE
from engine.enrollment.definitions import put_definition_text
from engine.enrollment.service import Admission, ContactIn, EnrollmentService, admit, start_arguments
from engine.ports import free_loopback_port
from engine.temporal import DATA_CONVERTER, SearchAttribute
from engine.zoom import ZoomClient
from engine.zoom.models import NewRegistrant
from engine.zoom.settings import ZoomConnectionConfig, ZoomPlan
from zoom_emulator import EmulatorAdmin, RateLimitMode, SeedDocument
from zoom_emulator.core.seeds import AccountSeed, UserSeed, WebinarSeed

REPO_ROOT = Path(__file__).resolve().parent.parent
WEBINAR_INVITE = REPO_ROOT / "definitions" / "webinar-invite.yaml"
ACCOUNT = "bench-account"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"
W_ENROLL = 94000000001  # the enrollments register here
W_DIRECT = 94000000002  # the direct client calls register here (same shape, no shared registrant list)
KEY = "webinar-invite-bench"
WARMUP_KEY = "webinar-invite-warmup"
WARMUP = 20
TASK_QUEUE = "rollcall-bench"
BARE_KEY = "webinar-invite-bare"
#: The bare starts go here: no worker polls it, so they cost the server their start and nothing more.
BARE_TASK_QUEUE = "rollcall-bench-unpolled"
DEADLINE_SECONDS = 300.0
TARGET_RATE = 40.0

OUTCOMES = table_of(EnrollmentStepOutcome)
ENROLLMENTS = table_of(Enrollment)


def seed(now: datetime) -> SeedDocument:
    upcoming = now + timedelta(days=7)
    return SeedDocument(
        clock=now,
        accounts=[
            AccountSeed(
                id=ACCOUNT,
                plan=ZoomPlan.BUSINESS,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                users=[UserSeed(id="u-host", email="host@rollcall.example")],
                webinars=[
                    WebinarSeed(id=W_ENROLL, host_id="u-host", topic="Bench (enrollments)", start_time=upcoming),
                    WebinarSeed(id=W_DIRECT, host_id="u-host", topic="Bench (direct)", start_time=upcoming),
                ],
            )
        ],
    )


def bench_definition(key: str, delay_for: str) -> str:
    """webinar-invite.yaml with the delay shortened to ``delay_for`` (its hooks reach the receiver
    through the secrets file the worker gets, like under ``rollcall up``)."""
    text = WEBINAR_INVITE.read_text()
    delay = '    until: "{{ steps.register.webinar_end_time }}"\n    offset: 1h\n'
    for needle in ("key: webinar-invite\n", delay, "{{ secrets.MARKETING_HOOKS_URL }}"):
        assert needle in text, f"definitions/webinar-invite.yaml changed: {needle!r} not found"
    return text.replace("key: webinar-invite\n", f"key: {key}\n").replace(delay, f"    for: {delay_for}\n")


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server answering 200 to everything; yields its URL and the paths it got."""
    paths: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                paths.append(self.path)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


class Child:
    """A subprocess with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv, env={**os.environ, **env}, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT
        )

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def cpu_seconds(children: list[Child]) -> dict[str, float]:
    """User + system CPU seconds so far of this process, each child and the Temporal server."""
    me = psutil.Process()
    known = {child.process.pid: child.name for child in children}
    processes = {"bench (store, enroll_many, hooks)": me}
    for process in me.children(recursive=False):
        processes[known.get(process.pid, "temporal dev server")] = process
    totals: dict[str, float] = {}
    for name, process in processes.items():
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        totals[name] = times.user + times.system
    return totals


def setup_store(url: str) -> Engine:
    engine = create_db_engine(url)
    upgrade_database(engine)
    with Session(engine) as session:
        create_zoom_connection(
            session,
            business_unit_id=1,
            name="bench",
            zoom_account_id=ACCOUNT,
            connected_by_email="connector@rollcall.example",
            credentials_ref="env:ZOOM_BENCH",
        )
        session.commit()
    return engine


def save_definitions(engine: Engine, receiver_url: str, delay_for: str) -> None:
    with Session(engine) as session:
        for key, delay in ((KEY, delay_for), (WARMUP_KEY, "1s"), (BARE_KEY, delay_for)):
            put_definition_text(session, key, bench_definition(key, delay), source="bench")
        session.commit()


def register_counts(engine: Engine, key: str) -> tuple[int, int, int]:
    """(REGISTERED register rows, other register rows, completed enrollments) of workflow ``key``."""
    mine = OUTCOMES.join(ENROLLMENTS, ENROLLMENTS.c.id == OUTCOMES.c.enrollment_id)
    register = sa.and_(ENROLLMENTS.c.definition_key == key, OUTCOMES.c.step_id == "register")
    registered = OUTCOMES.c.outcome == "REGISTERED"
    with engine.connect() as connection:
        ok = connection.execute(sa.select(sa.func.count()).select_from(mine).where(register, registered)).scalar_one()
        other = connection.execute(
            sa.select(sa.func.count()).select_from(mine).where(register, sa.not_(registered))
        ).scalar_one()
        done = connection.execute(
            sa.select(sa.func.count()).where(ENROLLMENTS.c.definition_key == key, ENROLLMENTS.c.status == "completed")
        ).scalar_one()
    return int(ok), int(other), int(done)


def last_registered_at(engine: Engine, key: str) -> datetime:
    query = (
        sa.select(sa.func.max(OUTCOMES.c.finished_at))
        .select_from(OUTCOMES.join(ENROLLMENTS, ENROLLMENTS.c.id == OUTCOMES.c.enrollment_id))
        .where(ENROLLMENTS.c.definition_key == key, OUTCOMES.c.step_id == "register")
    )
    with engine.connect() as connection:
        value = connection.execute(query).scalar_one()
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def first_problem(engine: Engine, key: str) -> str:
    query = (
        sa.select(OUTCOMES.c.outcome, OUTCOMES.c.message)
        .select_from(OUTCOMES.join(ENROLLMENTS, ENROLLMENTS.c.id == OUTCOMES.c.enrollment_id))
        .where(
            ENROLLMENTS.c.definition_key == key, OUTCOMES.c.step_id == "register", OUTCOMES.c.outcome != "REGISTERED"
        )
        .limit(1)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return f"{row.outcome}: {row.message}" if row else "none"


async def wait_until(what: str, check: Any, children: list[Child], limit: float = DEADLINE_SECONDS) -> float:
    """Poll ``check()`` (a sync function returning True when done) every 0.1 s; returns the wall time."""
    started = time.perf_counter()
    while not await asyncio.to_thread(check):
        for child in children:
            child.check()
        if time.perf_counter() - started > limit:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def enroll(
    service: EnrollmentService,
    engine: Engine,
    key: str,
    prefix: str,
    count: int,
    children: list[Child],
    *,
    verbose: bool = False,
    until_completed: bool = True,
    deadline: float = DEADLINE_SECONDS,
) -> tuple[float, float, float, float | None]:
    """Enroll ``count`` new contacts into ``key``; returns (starts done, all REGISTERED (store time),
    all REGISTERED (seen by polling), all completed or None), seconds from the first enroll call."""
    contacts = [
        ContactIn(
            email=f"{prefix}{n}@customers.example",
            first_name="Bench",
            last_name=str(n),
            properties={"webinar_id": str(W_ENROLL)},
        )
        for n in range(count)
    ]
    t0_wall = datetime.now(UTC)
    t0 = time.perf_counter()
    results = await service.enroll_many(key, contacts)
    starts = time.perf_counter() - t0
    refused = [r for r in results if r.status != "enrolled"]
    if refused:
        raise SystemExit(f"{len(refused)} enrollments were not started, e.g. {refused[0]}")

    def all_registered() -> bool:
        ok, other, _ = register_counts(engine, key)
        if other:
            raise SystemExit(f"{other} registrations did not end REGISTERED, e.g. {first_problem(engine, key)}")
        return ok >= count

    reporter = asyncio.create_task(report_progress(engine, key, count, t0)) if verbose else None
    await wait_until("all registrations", all_registered, children, deadline)
    seen = time.perf_counter() - t0
    registered = (last_registered_at(engine, key) - t0_wall).total_seconds()
    completed = None
    if until_completed:
        await wait_until(
            "all enrollments to complete", lambda: register_counts(engine, key)[2] >= count, children, deadline
        )
        completed = time.perf_counter() - t0
    if reporter is not None:
        reporter.cancel()
    return starts, registered, seen, completed


async def report_progress(engine: Engine, key: str, count: int, t0: float) -> None:
    """One line every 15 s: how many registrations and enrollments are done."""
    while True:
        await asyncio.sleep(15)
        ok, _, done = await asyncio.to_thread(register_counts, engine, key)
        print(f"  {time.perf_counter() - t0:6.1f} s: {ok:5,} of {count:,} REGISTERED, {done:5,} completed", flush=True)


async def direct_calls(connection: ZoomConnectionConfig, count: int, concurrency: int) -> float:
    """``count`` add-registrant calls through ``ZoomClient``, ``concurrency`` at once; seconds."""
    limit = asyncio.Semaphore(concurrency)
    async with ZoomClient(connection, rate_limit=False) as zoom:
        # Warm-up: token, connection pool.
        await zoom.add_registrant(W_DIRECT, NewRegistrant(email="warm@customers.example", first_name="Warm"))

        async def one(n: int) -> None:
            async with limit:
                registrant = NewRegistrant(email=f"direct{n}@customers.example", first_name="Direct", last_name=str(n))
                await zoom.add_registrant(W_DIRECT, registrant)

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return time.perf_counter() - started


def admit_bare(engine: Engine, count: int) -> list[Admission]:
    """The store's side of the bare starts' enrollments (not timed)."""
    webinar = {"webinar_id": str(W_ENROLL)}
    with Session(engine, expire_on_commit=False) as session:
        admissions = [
            admit(session, BARE_KEY, ContactIn(email=f"bare{n}@customers.example", properties=webinar), "api")
            for n in range(count)
        ]
        session.commit()
    return admissions


async def bare_starts(client: Client, admissions: list[Admission], concurrency: int) -> float:
    """What ``EnrollmentService`` sends for each admission, as plain ``start_workflow`` calls
    (``concurrency`` at once) on a task queue nobody polls; seconds."""
    pending = list(reversed(admissions))

    async def starter() -> None:
        while pending:
            payload, options = start_arguments(pending.pop(), BARE_TASK_QUEUE)
            await client.start_workflow(WORKFLOW_TYPE, payload, **options)

    started = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(concurrency)))
    return time.perf_counter() - started


async def events_of_one_registration(client: Client, engine: Engine) -> dict[str, Any]:
    """History events of the last benchmarked enrollment (the worker knows the webinar by then) and
    of its saga, if it ran one (0 when the quick path registered the contact); how many sagas ran."""
    with engine.connect() as connection:
        workflow_id = connection.execute(
            sa.select(ENROLLMENTS.c.workflow_id)
            .where(ENROLLMENTS.c.definition_key == KEY)
            .order_by(ENROLLMENTS.c.id.desc())
            .limit(1)
        ).scalar_one()
    enrollment = await client.get_workflow_handle(workflow_id).fetch_history()
    children = [
        event.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for event in enrollment.events
        if event.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    saga = len((await client.get_workflow_handle(children[0]).fetch_history()).events) if children else 0
    sagas = (await client.count_workflows("WorkflowType = 'AddContactToWebinar'")).count
    return {"enrollment": len(enrollment.events), "saga": saga, "sagas_run": sagas}


def saga_reasons(children: list[Child]) -> dict[str, int]:
    """Why registrations went to the saga, counted from the workers' logs (``--log-level INFO``;
    empty at the default WARNING)."""
    reasons: collections.Counter[str] = collections.Counter()
    for child in children:
        if not child.name.startswith("worker"):
            continue
        for line in child.log_path.read_text(errors="replace").splitlines():
            if "registration goes to the saga" in line and line.startswith("{"):
                reasons[json.loads(line).get("why", "?")] += 1
    return dict(reasons)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


async def start_emulator(workdir: Path) -> tuple[Child, str, ZoomConnectionConfig]:
    """The Zoom emulator as its own process (rate limits off): the child, its URL, the connection."""
    port = free_loopback_port()
    seed_file = workdir / "seed.json"
    seed_file.write_text(seed(datetime.now(UTC).replace(microsecond=0)).model_dump_json())
    emulator = Child(
        "emulator",
        [sys.executable, "-m", "zoom_emulator", "--port", str(port), "--seed", str(seed_file),
         "--log-level", "warning"],
        {}, workdir,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            emulator.check()
            try:
                await http.get(url + "/_admin/stats")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    async with EmulatorAdmin(url) as admin:
        await admin.set_rate_limit_mode(RateLimitMode.OFF)
    connection = ZoomConnectionConfig.model_validate(
        {
            "name": "bench",
            "account_id": ACCOUNT,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "api_base_url": f"{url}/v2",
            "oauth_base_url": url,
            "plan": "business",
        }
    )
    return emulator, url, connection


def worker_environment(
    client: Client, database_url: str, secrets_file: Path, connection: ZoomConnectionConfig, hooks_url: str
) -> dict[str, str]:
    """What ``rollcall worker`` is given (Rollcall's own Zoom token buckets off)."""
    return {
        "ROLLCALL_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "ROLLCALL_TEMPORAL_TASK_QUEUE": TASK_QUEUE,
        "ROLLCALL_DATABASE_URL": database_url,
        "ROLLCALL_SECRETS_FILE": str(secrets_file),
        # The receiver is on loopback, where webhooks go only when allowed.
        "ROLLCALL_WEBHOOK_ALLOW": hooks_url.removeprefix("http://"),
        "ROLLCALL_ZOOM_CONNECTIONS": json.dumps(
            [{**connection.model_dump(mode="json"), "client_secret": CLIENT_SECRET}]
        ),
        "ROLLCALL_ZOOM_RATE_LIMIT_ENABLED": "false",
        "ROLLCALL_LOG_LEVEL": "WARNING",
        "ROLLCALL_LOG_FORMAT": "json",
    }


async def check_outcome(emulator_url: str, count: int, hooks: list[str], parked: bool) -> None:
    """Every contact is a registrant in Zoom (both paths), and the flow sent what it should."""
    async with EmulatorAdmin(emulator_url) as admin:
        in_zoom = len(await admin.registrants(W_ENROLL)) - WARMUP
        direct_in_zoom = len(await admin.registrants(W_DIRECT)) - 1
    assert in_zoom == count and direct_in_zoom == count, (in_zoom, direct_in_zoom)
    recordings = sum(1 for path in hooks if path.endswith("/marketing/webinar-recording"))
    assert recordings == (WARMUP if parked else count + WARMUP), recordings


#: ``--eager``: the server hands an activity scheduled by a workflow task straight back to the worker
#: that completed it (no trip through the matching service).
EAGER_ACTIVITIES = ["--dynamic-config-value", "system.enableActivityEagerExecution=true"]


async def start_dev_server(workdir: Path, eager: bool) -> WorkflowEnvironment:
    """The Temporal dev server, its history in ``workdir`` with the WAL pragmas."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_database_filename=str(workdir / "temporal.db"),
        dev_server_extra_args=[
            *("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"),
            *(EAGER_ACTIVITIES if eager else ()),
        ],
        dev_server_log_level="error",
        search_attributes=SearchAttribute.ALL,
        data_converter=DATA_CONVERTER,
        ui=False,
    )


def write_secrets(workdir: Path, hooks_url: str) -> Path:
    secrets_file = workdir / "secrets.yaml"
    secrets_file.write_text(
        f"MARKETING_HOOK_TOKEN: bench\nOPS_ALERTS_URL: {hooks_url}/ops\nMARKETING_HOOKS_URL: {hooks_url}/marketing\n"
    )
    return secrets_file


def start_workers(options: argparse.Namespace, environment: dict[str, str], workdir: Path) -> list[Child]:
    """``--workers`` processes, each as ``rollcall worker`` runs it."""
    environment = environment | {
        "ROLLCALL_WORKFLOW_SANDBOX": str(options.sandbox).lower(),
        "ROLLCALL_LOG_LEVEL": options.log_level,
    }
    return [
        Child(
            "worker" if number == 1 else f"worker {number}",
            [sys.executable, "-m", "engine.cli", "worker"],
            environment,
            workdir,
        )
        for number in range(1, options.workers + 1)
    ]


def cpu_since(before: dict[str, float], children: list[Child]) -> dict[str, float]:
    """CPU seconds by process since ``before``; with ``--workers N``, "worker" is all of them."""
    cpu = {name: seconds - before.get(name, 0.0) for name, seconds in cpu_seconds(children).items()}
    return {name: seconds for name, seconds in cpu.items() if not name.startswith("worker ")} | {
        "worker": sum(seconds for name, seconds in cpu.items() if name.startswith("worker"))
    }


async def main(options: argparse.Namespace) -> None:
    count, concurrency, full, deadline = options.contacts, options.concurrency, options.full, options.deadline
    park = not full
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-") as tmp, webhook_receiver() as (hooks_url, hooks):
        workdir = Path(tmp)
        children: list[Child] = []
        env = await start_dev_server(workdir, options.eager)
        try:
            emulator, emulator_url, connection = await start_emulator(workdir)
            children.append(emulator)

            # The CRM store and the definitions.
            database_url = f"sqlite:///{workdir / 'rollcall.db'}"
            engine = setup_store(database_url)
            save_definitions(engine, hooks_url, "1h" if park else "1s")
            secrets_file = write_secrets(workdir, hooks_url)

            environment = worker_environment(env.client, database_url, secrets_file, connection, hooks_url)
            children += start_workers(options, environment, workdir)

            service = EnrollmentService(engine, env.client, task_queue=TASK_QUEUE, concurrency=concurrency)
            # Warm-up: worker polling, workflow caches, the worker's Zoom token and connections.
            await enroll(service, engine, WARMUP_KEY, "warmup", WARMUP, children)

            direct = await direct_calls(connection, count, concurrency)
            admitted = admit_bare(engine, count)
            before_bare = cpu_seconds(children)
            bare = await bare_starts(env.client, admitted, concurrency)
            server = "temporal dev server"
            bare_server_ms = (cpu_seconds(children)[server] - before_bare[server]) * 1000 / count
            load_before = load_average()
            before = cpu_seconds(children)
            starts, registered, seen, completed = await enroll(
                service, engine, KEY, "contact", count, children,
                verbose=True, until_completed=not park, deadline=deadline,
            )  # fmt: skip
            cpu = cpu_since(before, children)
            load_after = load_average()
            events = await events_of_one_registration(env.client, engine)

            await check_outcome(emulator_url, count, hooks, park)
        finally:
            for child in reversed(children):
                child.stop()
            await env.shutdown()
        # The workers' output reaches their log files when they stop.
        events["saga_reasons"] = saga_reasons(children)

    report(
        options,
        Measured(
            starts, registered, seen, completed, direct, bare, cpu, events, (load_before, load_after), bare_server_ms
        ),
    )


@dataclass(frozen=True)
class Measured:
    """Seconds from the first enroll call (``completed``: ``None`` unless ``--full``), CPU seconds by
    process while enrolling, history events of one registration, load average before and after."""

    starts: float
    registered: float
    seen: float
    completed: float | None
    direct: float
    bare: float
    cpu: dict[str, float]
    events: dict[str, Any]
    load: tuple[float, float]
    #: The Temporal server's CPU per bare start (ms): what a registration costs it beyond a start.
    bare_server_ms: float


def report(options: argparse.Namespace, measured: Measured) -> None:
    """The figures for people, then one ``BENCH {json}`` line with the target and whether it holds."""
    count, m = options.contacts, measured
    enrolled_rate, direct_rate, bare_rate = count / m.registered, count / m.direct, count / m.bare
    print(
        f"contacts:                 {count:,} (concurrency {options.concurrency}; "
        f"{WARMUP} warm-up enrollments not counted)"
    )
    print(f"enrollments started:      {m.starts:6.2f} s  ({count / m.starts:7.1f} starts/s)")
    print(
        f"all REGISTERED in store:  {m.registered:6.2f} s  ({enrolled_rate:7.1f} registrations/s)"
        f"  [seen by polling at {m.seen:.2f} s]"
    )
    if m.completed is not None:
        print(f"all enrollments complete: {m.completed:6.2f} s  ({count / m.completed:7.1f} enrollments/s, whole flow)")
    else:
        print("all enrollments:          parked in the 1h delay after registering (--full runs them to the end)")
    print(f"direct add_registrant:    {m.direct:6.2f} s  ({direct_rate:7.1f} registrations/s)")
    print(f"bare start_workflow:      {m.bare:6.2f} s  ({bare_rate:7.1f} workflows/s, the same workflows, unpolled)")
    print(
        f"direct / enrollment:      {direct_rate / enrolled_rate:.1f}x"
        f"  (enrollment reaches {enrolled_rate / direct_rate:.1%} of the direct rate)"
    )
    print(f"registrations / bare starts: {enrolled_rate / bare_rate:.2f}")
    print("CPU seconds while enrolling: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in m.cpu.items()))
    per_registration = {name: round(seconds * 1000 / count, 1) for name, seconds in m.cpu.items()}
    print("CPU ms per registration:     " + ", ".join(f"{name} {ms:.0f}" for name, ms in per_registration.items()))
    print(f"CPU ms per bare start:       temporal dev server {m.bare_server_ms:.1f}")
    print(
        f"history events of one registration: enrollment {m.events['enrollment']}, saga {m.events['saga']} "
        f"(sagas run: {m.events['sagas_run']})"
    )
    if m.events["saga_reasons"]:
        print(f"why the sagas ran (worker logs): {m.events['saga_reasons']}")
    print(f"machine: {os.cpu_count()} cores, load average (1 min) {m.load[0]} before, {m.load[1]} after enrolling")
    figures = {
        "bench": "add_to_webinar",
        "contacts": count,
        "concurrency": options.concurrency,
        "full": options.full,
        "eager_activities": options.eager,
        "workflow_sandbox": options.sandbox,
        "workers": options.workers,
        "registrations_per_s": round(enrolled_rate, 1),
        "direct_add_registrant_per_s": round(direct_rate, 1),
        "bare_starts_per_s": round(bare_rate, 1),
        "ratio_to_direct": round(enrolled_rate / direct_rate, 3),
        "ratio_to_bare_starts": round(enrolled_rate / bare_rate, 3),
        "cpu_ms_per_registration": per_registration,
        "server_cpu_ms_per_bare_start": round(m.bare_server_ms, 1),
        "history_events_per_registration": m.events,
        "load_average_1m": {"before": m.load[0], "after": m.load[1]},
        "cores": os.cpu_count(),
    }
    targets = {"registrations_per_s": TARGET_RATE}
    holds = {"registrations_per_s": enrolled_rate >= TARGET_RATE}
    print("BENCH " + json.dumps({**figures, "targets": targets, "holds": holds}, sort_keys=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--full",
        action="store_true",
        help="shorten the delay to 1s instead of 1h: every enrollment runs the whole flow while others still "
        "register, and the bench waits for all of them to complete",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=DEADLINE_SECONDS,
        help="seconds to wait for all registrations (loaded machines)",
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="let the dev server hand activities straight to the worker (system.enableActivityEagerExecution)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (a registration's CPU per process is then the sum over all of them)",
    )
    parser.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help="run the worker with ROLLCALL_WORKFLOW_SANDBOX=false (workflow code outside the SDK's sandbox)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="the workers' ROLLCALL_LOG_LEVEL; with INFO the output counts why registrations went to the saga",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments))
    # The SDK can abort at interpreter exit (docs/temporal.md, "SDK exit"): leave once the output is out.
    sys.stdout.flush()
    os._exit(0)

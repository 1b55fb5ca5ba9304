"""Bulk CRM writes against a row-by-row ORM loop, on SQLite and PostgreSQL.

Writes 10,000 contacts, 10,000 registrations, 12,000 attendance sessions and the rollups of every
touched contact through the repositories (batched ``INSERT … ON CONFLICT`` + one set-based rollup
UPDATE), then the same data with a plain ORM loop (one SELECT and one INSERT/UPDATE per row, rollups
computed per contact) in the same process, and prints rows/s and the ratio.

    .venv/bin/python bench/crm_bulk.py [--baseline-fraction 1.0] [--skip-postgres]

PostgreSQL runs in a scratch database created and dropped on 127.0.0.1:5432 when reachable.
Not a test: it is never collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from engine.crm.contacts import ContactUpsert, upsert_contacts
from engine.crm.db import create_db_engine, upgrade_database
from engine.crm.participations import (
    AttendanceSessionIn,
    MarketingEventUpsert,
    Registration,
    recompute_rollups,
    upsert_attendance_sessions,
    upsert_marketing_events,
    upsert_registrations,
)
from engine.crm.tables import AttendanceSession, Contact, Participation, ParticipationState

CONTACTS = 10_000
WEBINARS = 5
SESSIONS = 12_000
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
POSTGRES_ADMIN_URL = os.environ.get(
    "ROLLCALL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class Workload:
    """Contact i registers to webinar i % WEBINARS; the first 2,000 attend twice (two sessions)."""

    contacts: int

    @property
    def sessions(self) -> int:
        return self.contacts * SESSIONS // CONTACTS

    @property
    def rows(self) -> int:
        return self.contacts * 2 + self.sessions

    def email(self, i: int) -> str:
        return f"person{i:06}@example.com"

    def webinar(self, i: int) -> str:
        return f"8100000000{i % WEBINARS}"

    def session_times(self) -> Iterator[tuple[int, datetime, datetime]]:
        for n in range(self.sessions):
            i = n % self.contacts
            join = T0 + timedelta(minutes=(n // self.contacts) * 40)
            yield i, join, join + timedelta(minutes=5 + i % 30)


def _events(session: Session) -> dict[str, int]:
    return upsert_marketing_events(
        session,
        [
            MarketingEventUpsert(f"8100000000{w}", 1, f"Webinar {w}", start_time=T0, duration_minutes=60)
            for w in range(WEBINARS)
        ],
    )


def bulk(engine: Engine, work: Workload) -> None:
    with Session(engine) as session:
        ids = upsert_contacts(
            session, [ContactUpsert(work.email(i), f"First{i}", f"Last{i}") for i in range(work.contacts)]
        ).ids
        events = _events(session)
        touched: set[int] = set()
        by_webinar: dict[str, list[Registration]] = {}
        for i in range(work.contacts):
            link = f"https://zoom.us/w/{work.webinar(i)}?tk={i}"
            by_webinar.setdefault(work.webinar(i), []).append(
                Registration(ids[work.email(i)], T0 - timedelta(days=1), link)
            )
        for webinar, registrations in by_webinar.items():
            touched |= upsert_registrations(session, events[webinar], registrations)
        sessions: dict[str, list[AttendanceSessionIn]] = {}
        for i, join, leave in work.session_times():
            sessions.setdefault(work.webinar(i), []).append(AttendanceSessionIn(ids[work.email(i)], join, leave))
        for webinar, items in sessions.items():
            touched |= upsert_attendance_sessions(session, events[webinar], items)
        recompute_rollups(session, touched)
        session.commit()


def row_by_row(engine: Engine, work: Workload) -> None:
    """What a naive sync does: look each row up, then insert or update it, one at a time."""
    with Session(engine) as session:
        events = _events(session)
        session.commit()
        contact_ids = _contacts_row_by_row(session, work, events)
        _sessions_row_by_row(session, work, events, contact_ids)
        _rollups_row_by_row(session, work, contact_ids)
        session.commit()


def _contacts_row_by_row(session: Session, work: Workload, events: dict[str, int]) -> dict[int, int]:
    contact_ids: dict[int, int] = {}
    for i in range(work.contacts):
        contact = session.exec(select(Contact).where(Contact.email == work.email(i))).first()
        if contact is None:
            contact = Contact(email=work.email(i), first_name=f"First{i}", last_name=f"Last{i}")
            session.add(contact)
            session.flush()
        assert contact.id is not None
        contact_ids[i] = contact.id
        event_id = events[work.webinar(i)]
        participation = session.exec(
            select(Participation).where(
                Participation.marketing_event_id == event_id, Participation.contact_id == contact.id
            )
        ).first()
        if participation is None:
            participation = Participation(
                marketing_event_id=event_id, contact_id=contact.id, state=ParticipationState.REGISTERED
            )
        participation.registered_at = T0 - timedelta(days=1)
        participation.join_link = f"https://zoom.us/w/{work.webinar(i)}?tk={i}"
        session.add(participation)
        session.flush()
    return contact_ids


def _sessions_row_by_row(session: Session, work: Workload, events: dict[str, int], contact_ids: dict[int, int]) -> None:
    event_minutes = {events[w]: 60 for w in events}
    for i, join, leave in work.session_times():
        event_id = events[work.webinar(i)]
        found = session.exec(
            select(AttendanceSession).where(
                AttendanceSession.marketing_event_id == event_id,
                AttendanceSession.contact_id == contact_ids[i],
                AttendanceSession.join_time == join,
            )
        ).first()
        if found is None:
            found = AttendanceSession(marketing_event_id=event_id, contact_id=contact_ids[i], join_time=join)
        found.leave_time = leave
        found.seconds = int((leave - join).total_seconds())
        session.add(found)
        participation = session.exec(
            select(Participation).where(
                Participation.marketing_event_id == event_id, Participation.contact_id == contact_ids[i]
            )
        ).one()
        participation.attended = True
        participation.state = ParticipationState.ATTENDED
        participation.attendance_seconds += found.seconds
        participation.attendance_percent = min(
            100.0, participation.attendance_seconds / (event_minutes[event_id] * 60) * 100
        )
        session.add(participation)
        session.flush()


def _rollups_row_by_row(session: Session, work: Workload, contact_ids: dict[int, int]) -> None:
    for i in range(work.contacts):
        contact = session.get(Contact, contact_ids[i])
        assert contact is not None
        rows = session.exec(select(Participation).where(Participation.contact_id == contact_ids[i])).all()
        attended = [p.attendance_percent or 0.0 for p in rows if p.attended]
        contact.zoom_webinar_registration_count = sum(1 for p in rows if p.registered_at)
        contact.zoom_webinar_attendance_count = len(attended)
        contact.zoom_webinar_attendance_average_duration = sum(attended) / len(attended) if attended else None
        contact.zoom_webinar_joinlink = max(
            (p for p in rows if p.registered_at), key=lambda p: p.registered_at or T0
        ).join_link
        session.add(contact)


def _timed(run: Callable[[Engine, Workload], None], engine: Engine, work: Workload) -> float:
    started = time.perf_counter()
    run(engine, work)
    return time.perf_counter() - started


def _check(engine: Engine, work: Workload) -> None:
    with engine.connect() as connection:
        counts = connection.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM participations),"
                " (SELECT count(*) FROM attendance_sessions)"
            )
        ).one()
    assert tuple(counts) == (work.contacts, work.contacts, work.sessions), counts


def compare(backend: str, fresh: Callable[[], Engine], fraction: float) -> dict[str, float]:
    """``fresh`` gives an engine on an empty, migrated store."""
    full = Workload(CONTACTS)
    engine = fresh()
    bulk_seconds = _timed(bulk, engine, full)
    _check(engine, full)
    # Re-applying the batch (a re-sync of the same webinars) writes nothing new.
    resync_seconds = _timed(bulk, engine, full)
    _check(engine, full)
    engine.dispose()
    sample = Workload(max(1, int(CONTACTS * fraction)))
    engine = fresh()
    baseline_seconds = _timed(row_by_row, engine, sample)
    _check(engine, sample)
    engine.dispose()
    label = "full set" if sample.contacts == CONTACTS else f"{fraction:.0%} sample, extrapolated linearly"
    baseline_full = baseline_seconds * full.rows / sample.rows
    print(f"\n{backend}: {full.contacts} contacts + {full.contacts} registrations + {full.sessions} sessions + rollups")
    print(f"  bulk upserts      {bulk_seconds:7.2f} s   {full.rows / bulk_seconds:10,.0f} rows/s")
    print(f"  re-sync (no-op)   {resync_seconds:7.2f} s   {full.rows / resync_seconds:10,.0f} rows/s")
    print(
        f"  row-by-row ORM    {baseline_full:7.2f} s   {full.rows / baseline_full:10,.0f} rows/s"
        f"   ({label}: {baseline_seconds:.2f} s for {sample.rows} rows)"
    )
    print(f"  speed-up          {baseline_full / bulk_seconds:7.1f} x")
    return {
        "bulk_seconds": round(bulk_seconds, 3),
        "resync_seconds": round(resync_seconds, 3),
        "row_by_row_seconds": round(baseline_full, 3),
        "speedup": round(baseline_full / bulk_seconds, 2),
        "rows": full.rows,
    }


@contextmanager
def scratch_postgres() -> Iterator[str | None]:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"rollcall_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        print(f"\npostgresql: not reachable at {POSTGRES_ADMIN_URL} ({str(exc.orig).strip().splitlines()[0]}); skipped")
        admin.dispose()
        yield None
        return
    try:
        yield sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Bulk CRM writes against a row-by-row ORM loop.")
    parser.add_argument(
        "--baseline-fraction", type=float, default=1.0, help="share of the set the row-by-row loop runs"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-") as directory:
        files = iter(range(1_000))

        def fresh_sqlite() -> Engine:
            engine = create_db_engine(f"sqlite:///{Path(directory) / f'bench-{next(files)}.db'}")
            upgrade_database(engine)
            return engine

        results["sqlite"] = compare("sqlite (temp file)", fresh_sqlite, args.baseline_fraction)
    if not args.skip_postgres:
        with scratch_postgres() as url:
            if url is not None:
                results["postgresql"] = compare(
                    "postgresql (scratch database)", _fresh_postgres(url), args.baseline_fraction
                )
    print_bench_line(results)


def _fresh_postgres(database_url: str) -> Callable[[], Engine]:
    def fresh_postgres() -> Engine:
        engine = create_db_engine(database_url)
        upgrade_database(engine)
        with engine.begin() as connection:
            connection.execute(
                sa.text("TRUNCATE contacts, marketing_events, contact_tombstones RESTART IDENTITY CASCADE")
            )
        return engine

    return fresh_postgres


def print_bench_line(results: dict[str, dict[str, float]]) -> None:
    """One ``BENCH {json}`` line (issue #16 point 6). Targets: the bulk path beats the row-by-row loop
    on each backend, and PostgreSQL's bulk write is within 1.5× SQLite's (issue #16 point 3)."""
    targets: dict[str, float] = {"speedup_min": 1.0, "postgresql_to_sqlite_max": 1.5}
    holds = {f"{backend}_speedup": figures["speedup"] > targets["speedup_min"] for backend, figures in results.items()}
    if "postgresql" in results:
        ratio = results["postgresql"]["bulk_seconds"] / results["sqlite"]["bulk_seconds"]
        results["postgresql"]["to_sqlite"] = round(ratio, 2)
        holds["postgresql_to_sqlite"] = ratio <= targets["postgresql_to_sqlite_max"]
    line = {"bench": "crm_bulk", "cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0], **results}
    print("BENCH " + json.dumps({**line, "targets": targets, "holds": holds}, sort_keys=True))


if __name__ == "__main__":
    main()

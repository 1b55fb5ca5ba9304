"""#16.3 — on PostgreSQL a sync's page transactions plan their statements once.

A sync writes page after page with the same few statements, their rows passed as arrays; psycopg
prepares a statement after five uses, and PostgreSQL's default ``plan_cache_mode`` (``auto``)
kept planning some of them again at every execution (a custom plan each time). The sync's page
and transcript transactions ``SET LOCAL plan_cache_mode = force_generic_plan``
(``engine.crm.db.prefer_generic_plans``): one plan per statement, none after; the setting ends
with the transaction. SQLite has nothing of the kind: no statement is sent there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from sqlalchemy import Connection, Engine, event
from sqlmodel import Session

from engine.crm.db import prefer_generic_plans
from engine.crm.participations import MarketingEventUpsert, upsert_marketing_events
from engine.sync.writer import write_registrants
from engine.zoom.models import Registrant, RegistrantStatus

pytestmark = pytest.mark.timeout(120)

SET_GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan"
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
WRITES = re.compile(r"INSERT INTO (participations|attendance_sessions|transcript_cues)\b")


def _pages(connection: Connection, *, generic: bool, start: int) -> None:
    """Eight pages of 40 registrants of one webinar, one transaction each, as a sync writes them."""
    with Session(bind=connection) as session:
        event_id = upsert_marketing_events(session, [MarketingEventUpsert(f"9{start}", 1, "Plans", start_time=T0)])
        session.commit()
    for page in range(8):
        registrants = [
            Registrant(
                id=f"r{start}-{page}-{n}",
                email=f"p{start}-{page}-{n}@plans.example",
                status=RegistrantStatus.APPROVED,
                create_time=T0,
            )
            for n in range(40)
        ]
        with Session(bind=connection) as session:
            if generic:
                prefer_generic_plans(session)
            write_registrants(
                session,
                marketing_event_id=event_id[f"9{start}"],
                zoom_webinar_id=f"9{start}",
                business_unit_id=1,
                excluded_domains=[],
                registrants=registrants,
                seen_at=T0,
            )
            session.commit()


def _plans(connection: Connection) -> list[tuple[str, int, int]]:
    rows = connection.execute(sa.text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"))
    result = [(str(statement), int(generic), int(custom)) for statement, generic, custom in rows]
    connection.rollback()
    return result


def test_a_syncs_pages_plan_each_statement_once_on_postgresql_16_3(db_engine: Engine) -> None:
    if db_engine.dialect.name == "sqlite":
        with Session(db_engine) as session:
            prefer_generic_plans(session)  # sends nothing: SQLite has no such setting
            assert session.execute(sa.text("SELECT 1")).scalar_one() == 1
        return
    with db_engine.connect() as connection:
        _pages(connection, generic=True, start=1)
        generic = _plans(connection)
        assert connection.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "auto"  # ended with the page
        connection.rollback()
    prepared = [row for row in generic if row[1] + row[2] > 0]
    assert len(prepared) >= 4, generic  # the page's statements ran prepared (psycopg: after five uses)
    assert [row for row in prepared if row[2] > 0] == []  # never a custom plan
    assert all(row[1] >= 1 for row in prepared)
    with db_engine.connect() as connection:  # the default, for contrast: what the setting avoids
        _pages(connection, generic=False, start=2)
        default = _plans(connection)
    assert max(row[2] for row in default) >= 3, default  # planned again at every execution


async def test_the_syncs_page_and_transcript_transactions_ask_for_generic_plans_16_3(
    sync_world: SyncWorld, db_engine: Engine
) -> None:
    """Every transaction of the sync that writes participations, sessions or transcript cues
    begins with the setting on PostgreSQL; nothing is sent on SQLite."""
    statements: dict[int, list[str]] = defaultdict(list)
    transactions: list[list[str]] = []

    def executed(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        statements[id(connection.connection.dbapi_connection)].append(statement)

    def ended(connection: Connection) -> None:
        transactions.append(statements.pop(id(connection.connection.dbapi_connection), []))

    event.listen(db_engine, "before_cursor_execute", executed)
    event.listen(db_engine, "commit", ended)
    try:
        result = await sync_world.sync(world.W_ENDED)
    finally:
        event.remove(db_engine, "before_cursor_execute", executed)
        event.remove(db_engine, "commit", ended)
    assert result.status == "partial"  # as in test_sync: one guest without an e-mail
    writes = [t for t in transactions if any(WRITES.search(s) for s in t)]
    assert len(writes) >= 3  # registrants, sessions, the transcript
    if db_engine.dialect.name == "postgresql":
        assert all(t[0] == SET_GENERIC for t in writes), [t[:2] for t in writes]
    else:
        assert not any(SET_GENERIC in s for t in transactions for s in t)


def test_a_postgresql_without_the_setting_gets_no_statement_16_3(db_engine: Engine) -> None:
    """``plan_cache_mode`` came with PostgreSQL 12: before it, the sync's pages send nothing (the
    statement would fail every page)."""
    if db_engine.dialect.name == "sqlite":
        return
    with Session(db_engine) as session:
        session.connection()
        real = db_engine.dialect.server_version_info
        db_engine.dialect.server_version_info = (11, 22)
        try:
            prefer_generic_plans(session)
            assert session.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "auto"
        finally:
            db_engine.dialect.server_version_info = real
        prefer_generic_plans(session)
        assert session.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "force_generic_plan"

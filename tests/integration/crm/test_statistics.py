"""#16.3 — PostgreSQL's statistics follow a sync's writes: ANALYZE of the sync's tables each time
the rows written for one webinar double (from 2,000), so the planner stops treating a webinar it
has just written 100,000 rows of as a handful of rows. SQLite: nothing to do."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from engine.crm.statistics import FIRST_ANALYZE_ROWS, SYNC_COLUMNS, SYNC_TABLES, StatisticsKeeper


def _analyzed(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        rows = connection.execute(
            sa.text("SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(:tables)"),
            {"tables": list(SYNC_TABLES)},
        )
        return {name: int(count) for name, count in rows}


@pytest.mark.new_database  # counts ANALYZEs: none of autovacuum's on a reused, emptied database
def test_the_statistics_are_refreshed_each_time_a_webinars_rows_double_16_3(db_engine: Engine) -> None:
    keeper = StatisticsKeeper(db_engine)
    if db_engine.dialect.name == "sqlite":
        assert keeper.wrote("w1", 1_000_000) is False
        return
    before = _analyzed(db_engine)
    assert keeper.wrote("w1", FIRST_ANALYZE_ROWS - 1) is False
    assert keeper.wrote("w1", 1) is True  # 2,000 written
    assert keeper.wrote("w2", 300) is False  # counted per webinar
    assert keeper.wrote("w1", FIRST_ANALYZE_ROWS - 1) is False
    assert keeper.wrote("w1", 1) is True  # 4,000
    assert keeper.wrote("w1", 7_999) is True  # 11,999: the next is at 23,998
    assert keeper.wrote("w1", 11_998) is False
    after = _analyzed(db_engine)
    assert {table: after[table] - before.get(table, 0) for table in after} == dict.fromkeys(SYNC_TABLES, 3)


@pytest.mark.parametrize("rows", [0, -5])
def test_nothing_written_changes_nothing_16_3(db_engine: Engine, rows: int) -> None:
    assert StatisticsKeeper(db_engine).wrote("w1", rows) is False


@pytest.mark.new_database  # reads pg_stats: nothing left from another test's ANALYZE
def test_the_refresh_computes_statistics_for_the_key_columns_only_16_3(db_engine: Engine) -> None:
    """The columns the sync's plans depend on get statistics; e-mails, names, keys compared with
    the locale's collation (the costly part of each ANALYZE) are left to autovacuum."""
    if db_engine.dialect.name == "sqlite":
        return
    with db_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO contacts (email, properties, created_at, updated_at, "
                "zoom_webinar_registration_count, zoom_webinar_attendance_count) "
                "SELECT 'k' || g || '@stats.example', '{}', now(), now(), 0, 0 "
                "FROM generate_series(1, 50) g"
            )
        )
    assert StatisticsKeeper(db_engine).wrote("w1", FIRST_ANALYZE_ROWS) is True
    with db_engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT tablename, attname FROM pg_stats WHERE tablename = ANY(:tables)"),
            {"tables": list(SYNC_TABLES)},
        )
        analyzed = {(table, column) for table, column in rows}
    assert ("contacts", "id") in analyzed
    assert {column for table, column in analyzed if table == "contacts"} == set(SYNC_COLUMNS["contacts"])

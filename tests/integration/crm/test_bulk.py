"""``engine.crm.bulk`` on both stores: upserts and insert-if-missing write what SQLAlchemy's own
path writes, count what they insert, and take each statement's own literals (on SQLite a
statement is compiled once per shape and run by the driver's executemany, #16.4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.dialects import sqlite

from engine.crm.bulk import excluded_of, insert_missing, upsert
from engine.crm.tables import UTCDateTime

META = sa.MetaData()
PROBE = sa.Table(
    "bulk_probe",
    META,
    sa.Column("key", sa.Integer, primary_key=True),
    sa.Column("label", sa.String, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=True),
    sa.Column("data", sa.JSON, nullable=True),
    sa.Column("seen", sa.Integer, nullable=False, default=7),
)
AT = datetime(2025, 6, 1, 9, 30, 15, 250, tzinfo=UTC)


@pytest.fixture
def probe(db_engine: Engine) -> Iterator[Engine]:
    META.create_all(db_engine)
    yield db_engine
    META.drop_all(db_engine)


def _rows(engine: Engine) -> dict[int, tuple[Any, ...]]:
    with engine.connect() as connection:
        found = connection.execute(sa.select(PROBE.c.key, PROBE.c.label, PROBE.c.at, PROBE.c.data, PROBE.c.seen))
        return {row[0]: tuple(row[1:]) for row in found}


def _row(key: int, label: str, **values: Any) -> dict[str, Any]:
    return {"key": key, "label": label, "at": AT + timedelta(minutes=key), "data": {"n": key}, "seen": 1, **values}


def test_insert_missing_counts_only_what_it_inserted(probe: Engine) -> None:
    with probe.begin() as connection:
        assert insert_missing(connection, PROBE, [_row(1, "a"), _row(2, "b")], key=["key"]) == 2
    with probe.begin() as connection:
        again = [_row(1, "changed"), _row(2, "b"), _row(3, "c"), _row(4, "d"), _row(5, "e")]
        assert insert_missing(connection, PROBE, again, key=["key"]) == 3
    rows = _rows(probe)
    assert rows[1] == ("a", AT + timedelta(minutes=1), {"n": 1}, 1)  # left alone
    assert sorted(rows) == [1, 2, 3, 4, 5]


def test_values_read_back_as_written(probe: Engine) -> None:
    """Aware datetimes in any zone are stored as UTC and read back equal; JSON and NULLs round-trip."""
    plus_two = timezone(timedelta(hours=2))
    with probe.begin() as connection:
        upsert(
            connection,
            PROBE,
            [_row(1, "a", at=AT.astimezone(plus_two)), _row(2, "b", at=None, data=None), _row(3, "c", at=AT)],
            key=["key"],
            update=["label", "at", "data"],
        )
    rows = _rows(probe)
    assert rows[1] == ("a", AT, {"n": 1}, 1)
    assert rows[2] == ("b", None, None, 1)
    assert rows[3][1] == AT and rows[3][1].tzinfo is not None


def test_each_statement_takes_its_own_literals(probe: Engine) -> None:
    """Two upserts of the same shape whose update sets a different literal: each writes its own."""
    with probe.begin() as connection:
        upsert(connection, PROBE, [_row(1, "a"), _row(2, "b")], key=["key"], update=[])
    for label in ("first", "second"):
        with probe.begin() as connection:
            excluded = excluded_of(connection, PROBE)
            update = {"label": sa.literal(label), "seen": excluded.seen + 1}
            upsert(connection, PROBE, [_row(1, "ignored", seen=10)], key=["key"], update=update)
        assert _rows(probe)[1][0] == label
    assert _rows(probe)[1][3] == 11 and _rows(probe)[2][0] == "b"


def test_a_column_left_out_takes_its_default(probe: Engine) -> None:
    with probe.begin() as connection:
        rows: list[dict[str, Any]] = [{"key": key, "label": f"l{key}", "at": AT, "data": {}} for key in (1, 2)]
        assert insert_missing(connection, PROBE, rows, key=["key"]) == 2
    assert {row[3] for row in _rows(probe).values()} == {7}


def test_an_update_where_nothing_changes_writes_nothing(probe: Engine) -> None:
    with probe.begin() as connection:
        upsert(connection, PROBE, [_row(1, "a")], key=["key"], update=["label"])
    with probe.begin() as connection:
        excluded = excluded_of(connection, PROBE)
        changed = PROBE.c.label.is_distinct_from(excluded.label)
        upsert(connection, PROBE, [_row(1, "a", seen=5)], key=["key"], update=["label", "seen"], update_where=changed)
    assert _rows(probe)[1][3] == 1  # the label did not change, so neither did ``seen``


@pytest.mark.parametrize(
    "value",
    [
        AT,
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 3, 30, 1, 30, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
        None,
    ],
)
def test_sqlite_binds_timestamps_as_sqlalchemy_writes_them(value: datetime | None) -> None:
    """``UTCDateTime``'s one-step SQLite processor gives SQLAlchemy's own text (SQLite compares it
    as text, so it must be exactly that)."""
    dialect = sqlite.dialect()
    column = UTCDateTime()
    fast = column.dialect_impl(dialect).bind_processor(dialect)
    generic: Any = sa.TypeDecorator.bind_processor(column.dialect_impl(dialect), dialect)  # type: ignore[arg-type]
    assert fast is not None and generic is not None
    assert fast(value) == generic(value)
    with pytest.raises(ValueError, match="naive datetime"):
        fast(datetime(2025, 1, 1))

"""Batched ``INSERT … ON CONFLICT`` in each dialect's own spelling.

Every sync write is an upsert keyed by a business key (R-SYNC-6). One statement is compiled
once and executed over many parameter sets (the driver's ``executemany``: C-speed in sqlite3,
pipelined in psycopg), so no statement ever carries more bound parameters than one row has;
SQLite's variable limit cannot be hit. ``insert_missing`` adds RETURNING to count what it wrote,
and SQLAlchemy then batches rows into multi-row INSERTs kept under each backend's limit.
Compiling a literal multi-row ``VALUES`` instead costs more than the database work itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

#: Rows per execute call: bounds memory and how long one statement holds SQLite's write lock.
#: IN lists use the same size, far under SQLite's 32,766 parameters.
MAX_ROWS_PER_STATEMENT = 2_000

Row = Mapping[str, Any]
T = TypeVar("T")


def connection_of(session: Session) -> Connection:
    """The connection of the session's current transaction, for Core statements."""
    return session.connection()


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(connection: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Row],
    *,
    key: Sequence[str],
    update: Mapping[str, Any] | Sequence[str],
    update_where: ColumnElement[bool] | None = None,
) -> None:
    """Insert ``rows``; on a conflict on ``key`` update ``update`` (column names, taken from the new
    row, or a mapping to expressions built with ``excluded``), or leave the stored row when empty.

    ``update_where`` limits updates to rows that really change, so a re-applied batch writes
    nothing (and ``updated_at`` keeps its value).
    """
    if not rows:
        return
    statement = dialect_insert(connection, table)
    values = dict(update) if isinstance(update, Mapping) else {name: statement.excluded[name] for name in update}
    upserting = (
        statement.on_conflict_do_update(index_elements=list(key), set_=values, where=update_where)
        if values
        else statement.on_conflict_do_nothing(index_elements=list(key))
    )
    for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT):
        connection.execute(upserting, list(chunk))


def insert_missing(connection: Connection, table: Table, rows: Sequence[Row], *, key: Sequence[str]) -> int:
    """Insert the ``rows`` whose ``key`` is not stored yet (``ON CONFLICT DO NOTHING``); returns how many."""
    if not rows:
        return 0
    statement = dialect_insert(connection, table).on_conflict_do_nothing(index_elements=list(key))
    # RETURNING counts the inserted rows on both backends (psycopg reports no rowcount for a batch);
    # it costs a little more, so plain upserts do without it.
    returning = statement.returning(*(table.c[name] for name in key))
    inserted = 0
    for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT):
        inserted += len(connection.execute(returning, list(chunk)).all())
    return inserted


def any_changed(table: Table, values: Mapping[str, Any]) -> ColumnElement[bool]:
    """True when one of ``values`` (column name → new expression) differs from the stored value, NULLs included."""
    return or_(*(table.c[name].is_distinct_from(value) for name, value in values.items()))


def excluded_of(connection: Connection, table: Table) -> Any:
    """The ``excluded`` pseudo-table to build ``update`` expressions and ``update_where`` with."""
    return dialect_insert(connection, table).excluded

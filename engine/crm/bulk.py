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

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from engine.crm.numbers import json_dumps

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
    if connection.dialect.name == "postgresql":
        _upsert_postgresql(connection, table, rows, key, values, update_where)
        return
    upserting = _on_conflict(statement, key, values, update_where)
    for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT):
        connection.execute(upserting, list(chunk))


def _on_conflict(
    statement: Any, key: Sequence[str], values: Mapping[str, Any], update_where: ColumnElement[bool] | None
) -> Any:
    if values:
        return statement.on_conflict_do_update(index_elements=list(key), set_=dict(values), where=update_where)
    return statement.on_conflict_do_nothing(index_elements=list(key))


def _upsert_postgresql(
    connection: Connection,
    table: Table,
    rows: Sequence[Row],
    key: Sequence[str],
    values: Mapping[str, Any],
    update_where: ColumnElement[bool] | None,
) -> None:
    """PostgreSQL (#16.3): a batch is one ``INSERT … SELECT unnest(:a), unnest(:b), … ON CONFLICT``
    with one array per column — a short statement, prepared once, whatever the batch's size —
    instead of one statement per row. One statement may not touch a row twice, so a batch ends
    where a key comes again: rows still apply in order, as one by one."""
    names = list(rows[0])
    selected = dialect_insert(connection, table).from_select(names, _unnest_select(table, names))
    upserting = _on_conflict(selected, key, values, update_where)
    for batch in _batches_without_repeated_keys(rows, key):
        connection.execute(upserting, _unnest_params(table, names, batch))


def _is_json(table: Table, name: str) -> bool:
    return isinstance(table.c[name].type, sa.JSON)


def _unnest_select(table: Table, names: Sequence[str]) -> sa.Select[Any]:
    """``SELECT unnest(CAST(:unnest_0 AS type[])), …``: rows passed as one array per column. JSON
    columns travel as text (an array of JSON arrays would read as a 2-D array) and are cast back."""
    selected: list[Any] = []
    for i, name in enumerate(names):
        column_type = table.c[name].type
        if _is_json(table, name):
            texts = sa.cast(sa.bindparam(f"unnest_{i}", type_=ARRAY(sa.Text)), ARRAY(sa.Text))
            selected.append(sa.cast(sa.func.unnest(texts), column_type))
        else:
            selected.append(
                sa.func.unnest(sa.cast(sa.bindparam(f"unnest_{i}", type_=ARRAY(column_type)), ARRAY(column_type)))
            )
    return sa.select(*selected)


def _unnest_params(table: Table, names: Sequence[str], rows: Sequence[Row]) -> dict[str, list[Any]]:
    return {
        f"unnest_{i}": [json_dumps(row[name]) for row in rows] if _is_json(table, name) else [row[name] for row in rows]
        for i, name in enumerate(names)
    }


def _batches_without_repeated_keys(rows: Sequence[Row], key: Sequence[str]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    for row in rows:
        identity = tuple(row.get(name) for name in key)
        if identity in seen or len(batch) >= MAX_ROWS_PER_STATEMENT:
            yield batch
            batch, seen = [], set()
        batch.append(row)
        seen.add(identity)
    if batch:
        yield batch


def insert_missing(connection: Connection, table: Table, rows: Sequence[Row], *, key: Sequence[str]) -> int:
    """Insert the ``rows`` whose ``key`` is not stored yet (``ON CONFLICT DO NOTHING``); returns how many."""
    if not rows:
        return 0
    if connection.dialect.name == "postgresql":
        # One unnest statement per chunk (#16.3); RETURNING counts what was inserted.
        names = list(rows[0])
        selected = dialect_insert(connection, table).from_select(names, _unnest_select(table, names))
        counting = selected.on_conflict_do_nothing(index_elements=list(key)).returning(*(table.c[name] for name in key))
        return sum(
            len(connection.execute(counting, _unnest_params(table, names, chunk)).all())
            for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT)
        )
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

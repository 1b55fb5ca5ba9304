"""Batched ``INSERT … ON CONFLICT`` in each dialect's own spelling.

Every sync write is an upsert keyed by a business key (R-SYNC-6). One statement is compiled
once and executed over many parameter sets (the driver's ``executemany``: C-speed in sqlite3,
pipelined in psycopg), so no statement ever carries more bound parameters than one row has;
SQLite's variable limit cannot be hit. ``insert_missing`` adds RETURNING to count what it wrote,
and SQLAlchemy then batches rows into multi-row INSERTs kept under each backend's limit.
Compiling a literal multi-row ``VALUES`` instead costs more than the database work itself.

On SQLite the statement is compiled once per call and the driver's ``executemany`` gets plain
tuples, each value bound by its column's own processor (``_SqliteMany``): SQLAlchemy's per-row
parameter machinery cost more CPU than SQLite itself on a 100,000-attendee sync (#16.4), and the
driver's row count tells ``insert_missing`` how many rows it inserted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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


def one_of(connection: Connection | str, column: Any, values: Any) -> ColumnElement[bool]:
    """``column IN values`` (a sequence, or an expanding ``bindparam`` whose value is one): on
    PostgreSQL spelled ``column = ANY(:array)``: one parameter and a short statement that psycopg
    converts once and caches, where a 2,000-value IN list is a statement of tens of kilobytes that
    SQLAlchemy expands and psycopg parses again on every execution (a third of the worker's CPU in
    a PostgreSQL re-sync, #16.3). ``connection``: the connection, or its dialect's name."""
    dialect = connection if isinstance(connection, str) else connection.dialect.name
    if dialect != "postgresql":
        return column.in_(values)  # type: ignore[no-any-return]
    if isinstance(values, sa.BindParameter):
        values = sa.bindparam(values.key, type_=ARRAY(column.type))
    else:
        values = sa.bindparam(None, list(values), type_=ARRAY(column.type))
    return column == sa.any_(values)  # type: ignore[no-any-return]


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
    excluded = excluded_of(connection, table)
    values = dict(update) if isinstance(update, Mapping) else {name: excluded[name] for name in update}
    if connection.dialect.name == "postgresql":
        _upsert_postgresql(connection, table, rows, key, values, update_where)
        return
    upserting = _on_conflict(statement, key, values, update_where)
    execute_many(connection, upserting, rows)


def execute_many(connection: Connection, statement: Any, rows: Sequence[Row]) -> int:
    """``statement`` over ``rows`` (each with the same keys), ``MAX_ROWS_PER_STATEMENT`` at a time;
    returns the rows the database reports changed (SQLite's driver sums them over an executemany)."""
    if not rows:
        return 0
    prepared = _SqliteMany.of(connection, statement, list(rows[0])) if connection.dialect.name == "sqlite" else None
    if prepared is None:
        return sum(
            connection.execute(statement, list(chunk)).rowcount for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT)
        )
    many, literals = prepared
    return sum(many.run(connection, chunk, literals) for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT))


@dataclass(frozen=True)
class _SqliteMany:
    """A statement compiled for SQLite's positional parameters. Per parameter, ``slots`` holds the
    row's key it takes, or — for a literal of the statement — None and the literal's position among
    the statement's extracted parameters (``CacheKey.bindparams``), with the type's bind processor.
    Compiled once per statement shape (its cache key and the row's keys), as SQLAlchemy would."""

    sql: str
    slots: tuple[tuple[str | None, int, Callable[[Any], Any] | None], ...]

    @classmethod
    def of(cls, connection: Connection, statement: Any, names: Sequence[str]) -> tuple[_SqliteMany, list[Any]] | None:
        """The compiled statement and this statement's literal values; None when it needs more than
        positional binds (expanding, literal-execute, or a column default computed at execution)."""
        key = statement._generate_cache_key()
        if key is None:
            return None
        shape = (key.key, tuple(names))
        many = _SQLITE_MANY.get(shape)
        if many is None:
            many = cls._compiled(connection, statement, key, names)
            if many is None:
                return None
            if len(_SQLITE_MANY) >= _SQLITE_MANY_SIZE:
                _SQLITE_MANY.pop(next(iter(_SQLITE_MANY)))
            _SQLITE_MANY[shape] = many
        return many, [bind.effective_value for bind in key.bindparams]

    @classmethod
    def _compiled(cls, connection: Connection, statement: Any, key: Any, names: Sequence[str]) -> _SqliteMany | None:
        dialect = connection.dialect
        compiled = statement.compile(dialect=dialect, column_keys=list(names))
        order = compiled.positiontup
        if order is None or compiled.literal_execute_params or compiled.post_compile_params:
            return None
        names_of = compiled.bind_names
        literals = {names_of[bind]: position for position, bind in enumerate(key.bindparams) if bind in names_of}
        slots: list[tuple[str | None, int, Callable[[Any], Any] | None]] = []
        for name in order:
            processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if name in names:
                slots.append((name, 0, processor))
            elif name in literals:
                slots.append((None, literals[name], processor))
            else:
                return None  # a column default: SQLAlchemy computes it per execution
        return cls(str(compiled), tuple(slots))

    def run(self, connection: Connection, rows: Sequence[Row], extracted: Sequence[Any]) -> int:
        """The statement over ``rows`` with this statement's literals (``extracted``); the rows changed."""
        literals = {
            index: processor(extracted[position]) if processor else extracted[position]
            for index, (name, position, processor) in enumerate(self.slots)
            if name is None
        }
        tuples = [
            tuple(
                literals[index] if name is None else processor(row[name]) if processor else row[name]
                for index, (name, _position, processor) in enumerate(self.slots)
            )
            for row in rows
        ]
        return int(connection.exec_driver_sql(self.sql, tuples).rowcount)


#: Compiled ``_SqliteMany`` by statement shape; a few dozen shapes are in use.
_SQLITE_MANY: dict[tuple[Any, ...], _SqliteMany] = {}
_SQLITE_MANY_SIZE = 256


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
    selected = dialect_insert(connection, table).from_select(names, unnest_select(table, names))
    upserting = _on_conflict(selected, key, values, update_where)
    for batch in _batches_without_repeated_keys(rows, key):
        connection.execute(upserting, unnest_params(table, names, batch))


def _is_json(table: Table, name: str) -> bool:
    return isinstance(table.c[name].type, sa.JSON)


def unnest_select(table: Table, names: Sequence[str]) -> sa.Select[Any]:
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


def unnest_params(table: Table, names: Sequence[str], rows: Sequence[Row]) -> dict[str, list[Any]]:
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
        selected = dialect_insert(connection, table).from_select(names, unnest_select(table, names))
        counting = selected.on_conflict_do_nothing(index_elements=list(key)).returning(*(table.c[name] for name in key))
        return sum(
            len(connection.execute(counting, unnest_params(table, names, chunk)).all())
            for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT)
        )
    # SQLite's driver counts the rows an executemany inserted (a conflict changes none).
    return execute_many(
        connection, dialect_insert(connection, table).on_conflict_do_nothing(index_elements=list(key)), rows
    )


def any_changed(table: Table, values: Mapping[str, Any]) -> ColumnElement[bool]:
    """True when one of ``values`` (column name → new expression) differs from the stored value, NULLs included."""
    return or_(*(table.c[name].is_distinct_from(value) for name, value in values.items()))


def excluded_of(connection: Connection, table: Table) -> Any:
    """The ``excluded`` pseudo-table to build ``update`` expressions and ``update_where`` with."""
    return _excluded(connection.dialect.name, table)


@functools.cache
def _excluded(dialect: str, table: Table) -> Any:
    """Built once per table: it is only ever rendered by name (``excluded.<column>``)."""
    return (sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)).excluded

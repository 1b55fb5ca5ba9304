"""Database engines and migrations for the CRM store (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from engine.crm.numbers import json_dumps
from engine.crm.sqlite_transactions import install_sqlite_transactions, read_only
from engine.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the worker writes; busy_timeout makes concurrent writers wait
    # instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _binary_lists(dbapi_connection: Any, _record: Any) -> None:
    """psycopg sends Python lists (the ``= ANY(:array)`` look-ups and the ``unnest`` arrays of the
    bulk writes) in PostgreSQL's binary array format: its text format quotes and escapes every
    element with a regular expression in Python — a sixth of the worker's CPU in a PostgreSQL
    sync (#16.3). The lists Rollcall sends hold one type each, which the binary format needs."""
    from psycopg.types.array import ListBinaryDumper

    dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def _create_sqlite_file(path: Path) -> None:
    """Create the store's file owner-only (#12.7) before SQLite would create it under the umask (its
    -wal and -shm files take the database file's mode); a path that cannot work is one line."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        problem = f"cannot create or open the SQLite file {path}: {exc.strerror}"
        raise ConfigurationError(f"ROLLCALL_DATABASE_URL: {problem}") from None


def create_db_engine(
    url: str, *, pool_size: int | None = None, max_overflow: int | None = None, **kwargs: Any
) -> Engine:
    """An engine for ``url``; raises ConfigurationError with a one-line reason for a URL that cannot work.

    JSON columns never hold NaN or ±Infinity (``json_dumps``, #13.2); SQLite transactions follow
    ``engine.crm.sqlite_transactions`` (#13.4). ``pool_size`` and ``max_overflow`` size a
    PostgreSQL engine's connection pool (``ROLLCALL_DATABASE_POOL_SIZE``, ``…_MAX_OVERFLOW``);
    None keeps SQLAlchemy's 5 and 10."""
    kwargs.setdefault("json_serializer", json_dumps)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"ROLLCALL_DATABASE_URL is not a database URL: {exc}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"ROLLCALL_DATABASE_URL uses {parsed.get_backend_name()!r}; Rollcall supports sqlite and postgresql"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        _create_sqlite_file(Path(parsed.database))
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"check_same_thread": False}, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            install_sqlite_transactions(engine, parsed.database or "")
        else:
            if pool_size is not None:
                kwargs.setdefault("pool_size", pool_size)
            if max_overflow is not None:
                kwargs.setdefault("max_overflow", max_overflow)
            engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
            if parsed.get_driver_name() == "psycopg":
                event.listen(engine, "connect", _binary_lists)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(f"ROLLCALL_DATABASE_URL needs a driver that is not installed: {exc}") from None
    return engine


def check_database(engine: Engine) -> None:
    """Raise ConfigurationError (one line, no secrets) when the database cannot be reached."""
    try:
        with read_only(engine).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0]
        raise ConfigurationError(
            f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from None


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    check_database(engine)
    command.upgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with read_only(engine).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def prefer_generic_plans(session: Any) -> None:
    """Let PostgreSQL plan each of this transaction's prepared statements once (#16.3).

    A sync writes page after page with the same statements, their rows passed as arrays
    (``= ANY(:ids)``, ``unnest``); psycopg prepares a statement after five uses, but under
    PostgreSQL's default ``plan_cache_mode`` (``auto``) a statement whose generic plan looks
    dearer than its custom ones is planned again at every execution — 5–9 % of the server's time
    in a 10k sync, whose pages run the same few statements hundreds of times. ``SET LOCAL`` ends
    with the transaction: the connection goes back to the pool with the default, and the API and
    registration paths keep it. Plans are made again when ANALYZE changes a table's statistics
    (``engine.crm.statistics``). Nothing to do on SQLite, which has no plan cache of this kind,
    nor before PostgreSQL 12, which has no such setting."""
    if session.get_bind().dialect.name != "postgresql":
        return
    connection = session.connection()  # connected: the dialect knows the server's version
    if (connection.dialect.server_version_info or (0,)) >= (12,):
        connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))

"""The test harness: a real Temporal dev server, real databases (SQLite and, when
``ROLLCALL_TEST_POSTGRES_URL`` is set, PostgreSQL), and per-test task queues."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.cli.supervisor import installed_binary
from engine.crm.db import create_db_engine, upgrade_database
from engine.temporal import DATA_CONVERTER, SearchAttribute, register_search_attributes

POSTGRES_URL_VARIABLE = "ROLLCALL_TEST_POSTGRES_URL"

# In CI the property tests use a fixed seed so a landing never hinges on a lucky draw; locally
# they keep exploring new examples (and remember failures in .hypothesis/).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")
REPO_ROOT = Path(__file__).resolve().parent.parent
# --import-mode=importlib puts no test folder on sys.path: shared helpers live in tests/support.
sys.path.insert(0, str(REPO_ROOT / "tests"))
from support.ports import free_port  # noqa: E402 (tests/ is on sys.path from here on)

#: Parallel runs (pytest-xdist) and the README walk-through beside the suite: see its docstring.
pytest_plugins = ["support.parallel"]

# --- pytest plumbing ---------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    # The SDK can abort at interpreter exit after all work is done (docs/temporal.md, "SDK exit"):
    # once pytest has succeeded, leave without running the interpreter's finalisers.
    result = yield
    if result == 0 and not config.getoption("--collect-only"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return result


def pytest_report_header(config: pytest.Config) -> list[str]:
    if os.environ.get(POSTGRES_URL_VARIABLE):
        return [f"databases: sqlite and postgresql ({POSTGRES_URL_VARIABLE} is set)"]
    return [f"databases: sqlite only — {POSTGRES_URL_VARIABLE} is not set, PostgreSQL tests are not run"]


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on right now, that no other test process hands out."""
    return free_port()


# --- Temporal ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        search_attributes=SearchAttribute.ALL,
        data_converter=DATA_CONVERTER,
        ui=False,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, for long timers (delays of days)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def activity_executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=32, thread_name_prefix="test-activity") as executor:
        yield executor


# --- Databases ---------------------------------------------------------------------------------


def _database_params() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get(POSTGRES_URL_VARIABLE):
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


class _PostgresTemplates:
    """One migrated template database per session; each test gets a database equal to it.

    Databases a test is done with go back to a pool, emptied to the template's state (every table's
    rows and every sequence as the migrations left them) — an emptying takes tens of milliseconds
    where ``CREATE DATABASE … TEMPLATE`` and ``DROP DATABASE`` took half a second or more under
    the suite's load. A database whose schema a test changed (another revision, other tables,
    columns or indexes) is dropped instead, and so is one a test asked to have new
    (``@pytest.mark.new_database``).
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.template = f"rollcall_tmpl_{os.getpid()}"
        self._drop(self.template)
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.template}"'))
        migrated = create_db_engine(self._url(self.template))
        upgrade_database(migrated)
        self._seed = _Seed.of(migrated)
        migrated.dispose()
        self._pool: list[tuple[str, str]] = []

    def _url(self, database: str) -> str:
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def _drop(self, database: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    def fresh(self, *, new: bool = False) -> tuple[str, str]:
        """A database equal to the template: an emptied one from the pool unless ``new``."""
        if self._pool and not new:
            return self._pool.pop()
        name = f"rollcall_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name, self._url(name)

    def release(self, name: str, url: str) -> None:
        """Back to the pool, emptied to the template's state; dropped when that cannot be done."""
        with self.admin.connect() as connection:  # whatever a test's processes left connected
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
        try:
            self._seed.restore(url)
        except Exception:
            self._drop(name)
            return
        self._pool.append((name, url))

    def close(self) -> None:
        for name, _ in self._pool:
            self._drop(name)
        self._drop(self.template)
        self.admin.dispose()


class _SchemaChanged(Exception):
    """A test changed the pooled database's schema: it is dropped, not reused."""


#: What a database's schema is, as one text: tables, columns, types, defaults, indexes, revision.
_SCHEMA_QUERY = text(
    """
    SELECT md5(
        coalesce((SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':'
                                    || coalesce(column_default, ''), ',' ORDER BY table_name, column_name)
                  FROM information_schema.columns WHERE table_schema = 'public'), '')
        || coalesce((SELECT string_agg(indexdef, ',' ORDER BY indexdef) FROM pg_indexes
                     WHERE schemaname = 'public'), '')
        || coalesce((SELECT string_agg(version_num, ',') FROM alembic_version), '')
    )
    """
)


class _Seed:
    """The rows and sequence positions the migrations leave in a new store, to restore them."""

    def __init__(self, schema: str, tables: list[Any], rows: dict[str, list[dict[str, Any]]], sequences: list[Any]):
        self.schema, self.tables, self.rows, self.sequences = schema, tables, rows, sequences

    @classmethod
    def of(cls, engine: Engine) -> _Seed:
        from sqlalchemy import MetaData

        metadata = MetaData()
        metadata.reflect(engine)
        tables = [table for table in metadata.sorted_tables if table.name != "alembic_version"]
        with engine.connect() as connection:
            schema = connection.execute(_SCHEMA_QUERY).scalar_one()
            rows = {table.name: [dict(row._mapping) for row in connection.execute(table.select())] for table in tables}
            sequences = connection.execute(
                text(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), start_value, last_value "
                    "FROM pg_sequences WHERE schemaname = 'public'"
                )
            ).all()
        return cls(schema, tables, {name: found for name, found in rows.items() if found}, list(sequences))

    def restore(self, url: str) -> None:
        """Empty every table, put the seed rows back and rewind the sequences, in one transaction."""
        from sqlalchemy.pool import NullPool

        engine = create_engine(make_url(url), poolclass=NullPool)
        try:
            with engine.begin() as connection:
                if connection.execute(_SCHEMA_QUERY).scalar_one() != self.schema:
                    raise _SchemaChanged(url)
                connection.execute(text("SET LOCAL session_replication_role = replica"))  # no FK checks
                for table in reversed(self.tables):
                    connection.execute(table.delete())
                for table in self.tables:
                    if table.name in self.rows:
                        connection.execute(table.insert(), self.rows[table.name])
                for name, start, last in self.sequences:
                    connection.execute(
                        text("SELECT setval(CAST(:name AS regclass), :value, :called)"),
                        {"name": name, "value": start if last is None else last, "called": last is not None},
                    )
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrated = create_db_engine(f"sqlite:///{path}")
    upgrade_database(migrated)
    migrated.dispose()
    # Fold the WAL back into the main file so a plain file copy carries everything.
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def _postgres_templates() -> Iterator[_PostgresTemplates | None]:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        yield None
        return
    templates = _PostgresTemplates(url)
    yield templates
    templates.close()


@pytest.fixture(params=_database_params())
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _postgres_templates: _PostgresTemplates | None,
) -> Iterator[str]:
    """A freshly migrated, empty CRM store for one test, on each configured backend."""
    if request.param == "sqlite":
        path = tmp_path / "rollcall.db"
        shutil.copyfile(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    assert _postgres_templates is not None
    new = request.node.get_closest_marker("new_database") is not None
    name, url = _postgres_templates.fresh(new=new)
    yield url
    if new:
        _postgres_templates._drop(name)
    else:
        _postgres_templates.release(name, url)


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()

"""The test harness: a real Temporal dev server, real databases (SQLite and, when
``ROLLCALL_TEST_POSTGRES_URL`` is set, PostgreSQL), and per-test task queues."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
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

from engine.crm.db import create_db_engine, upgrade_database
from engine.supervisor import installed_binary
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


#: The README walk-through (#15.5) waits ten minutes for Zoom's clock: it starts in a thread when
#: collection ends, runs while the rest of the suite does, and its test — moved last — reports it.
#: Under pytest-xdist (``make test`` runs ``-n``) the thread runs in the controller, which is idle
#: while the workers test, and the worker that gets the test reads the result from a file (below).
WALKTHROUGH_TEST = "test_readme_walkthrough.py::test_the_readme_walkthrough_runs_as_printed"
WALKTHROUGH_MODULE = "e2e.test_readme_walkthrough"  # tests/ is on sys.path
_WALKTHROUGH_RESULT = "rollcall_walkthrough_result"  # the workers' workerinput key: the result file
_RUNNING_WALKTHROUGH = pytest.StashKey[Any]()
_RESULT_DIR = pytest.StashKey[Path]()


def _walkthrough_item(items: list[pytest.Item]) -> pytest.Item | None:
    return next((item for item in items if item.nodeid.endswith(WALKTHROUGH_TEST)), None)


#: Under pytest-xdist a fixture of these scopes would be set up once in every worker that gets one
#: of its tests (``rollcall api`` and ``worker`` processes, say): its tests stay in one worker.
_SHARED_SCOPES = frozenset({"package", "module", "class"})


def _group_for_xdist(item: pytest.Item) -> None:
    """Marks a test ``xdist_group`` (``--dist loadgroup`` runs a group's tests one after another in
    one worker), unless it names a group itself: ``heavy`` tests form one group; a test that uses a
    module-, class- or package-scoped fixture joins its module's group."""
    if item.get_closest_marker("xdist_group") is not None:
        return
    if item.get_closest_marker("heavy") is not None:  # several processes each: one heavy test at a time
        item.add_marker(pytest.mark.xdist_group("heavy"))
        return
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
        return
    if any(d.scope in _SHARED_SCOPES for defs in fixtures.name2fixturedefs.values() for d in defs):
        item.add_marker(pytest.mark.xdist_group(Path(item.nodeid.split("::", 1)[0]).stem))


@pytest.hookimpl(tryfirst=True)  # before xdist's, which puts the group into the test's id
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for each in items:
        _group_for_xdist(each)
    item = _walkthrough_item(items)
    if item is not None:
        items.remove(item)
        items.append(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    item = _walkthrough_item(session.items)
    if item is None or config.getoption("--collect-only"):
        return
    module = item.module  # type: ignore[attr-defined]
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: the controller runs it
        config.stash[module.WALKTHROUGH_KEY] = _RelayedWalkthrough(Path(workerinput[_WALKTHROUGH_RESULT]))
        return
    running = module.Walkthrough(Path(tempfile.mkdtemp(prefix="rollcall-walkthrough-")))
    config.stash[module.WALKTHROUGH_KEY] = running
    running.start()
    config.stash[_RUNNING_WALKTHROUGH] = running


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, for each worker: where the walk-through's result will be."""
    stash = node.config.stash
    if _RESULT_DIR not in stash:
        stash[_RESULT_DIR] = Path(tempfile.mkdtemp(prefix="rollcall-walkthrough-result-"))
    node.workerinput[_WALKTHROUGH_RESULT] = str(stash[_RESULT_DIR] / "result")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist's controller, once a worker has collected: start the walk-through if it is selected."""
    config: pytest.Config = node.config
    if _RUNNING_WALKTHROUGH in config.stash or not any(nodeid.endswith(WALKTHROUGH_TEST) for nodeid in ids):
        return
    module = importlib.import_module(WALKTHROUGH_MODULE)
    running = module.Walkthrough(Path(tempfile.mkdtemp(prefix="rollcall-walkthrough-")))
    config.stash[_RUNNING_WALKTHROUGH] = running
    running.start()
    result = config.stash[_RESULT_DIR] / "result"
    threading.Thread(target=_relay_walkthrough, args=(running, module.WALKTHROUGH_SECONDS, result), daemon=True).start()


def _relay_walkthrough(running: Any, timeout: float, result: Path) -> None:
    """Waits for the walk-through and writes its result for the worker whose test reports it:
    empty when it passed, else its failure."""
    try:
        running.result(timeout=timeout)
        text = ""
    except BaseException:
        text = traceback.format_exc()
    partial = result.with_suffix(".partial")
    with contextlib.suppress(OSError):  # the session ended first and removed the folder
        partial.write_text(text, encoding="utf-8")
        partial.rename(result)


class _RelayedWalkthrough:
    """In an xdist worker, the walk-through the controller runs: its result, once written."""

    def __init__(self, result: Path) -> None:
        self.path = result

    def result(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.path.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"the walk-through did not finish within {timeout:.0f} s")
            time.sleep(1)
        failure = self.path.read_text(encoding="utf-8")
        if failure:
            raise AssertionError(f"the walk-through (run by xdist's controller) failed:\n{failure}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    running = session.config.stash.get(_RUNNING_WALKTHROUGH, None)
    if running is not None:
        running.stop()
    if _RESULT_DIR in session.config.stash:  # the controller's, once every worker is done
        shutil.rmtree(session.config.stash[_RESULT_DIR], ignore_errors=True)


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
    """One migrated template database per session; each test gets a fresh copy of it."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.template = f"rollcall_tmpl_{os.getpid()}"
        self._drop(self.template)
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.template}"'))
        migrated = create_db_engine(self._url(self.template))
        upgrade_database(migrated)
        migrated.dispose()

    def _url(self, database: str) -> str:
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def _drop(self, database: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    def fresh(self) -> tuple[str, str]:
        name = f"rollcall_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name, self._url(name)

    def close(self) -> None:
        self._drop(self.template)
        self.admin.dispose()


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
    name, url = _postgres_templates.fresh()
    yield url
    _postgres_templates._drop(name)


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()

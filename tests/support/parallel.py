"""How the suite runs in parallel (pytest-xdist; ``make test`` passes ``-n``): a pytest plugin,
loaded by ``tests/conftest.py``.

- **Groups.** ``--dist loadgroup`` (in ``addopts``) runs the tests of one ``xdist_group`` one
  after another in one worker. Tests marked ``heavy`` (several Rollcall processes each) form one
  group; a test that uses a module-, class- or package-scoped fixture joins its module's group, so
  that fixture (``rollcall api`` and ``worker`` processes, say) is set up once, not once in every
  worker that gets one of its tests. xdist starts the biggest groups first.
- **The README walk-through** (#15.5) waits about eleven minutes for Zoom's clock: it runs in a
  thread while the rest of the suite does, and its test — moved last — waits for it and reports
  it. Without xdist the thread starts when collection ends. Under xdist it runs in the controller
  (idle while the workers test), started as the session starts when the arguments cover it (and
  stopped if collection then leaves it out) or else once a worker has collected it; the worker
  that gets its test reads the result from a file the controller writes.
- **Per worker**: each worker has its own Temporal dev server, time-skipping server, SQLite and
  PostgreSQL templates (``tests/conftest.py``, session-scoped) and port block
  (``support.ports``).
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

WALKTHROUGH_TEST = "test_readme_walkthrough.py::test_the_readme_walkthrough_runs_as_printed"
WALKTHROUGH_FILE = Path(__file__).resolve().parents[1] / "e2e" / "test_readme_walkthrough.py"
WALKTHROUGH_MODULE = "e2e.test_readme_walkthrough"  # tests/ is on sys.path
_RESULT_INPUT = "rollcall_walkthrough_result"  # the workers' workerinput key: the result file
_RUNNING = pytest.StashKey[Any]()
_RESULT_DIR = pytest.StashKey[Path]()
_LEFT_OUT = pytest.StashKey[threading.Event]()

#: Scopes of fixtures that would otherwise be set up in every worker that gets one of their tests.
_SHARED_SCOPES = frozenset({"package", "module", "class"})


def _group(item: pytest.Item) -> None:
    """Marks ``item`` ``xdist_group`` as the module's docstring says, unless it names a group."""
    if item.get_closest_marker("xdist_group") is not None:
        return
    if item.get_closest_marker("heavy") is not None:
        item.add_marker(pytest.mark.xdist_group("heavy"))
        return
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
        return
    if any(d.scope in _SHARED_SCOPES for defs in fixtures.name2fixturedefs.values() for d in defs):
        item.add_marker(pytest.mark.xdist_group(Path(item.nodeid.split("::", 1)[0]).stem))


def _walkthrough_item(items: list[pytest.Item]) -> pytest.Item | None:
    return next((item for item in items if item.nodeid.endswith(WALKTHROUGH_TEST)), None)


@pytest.hookimpl(tryfirst=True)  # before xdist's, which puts the group into the test's id
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for each in items:
        _group(each)
    item = _walkthrough_item(items)
    if item is not None:
        items.remove(item)
        items.append(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist: start the walk-through. In an xdist worker: its test reads the controller's."""
    config = session.config
    item = _walkthrough_item(session.items)
    if item is None or config.getoption("--collect-only"):
        return
    module = item.module  # type: ignore[attr-defined]
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.stash[module.WALKTHROUGH_KEY] = _RelayedWalkthrough(Path(workerinput[_RESULT_INPUT]))
        return
    running = module.Walkthrough(Path(tempfile.mkdtemp(prefix="rollcall-walkthrough-")))
    config.stash[module.WALKTHROUGH_KEY] = running
    running.start()
    config.stash[_RUNNING] = running


# --- xdist's controller ------------------------------------------------------------------------


def _result_file(config: pytest.Config) -> Path:
    if _RESULT_DIR not in config.stash:
        config.stash[_RESULT_DIR] = Path(tempfile.mkdtemp(prefix="rollcall-walkthrough-result-"))
    return config.stash[_RESULT_DIR] / "result"


def _arguments_cover_the_walkthrough(config: pytest.Config) -> bool:
    """Whether the command line selects the walk-through before collection says so: a path
    argument that is its file or a folder above it, and no ``-k``/``-m`` selection."""
    if config.getoption("keyword", "") or config.getoption("markexpr", ""):
        return False
    for argument in config.args:
        path, _, rest = argument.partition("::")
        target = (config.invocation_params.dir / path).resolve()
        if (target == WALKTHROUGH_FILE and rest in ("", WALKTHROUGH_TEST.split("::")[1])) or (
            not rest and target in WALKTHROUGH_FILE.parents
        ):
            return True
    return False


def _start_in_controller(config: pytest.Config) -> None:
    module = importlib.import_module(WALKTHROUGH_MODULE)
    running = module.Walkthrough(Path(tempfile.mkdtemp(prefix="rollcall-walkthrough-")))
    config.stash[_RUNNING] = running
    config.stash[_LEFT_OUT] = left_out = threading.Event()
    running.start()
    result = _result_file(config)
    relay = threading.Thread(target=_relay, args=(running, module.WALKTHROUGH_SECONDS, result, left_out), daemon=True)
    relay.start()


def pytest_sessionstart(session: pytest.Session) -> None:
    """xdist's controller: start the walk-through now if the arguments cover it — the workers
    take a while to collect."""
    config = session.config
    if config.pluginmanager.hasplugin("dsession") and _arguments_cover_the_walkthrough(config):
        _start_in_controller(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, for each worker: where the walk-through's result will be."""
    node.workerinput[_RESULT_INPUT] = str(_result_file(node.config))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist's controller, once a worker has collected: start the walk-through if it is selected
    and not yet started; stop it if it was started but collection left it out."""
    config: pytest.Config = node.config
    selected = any(nodeid.endswith(WALKTHROUGH_TEST) for nodeid in ids)
    running = config.stash.get(_RUNNING, None)
    if running is None and selected:
        _start_in_controller(config)
    elif running is not None and not selected and not config.stash[_LEFT_OUT].is_set():
        config.stash[_LEFT_OUT].set()
        running.stop()


def _relay(running: Any, timeout: float, result: Path, left_out: threading.Event) -> None:
    """Waits for the walk-through and writes its result for the worker whose test reports it:
    empty when it passed, else its failure."""
    try:
        running.result(timeout=timeout)
        text = ""
    except BaseException:
        text = traceback.format_exc()
    if left_out.is_set():  # stopped because collection left it out: nothing to look at
        shutil.rmtree(running.folder, ignore_errors=True)
        return
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
    running = session.config.stash.get(_RUNNING, None)
    if running is not None:
        running.stop()  # waits for `rollcall up` to stop
        if _LEFT_OUT in session.config.stash and session.config.stash[_LEFT_OUT].is_set():
            shutil.rmtree(running.folder, ignore_errors=True)
    if _RESULT_DIR in session.config.stash:  # xdist's controller, once every worker is done
        shutil.rmtree(session.config.stash[_RESULT_DIR], ignore_errors=True)

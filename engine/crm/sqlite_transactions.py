"""SQLite's transactions (#13.4): the embedded store holds concurrent writers.

SQLite has one writer at a time. pysqlite begins a transaction only at its first write, and
deferred: a transaction that read and then writes fails at once with "database is locked" (or,
before the first write, reads a state another connection then changes under it) whatever the
busy timeout. So, on every SQLite engine of ``engine.crm.db``:

- pysqlite's own BEGIN is taken over (``isolation_level = None``, SQLAlchemy's documented recipe
  for pysqlite), and every transaction begins ``IMMEDIATE``: it takes the write lock at its start,
  after the writers of this process that asked before it (``WriteTurns``), and waits up to the
  busy timeout for another process's writer;
- transactions that only read use ``read_only(engine)``: they begin deferred and never wait (WAL);
- a writer that waits more than a few seconds is logged with the thread that holds the lock, and
  one that waits in an event loop thread (which may stop the holder from finishing) as an error.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, event
from sqlalchemy import exc as sa_exc

log = structlog.get_logger("rollcall.store")

#: How long a SQLite writer waits for the write lock before "database is locked" (the
#: ``busy_timeout`` pragma of ``engine.crm.db`` says the same in milliseconds).
SQLITE_BUSY_SECONDS = 30.0
#: Execution option of ``read_only``: the transaction begins deferred and takes no write turn.
READ_ONLY = "rollcall_read_only"
_TURN = "rollcall_write_turn"
_READ_ONLY_ENGINE = "_rollcall_read_only_engine"


def _take_over_begin(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would BEGIN (deferred) on its own before the first write: ``_sqlite_begin`` does.
    dbapi_connection.isolation_level = None


class WriteTurns:
    """SQLite's one write lock, handed to this process's writers in the order they asked.

    SQLite's own busy handler polls (every 100 ms at worst) and is not fair: a writer that
    commits and begins again at once — the enrollment group commit under load — can win the lock
    over and over while another one (a definition PUT) waits for seconds. Queueing in the process
    first makes every writer wait at most for the ones ahead of it; SQLite's lock still guards
    against other processes.
    """

    #: A wait longer than this is logged (with the thread that holds the lock).
    SLOW_SECONDS = 5.0

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._taken = False
        #: The name of the thread that took the turn (for the slow-wait warning).
        self._holder_name = ""

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._taken:
                self._take()
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if _in_event_loop():
            # A bug to fix where it happens: the loop stops while this thread waits, and the
            # holder may need the loop to end its transaction (a request's session closes there).
            log.error("a store write waits for the SQLite write lock in an event loop thread; use a worker thread")
        try:
            handed = self._wait(turn, timeout)
        except BaseException:
            # An exception raised in this thread while it waited — a sync activity's thread gets
            # one asynchronously when the activity is cancelled or times out: a turn handed to it
            # meanwhile is passed on, never kept (a kept turn stops every writer of the process).
            self._give_up(turn)
            raise
        if handed:
            self._take()
        return handed

    def _wait(self, turn: threading.Event, timeout: float) -> bool:
        if turn.wait(min(timeout, self.SLOW_SECONDS)):
            return True
        log.warning(
            "waiting for the SQLite write lock",
            seconds=self.SLOW_SECONDS,
            held_by=self._holder_name,
            waiting=threading.current_thread().name,
        )
        if turn.wait(max(0.0, timeout - self.SLOW_SECONDS)):
            return True
        with self._mutex:
            if turn.is_set():
                return True  # handed over just as the wait ended
            self._waiting.remove(turn)
            return False

    def _give_up(self, turn: threading.Event) -> None:
        with self._mutex:
            handed = turn.is_set()
            if not handed:
                self._waiting.remove(turn)
        if handed:
            self.release()

    def _take(self) -> None:
        self._taken = True
        self._holder_name = threading.current_thread().name

    def release(self) -> None:
        with self._mutex:
            self._holder_name = ""
            if self._waiting:
                self._waiting.popleft().set()  # handed over: still taken
            else:
                self._taken = False


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_turns_lock = threading.Lock()
_turns_by_file: dict[str, WriteTurns] = {}


def _turns_for(database: str) -> WriteTurns:
    """One queue per database file in this process (engines on the same file share it)."""
    path = database if database in ("", ":memory:") else str(Path(database).resolve())
    with _turns_lock:
        return _turns_by_file.setdefault(path, WriteTurns())


def _sqlite_begin(turns: WriteTurns) -> Callable[[Connection], None]:
    """Begin each transaction ``IMMEDIATE`` (it takes the write lock at once, in its turn), so a
    transaction that reads and then writes can never fail to upgrade ("database is locked" at
    once, whatever the busy timeout). ``read_only`` connections begin deferred."""

    def begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        if options.get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # a read: deferred, it never waits for a writer
            return
        if not turns.acquire(SQLITE_BUSY_SECONDS):
            raise sa_exc.OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        try:
            connection.info[_TURN] = turns  # from here the connection's end (or its return) releases it
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end_turn(connection)
            raise

    return begin


def _end_turn(connection: Connection) -> None:
    turns: WriteTurns | None = connection.info.pop(_TURN, None)
    if turns is not None:
        turns.release()


def _end_turn_of_record(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
    # A connection returned or dropped without commit or rollback must not keep the turn.
    turns: WriteTurns | None = record.info.pop(_TURN, None) if record is not None else None
    if turns is not None:
        turns.release()


def install_sqlite_transactions(engine: Engine, database: str) -> None:
    """Install the transaction policy above on a SQLite ``engine`` of the file ``database``."""
    event.listen(engine, "connect", _take_over_begin)
    event.listen(engine, "begin", _sqlite_begin(_turns_for(database)))
    event.listen(engine, "commit", _end_turn)
    event.listen(engine, "rollback", _end_turn)
    event.listen(engine.pool, "checkin", _end_turn_of_record)
    event.listen(engine.pool, "invalidate", _end_turn_of_record)


def is_database_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked" (SQLITE_BUSY after the busy timeout)."""
    cause = getattr(exc, "orig", None) or exc
    return isinstance(cause, sqlite3.OperationalError) and "database is locked" in str(cause)


def read_only(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they begin deferred and never wait
    for a writer (WAL); elsewhere nothing changes. A write in such a transaction may fail with
    "database is locked" on SQLite — use it for reads only."""
    if engine.get_execution_options().get(READ_ONLY):
        return engine
    # Made once per engine and kept on it (building one costs ~70 µs; read paths are hot).
    found: Engine | None = engine.__dict__.get(_READ_ONLY_ENGINE)
    if found is None:
        found = engine.__dict__[_READ_ONLY_ENGINE] = engine.execution_options(**{READ_ONLY: True})
    return found

"""SQLite's transactions (#13.4): the embedded store holds concurrent writers.

SQLite has one writer at a time. pysqlite begins a transaction only at its first write, and
deferred: a transaction that read and then writes fails at once with "database is locked" (or,
before the first write, reads a state another connection then changes under it) whatever the
busy timeout. So, on every SQLite engine of ``engine.crm.db``:

- pysqlite's own BEGIN is taken over (``isolation_level = None``, SQLAlchemy's documented recipe
  for pysqlite), and every transaction begins ``IMMEDIATE``: it takes the write lock at its start,
  after the writers of this process that asked before it (``WriteTurns``) and, across processes,
  after taking the database's lock file (``LockFile``: the kernel wakes a waiting process the
  moment the holder lets go, where SQLite's busy handler sleeps up to 100 ms and can miss a lock
  that is free only between two back-to-back transactions); it waits up to the busy timeout;
- transactions that only read use ``read_only(engine)``: they begin deferred and never wait (WAL);
- a writer that waits more than a few seconds is logged with the thread that holds the lock, and
  one that waits in an event loop thread (which may stop the holder from finishing) as an error.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
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
#: Execution option of ``polite``: the transaction lets other processes' waiting writers go first.
POLITE = "rollcall_polite_writer"
_TURN = "rollcall_write_turn"


def _take_over_begin(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would BEGIN (deferred) on its own before the first write: ``_sqlite_begin`` does.
    dbapi_connection.isolation_level = None


class LockFile:
    """Writers of several processes on one SQLite file, in turn: an exclusive ``flock`` on
    ``<database>.writelock``, taken by one writer of this process at a time (its ``WriteTurns``
    holder) before ``BEGIN IMMEDIATE``.

    A writer that must wait first says so — a shared lock on ``<database>.writelock-queue`` — and
    blocks in the kernel, which wakes it as soon as the holder lets go. A polite writer (``polite``)
    that finds others waiting lets them go first (it takes the queue file exclusively, which it
    gets only when no one waits), so a worker that writes page after page with no pause (a sync
    pass, the next page read ahead) can no longer keep another process's writer out for its whole
    run, as it could under SQLite's busy handler alone (#16.4). Other writers take the lock when it
    is free: making the API's group commit wait for every waiting worker write cost it a fifth of
    its enrollments per second (``bench/enroll.py``). Waits are bounded: they happen in a helper thread,
    and a wait given up lets the locks go as soon as it gets them. The kernel drops the locks of a
    process that dies.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.queue_path = f"{path}-queue"
        self._held: int | None = None

    def _open(self, path: str) -> int:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self, timeout: float, *, polite: bool = True) -> bool:
        """The lock within ``timeout``. ``polite``: first let the writers already waiting go (a
        writer that writes again and again: a sync pass); otherwise take the lock if it is free
        (the API's group commit, the worker's action logs: they write once per request)."""
        lock, queue = self._open(self.path), self._open(self.queue_path)
        try:
            if (not polite or self._try(queue, fcntl.LOCK_EX)) and self._try(lock, fcntl.LOCK_EX):
                os.close(queue)  # no one waited and the lock was free
                self._held = lock
                return True
        except BaseException:
            os.close(lock)
            os.close(queue)
            raise
        return self._wait(lock, queue, timeout, polite)

    @staticmethod
    def _try(fd: int, operation: int) -> bool:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _wait(self, lock: int, queue: int, timeout: float, polite: bool) -> bool:
        mutex = threading.Lock()
        got = threading.Event()
        given_up = False

        def wait() -> None:
            try:
                if polite:
                    fcntl.flock(queue, fcntl.LOCK_EX)  # the writers already waiting go first
                fcntl.flock(queue, fcntl.LOCK_SH)  # then this one waits, saying so
                fcntl.flock(lock, fcntl.LOCK_EX)
                with mutex:
                    if not given_up:
                        got.set()
            except OSError:
                pass
            finally:
                os.close(queue)
                if not got.is_set():
                    os.close(lock)  # given up (or a flock failed): the lock, if taken, goes with it

        threading.Thread(target=wait, name="sqlite-lock-file", daemon=True).start()
        try:
            got.wait(timeout)
        finally:
            with mutex:
                taken = got.is_set()
                given_up = not taken
        if taken:
            self._held = lock
        return taken

    def release(self) -> None:
        fd, self._held = self._held, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor of the open file lets the flock go


class WriteTurns:
    """SQLite's one write lock, handed to this process's writers in the order they asked.

    SQLite's own busy handler polls (every 100 ms at worst) and is not fair: a writer that
    commits and begins again at once — the enrollment group commit under load — can win the lock
    over and over while another one (a definition PUT) waits for seconds. Queueing in the process
    first makes every writer wait at most for the ones ahead of it; the turn's holder then takes
    the database's ``LockFile`` (if there is one) against other processes' writers, and SQLite's
    lock still guards against writers that take no lock file.
    """

    #: A wait longer than this is logged (with the thread that holds the lock).
    SLOW_SECONDS = 5.0

    def __init__(self, lock_file: LockFile | None = None) -> None:
        self._lock_file = lock_file
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._taken = False
        #: The name of the thread that took the turn (for the slow-wait warning).
        self._holder_name = ""

    def acquire(self, timeout: float, *, polite: bool = False) -> bool:
        """This process's turn, then the lock file: False if either takes longer than ``timeout``.
        ``polite``: see ``LockFile.acquire``."""
        deadline = time.monotonic() + timeout
        if not self._acquire_turn(timeout):
            return False
        if self._lock_file is None:
            return True
        try:
            taken = self._lock_file.acquire(max(0.0, deadline - time.monotonic()), polite=polite)
        except BaseException:
            self._hand_over()
            raise
        if not taken:
            self._hand_over()
        return taken

    def _acquire_turn(self, timeout: float) -> bool:
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
            self._hand_over()

    def _take(self) -> None:
        self._taken = True
        self._holder_name = threading.current_thread().name

    def release(self) -> None:
        """Let the lock file go, then hand the turn to the next writer of this process."""
        if self._lock_file is not None:
            self._lock_file.release()
        self._hand_over()

    def _hand_over(self) -> None:
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
    """One queue per database file in this process (engines on the same file share it), with the
    file's ``LockFile`` (an in-memory database has none)."""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    path = database if in_memory else str(Path(database).resolve())
    with _turns_lock:
        turns = _turns_by_file.get(path)
        if turns is None:
            turns = _turns_by_file[path] = WriteTurns(None if in_memory else LockFile(f"{path}.writelock"))
        return turns


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
        if not turns.acquire(SQLITE_BUSY_SECONDS, polite=bool(options.get(POLITE))):
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


def polite(engine: Engine) -> Engine:
    """``engine`` for a writer that writes transaction after transaction with no pause (a sync
    pass's pages): on SQLite each of its transactions first lets the writers of other processes
    that wait go (``LockFile``), so it cannot keep them out for its whole run; a writer that
    writes once per request does not wait for others that way (the API's throughput would pay
    for it). Elsewhere nothing changes."""
    return _with_option(engine, POLITE)


def read_only(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they begin deferred and never wait
    for a writer (WAL); elsewhere nothing changes. A write in such a transaction may fail with
    "database is locked" on SQLite — use it for reads only."""
    return _with_option(engine, READ_ONLY)


def _with_option(engine: Engine, option: str) -> Engine:
    """``engine`` with the execution option ``option`` set. Made once per engine and kept on it
    (building one costs ~70 µs; read paths are hot)."""
    if engine.get_execution_options().get(option):
        return engine
    kept = f"_rollcall_{option}_engine"
    found: Engine | None = engine.__dict__.get(kept)
    if found is None:
        found = engine.__dict__[kept] = engine.execution_options(**{option: True})
    return found

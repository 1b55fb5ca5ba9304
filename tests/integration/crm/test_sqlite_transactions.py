"""#13.4 — SQLite holds concurrent writers: transactions begin IMMEDIATE (a read-then-write
transaction can no longer fail to upgrade its lock), writers of one process take the write lock
in the order they asked, and read-only sessions never wait for a writer. #16.4 — writers of
several processes take turns too (the lock file beside the database)."""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from engine.crm.contacts import create_contact, update_contact
from engine.crm.db import create_db_engine
from engine.crm.sqlite_transactions import LockFile, WriteTurns, read_only
from engine.crm.tables import Contact

pytestmark = pytest.mark.timeout(60)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _name_of(engine: Engine, contact_id: int) -> str | None:
    with Session(read_only(engine)) as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        return contact.first_name


@sqlite_only
def test_a_read_then_write_transaction_survives_a_concurrent_writer_13_4(db_engine: Engine, database_url: str) -> None:
    """#13.4: A reads, B (on an engine of its own) tries to write, A writes and commits, then B's
    write lands: no "database is locked", no lost update. Before, pysqlite began A's transaction
    only at its first write: B committed in between and A overwrote it from a stale read (with a
    deferred BEGIN, A's upgrade would have failed with "database is locked" instead)."""
    with Session(db_engine) as session:
        contact_id = create_contact(session, email="race@example.com", first_name="start").id
        session.commit()
    assert contact_id is not None
    other = create_db_engine(database_url)
    a_has_read = threading.Event()
    errors: list[BaseException] = []

    def writer_b() -> None:
        a_has_read.wait(10)
        try:
            with Session(other) as session:
                update_contact(session, contact_id, first_name="from B")
                session.commit()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer_b)
    thread.start()
    try:
        with Session(db_engine) as session:
            contact = session.get(Contact, contact_id)
            assert contact is not None and contact.first_name == "start"
            a_has_read.set()
            thread.join(0.5)  # B is waiting for A's lock (or, before the fix, committed meanwhile)
            update_contact(session, contact_id, first_name=f"{contact.first_name} then A")
            session.commit()
        thread.join(20)
    finally:
        other.dispose()
    assert not thread.is_alive() and errors == []
    assert _name_of(db_engine, contact_id) == "from B"  # B waited for A, then wrote after it


@sqlite_only
def test_read_only_sessions_do_not_wait_for_a_writer_13_4(db_engine: Engine) -> None:
    """#13.4: while a writer holds the write lock, a read-only session reads (the last committed
    state, WAL) instead of queueing behind it."""
    with Session(db_engine) as session:
        contact_id = create_contact(session, email="reader@example.com", first_name="committed").id
        session.commit()
    assert contact_id is not None
    seen: list[str | None] = []
    reader = threading.Thread(target=lambda: seen.append(_name_of(db_engine, contact_id)))
    with Session(db_engine) as writer:
        update_contact(writer, contact_id, first_name="uncommitted")
        writer.flush()
        reader.start()
        reader.join(10)
        finished_while_locked = not reader.is_alive()
        writer.commit()
    reader.join(10)
    assert finished_while_locked and seen == ["committed"]


def test_writers_take_the_write_lock_in_the_order_they_asked_13_4() -> None:
    """#13.4: no writer of the process starves behind one that commits and begins again at once
    (the enrollment group commit vs a definition PUT): turns are handed over first come, first served."""
    turns = WriteTurns()
    assert turns.acquire(1)
    order: list[int] = []
    threads = []
    for number in range(5):

        def wait_for_turn(number: int = number) -> None:
            assert turns.acquire(10)
            order.append(number)
            turns.release()

        thread = threading.Thread(target=wait_for_turn)
        threads.append(thread)
        thread.start()
        # Each waiter is queued before the next one asks.
        for _ in range(1000):
            if len(turns._waiting) == number + 1:
                break
            threading.Event().wait(0.005)
    turns.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]
    assert turns.acquire(0)  # free again


def test_a_turn_not_given_in_time_is_refused_and_leaves_the_queue_13_4() -> None:
    turns = WriteTurns()
    assert turns.acquire(1)
    assert turns.acquire(0.05) is False
    assert len(turns._waiting) == 0
    turns.release()
    assert turns.acquire(0.05) is True


def test_rolled_back_and_closed_transactions_give_their_turn_back_13_4(tmp_path: Path) -> None:
    """A session closed without commit (an exception, a read route) releases the write lock."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises(RuntimeError), engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("boom")
        with Session(engine) as session:
            session.execute(sa.text("SELECT count(*) FROM t")).scalar()
        with engine.begin() as connection:  # would wait 30 s for a leaked turn
            connection.execute(sa.text("INSERT INTO t VALUES (2)"))
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT x FROM t")).scalars().all() == [2]
    finally:
        engine.dispose()


class _Cancelled(Exception):
    """Stands for the exception Temporal raises in a cancelled sync activity's thread."""


def test_a_waiter_interrupted_after_its_turn_was_handed_passes_the_turn_on_16() -> None:
    """A sync activity's thread gets an exception asynchronously when the activity is cancelled
    or times out (``PyThreadState_SetAsyncExc``). Before, if it arrived while the thread waited
    and the turn was handed to it meanwhile, the turn was never released: every writer of the
    worker waited forever (seen in bench/add_to_webinar.py: 397 of 1,000 registered, then
    nothing). Now the interrupted waiter passes the turn on."""
    turns = WriteTurns()
    assert turns.acquire(1)  # the holder
    outcome: list[object] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        try:
            outcome.append(turns.acquire(10))
        except _Cancelled as exc:
            outcome.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    assert waiting.wait(5)
    deadline = time.monotonic() + 5
    while not turns._waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(turns._waiting) == 1
    # Delivered when the waiter next runs Python code: after the holder hands the turn to it.
    raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc
    assert raise_in(ctypes.c_ulong(thread.ident or 0), ctypes.py_object(_Cancelled)) == 1
    turns.release()
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], _Cancelled)
    assert turns.acquire(0.5) is True  # the turn was passed on, not kept by the interrupted waiter
    turns.release()


def test_a_waiter_interrupted_before_its_turn_leaves_the_queue_16() -> None:
    turns = WriteTurns()
    assert turns.acquire(1)
    turn = threading.Event()
    turns._waiting.append(turn)
    turns._give_up(turn)  # what an interrupted wait does when nothing was handed yet
    assert len(turns._waiting) == 0
    turns.release()
    assert turns.acquire(0.05) is True


def _queue_is_announced(lock_file: LockFile) -> bool:
    """Whether some writer has said it waits (a shared lock on the queue file)."""
    fd = os.open(lock_file.queue_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_writer_that_finds_another_waiting_lets_it_go_first_16_4(tmp_path: Path) -> None:
    """#16.4: the lock file across processes (two ``LockFile``s on one path stand for two
    processes: flock locks belong to open files). A holds the lock; B waits; A lets go and asks
    again at once: B writes before A's second turn — the sync pass writing page after page can no
    longer keep the API out."""
    path = str(tmp_path / "store.db.writelock")
    a, b = LockFile(path), LockFile(path)
    assert a.acquire(1)
    order: list[str] = []

    def writer_b() -> None:
        assert b.acquire(10)
        order.append("B")
        time.sleep(0.05)
        b.release()

    thread = threading.Thread(target=writer_b)
    thread.start()
    deadline = time.monotonic() + 10
    while not _queue_is_announced(a) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _queue_is_announced(a), "B never said it waits"
    a.release()
    assert a.acquire(10)  # at once: B, waiting, goes first
    order.append("A")
    a.release()
    thread.join(10)
    assert order == ["B", "A"]


def test_a_lock_file_wait_given_up_lets_the_lock_go_when_it_comes_16_4(tmp_path: Path) -> None:
    """A wait past its timeout is refused (the caller says "database is locked", as SQLite's busy
    timeout would) and the helper thread still blocked in the kernel releases the lock as soon as
    it gets it, so the next writer is not locked out by a wait nobody wants any more."""
    path = str(tmp_path / "store.db.writelock")
    holder, late, next_one = LockFile(path), LockFile(path), LockFile(path)
    assert holder.acquire(1)
    assert late.acquire(0.05) is False
    holder.release()
    assert next_one.acquire(10) is True
    next_one.release()


def test_writers_of_one_process_take_the_lock_file_in_their_turn_16_4(tmp_path: Path) -> None:
    """The turn's holder takes the lock file: a turn refused for the lock file is handed on."""
    path = str(tmp_path / "store.db.writelock")
    other_process = LockFile(path)
    turns = WriteTurns(LockFile(path))
    assert other_process.acquire(1)
    assert turns.acquire(0.05) is False  # the other process writes
    assert len(turns._waiting) == 0 and turns._taken is False
    other_process.release()
    assert turns.acquire(5) is True
    turns.release()


_HOG = """
import sys
import time
import sqlalchemy as sa
from engine.crm.db import create_db_engine
from engine.crm.sqlite_transactions import polite

engine = polite(create_db_engine(sys.argv[1]))  # as a sync pass writes its pages
with engine.begin() as connection:
    connection.execute(sa.text("CREATE TABLE IF NOT EXISTS hog (who TEXT)"))
print("writing", flush=True)
for _ in range(500):  # one 20 ms transaction after another (a page of a sync), with no pause between
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO hog VALUES ('hog')"))
        time.sleep(0.02)
        stop = connection.execute(sa.text("SELECT count(*) FROM hog WHERE who = 'stop'")).scalar()
    if stop:
        print("stopped", flush=True)
        break
else:
    print("never told to stop", flush=True)
"""


@sqlite_only
def test_a_process_writing_back_to_back_leaves_another_process_its_turns_16_4(database_url: str) -> None:
    """#16.4: another process writes 20 ms transactions one after another with no pause, as a
    sync pass does with the next page read ahead (a ``polite`` writer); this process still writes its ten rows while
    that one runs, each after at most a transaction or two of the other, then tells it to stop.
    Under SQLite's busy handler alone (it sleeps up to 100 ms between tries and finds the lock
    taken each time) the writes here waited until the other process had written its 500
    transactions: it was never told to stop."""
    hog = subprocess.Popen(
        [sys.executable, "-c", _HOG, database_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    engine = create_db_engine(database_url)
    try:
        assert hog.stdout is not None and hog.stdout.readline().strip() == "writing"
        with Session(read_only(engine)) as session:  # reads never wait
            before = int(session.execute(sa.text("SELECT count(*) FROM hog")).scalar_one())
        for _ in range(10):
            with engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO hog VALUES ('here')"))
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO hog VALUES ('stop')"))
        assert hog.stdout.readline().strip() == "stopped"
        assert hog.wait(30) == 0
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT who FROM hog ORDER BY rowid")).scalars().all()
    finally:
        if hog.poll() is None:
            hog.kill()
            hog.wait()
        engine.dispose()
    mine = [index for index, who in enumerate(rows) if who == "here"]
    assert len(mine) == 10
    # The other process's rows written while each write here waited (from the moment it asked).
    gaps = [rows[start:end].count("hog") for start, end in itertools.pairwise([before - 1, *mine])]
    print(f"the other process's transactions before each write here: {gaps}")
    assert max(gaps) <= 5, gaps

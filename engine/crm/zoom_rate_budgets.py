"""Zoom rate limits kept in the CRM store, so every worker and API paces an account together.

One row per Zoom account and rate category (``zoom_rate_budgets``): ``next_send_at``, the earliest
time the next call may be sent, and ``backoff_until``, the end of the backoff a per-second 429
started. ``reserve`` moves ``next_send_at`` on by ``count × interval`` and answers when the first
reserved call may go, in one atomic statement — ``INSERT … ON CONFLICT … DO UPDATE … RETURNING``,
under PostgreSQL's row lock or SQLite's write lock (every SQLite transaction of the store begins
``IMMEDIATE``, ``engine.crm.sqlite_transactions``). Two calls can never get the same slot.

Clocks: PostgreSQL's own (``clock_timestamp()``), so workers on hosts whose clocks disagree still
share one timeline; SQLite's callers are all on the host of the file, whose clock they read inside
the write lock. Answers are durations from now, never times, so no process compares clocks.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.zoom.ratelimit import RateBudgetsUnavailable, Reservation

_RESERVE = """
INSERT INTO zoom_rate_budgets AS b (zoom_account_id, category, next_send_at, backoff_until, backoffs)
VALUES (:account, :category, {now} + :span, 0, 0)
ON CONFLICT (zoom_account_id, category) DO UPDATE
SET next_send_at = {greatest}(b.next_send_at, b.backoff_until, {now}) + :span
RETURNING next_send_at - :span - {now} AS wait, backoff_until - {now} AS backoff
"""
_BACK_OFF = """
INSERT INTO zoom_rate_budgets AS b (zoom_account_id, category, next_send_at, backoff_until, backoffs)
VALUES (:account, :category, {now}, {now} + :seconds, 1)
ON CONFLICT (zoom_account_id, category) DO UPDATE
SET backoff_until = {greatest}(b.backoff_until, {now} + :seconds), backoffs = b.backoffs + 1
"""
#: PostgreSQL's clock at the moment the statement runs (inside the row lock); SQLite's callers bind
#: ``:now``, read once the write lock is theirs.
_POSTGRES = {"now": "CAST(extract(epoch FROM clock_timestamp()) AS double precision)", "greatest": "greatest"}
_SQLITE = {"now": ":now", "greatest": "max"}
#: A reservation lost in a crash costs nothing (its caller never sent), so PostgreSQL need not wait
#: for the disk before answering.
_NO_FLUSH = sa.text("SET LOCAL synchronous_commit TO off")


class StoreRateBudgets:
    """``engine.zoom.ratelimit.RateBudgets`` in the CRM store (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        words = _SQLITE if engine.dialect.name == "sqlite" else _POSTGRES
        self._reserve = sa.text(_RESERVE.format(**words))
        self._back_off = sa.text(_BACK_OFF.format(**words))
        self._sqlite = engine.dialect.name == "sqlite"

    def reserve(self, account_id: str, category: str, interval: float, count: int) -> Reservation:
        params: dict[str, object] = {"account": account_id, "category": category, "span": interval * count}
        try:
            with self._engine.begin() as connection:
                self._prepare(connection, params)
                wait, backoff = connection.execute(self._reserve, params).one()
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc
        return Reservation(wait=float(wait), backoff=float(backoff))

    def back_off(self, account_id: str, category: str, seconds: float) -> None:
        params: dict[str, object] = {"account": account_id, "category": category, "seconds": seconds}
        try:
            with self._engine.begin() as connection:
                self._prepare(connection, params)
                connection.execute(self._back_off, params)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    def _prepare(self, connection: Connection, params: dict[str, object]) -> None:
        if self._sqlite:
            params["now"] = time.time()  # the write lock is held: no other writer reads the clock now
        else:
            connection.execute(_NO_FLUSH)


def _unavailable(exc: SQLAlchemyError) -> RateBudgetsUnavailable:
    # The driver's message may name the server or the file; its type says enough for the log.
    cause = getattr(exc, "orig", None) or exc
    return RateBudgetsUnavailable(f"the CRM store cannot pace Zoom calls now ({type(cause).__name__})")

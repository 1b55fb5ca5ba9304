"""PostgreSQL's planner statistics kept up with a sync's writes (#16.3).

A sync writes a webinar's rows into tables whose statistics predate them: the planner believes
the webinar's marketing event has a handful of rows, so it looks up a page's contacts through the
event alone (the first column of the unique index) and filters every row of the event — each
page costs more than the one before. A 100,000-attendee webinar's first sync took 2.4 times as
long as on SQLite (`bench/sync.py --scale 10`), most of it in that one lookup of the rollups.

``StatisticsKeeper`` runs ANALYZE on the tables a sync writes each time the rows it has written
for one webinar double, from 2,000: about seven per 100,000 rows, each reading a sample (30,000
rows at the default statistics target). Autovacuum would get there too, but only after its nap
(a minute) and once a tenth of a table has changed. ``SKIP_LOCKED``: a table another ANALYZE or
a vacuum holds is left for next time, nobody waits. SQLite needs none of it (its planner uses
both columns of the index whatever it knows).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("rollcall.store")

#: The tables a sync page writes.
SYNC_TABLES = (
    "contacts",
    "contact_business_units",
    "participations",
    "attendance_sessions",
    "timeline_events",
    "sync_run_contacts",
)
#: Rows written for a webinar before its first ANALYZE; each next one after twice as many.
FIRST_ANALYZE_ROWS = 2_000
#: Webinars remembered (the least recently written forgotten first).
REMEMBERED = 1_000


class StatisticsKeeper:
    """Counts the rows written per webinar (in this process) and refreshes the statistics of
    ``tables`` when a count reaches its next threshold. Thread-safe; does nothing off PostgreSQL."""

    def __init__(self, engine: Engine, tables: tuple[str, ...] = SYNC_TABLES) -> None:
        self._engine = engine
        self._tables = tables
        self._mutex = threading.Lock()
        #: Per webinar: rows written, and the count at which to analyze next.
        self._written: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def wrote(self, webinar_id: str, rows: int) -> bool:
        """``rows`` more written for ``webinar_id``; True when that ran ANALYZE."""
        if rows <= 0 or self._engine.dialect.name != "postgresql":
            return False
        with self._mutex:
            written, due_at = self._written.pop(webinar_id, (0, FIRST_ANALYZE_ROWS))
            written += rows
            due = written >= due_at
            self._written[webinar_id] = (written, written * 2 if due else due_at)
            while len(self._written) > REMEMBERED:
                self._written.popitem(last=False)
        if due:
            self._analyze(webinar_id, written)
        return due

    def _analyze(self, webinar_id: str, written: int) -> None:
        statement = f"ANALYZE (SKIP_LOCKED) {', '.join(self._tables)}"
        try:
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql(statement)
        except SQLAlchemyError as error:  # statistics are an optimisation: the sync goes on
            log.warning("ANALYZE failed", webinar_id=webinar_id, error=type(error).__name__)
            return
        log.debug("statistics refreshed", webinar_id=webinar_id, rows_written=written)

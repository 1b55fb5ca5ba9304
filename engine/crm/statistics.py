"""PostgreSQL's planner statistics kept up with a sync's writes (#16.3).

A sync writes a webinar's rows into tables whose statistics predate them: the planner believes
the webinar's marketing event has a handful of rows, so it looks up a page's contacts through the
event alone (the first column of the unique index) and filters every row of the event — each
page costs more than the one before. A 100,000-attendee webinar's first sync took 2.4 times as
long as on SQLite (`bench/sync.py --scale 10`), most of it in that one lookup of the rollups.

``StatisticsKeeper`` runs ANALYZE on the tables a sync writes each time the rows it has written
for one webinar double, from 2,000: about seven per 100,000 rows, each reading a sample (30,000
rows at the default statistics target) and computing statistics for the key columns only
(``SYNC_COLUMNS``: 5 % less of PostgreSQL's CPU in a 10k sync than for every column). Autovacuum
would get there too, but only after its nap (a minute) and once a tenth of a table has changed.
``SKIP_LOCKED``: a table another ANALYZE or a vacuum holds is left for next time, nobody waits.
SQLite needs none of it (its planner uses both columns of the index whatever it knows).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("rollcall.store")

#: The tables a sync page writes, and the columns whose statistics its plans depend on: the keys
#: it looks rows up by and joins on (the participations' state filters the recording's timeline
#: events). The others — e-mails, names, idempotency keys, join links, JSON — are compared with
#: the locale's collation or not at all when sorted for statistics, which made up most of each
#: ANALYZE's time; the sync never filters on them but through unique indexes, which the planner
#: uses whatever their statistics. Autovacuum's ANALYZE still covers every column.
SYNC_COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": ("id",),
    "contact_business_units": ("contact_id", "business_unit_id"),
    "participations": ("marketing_event_id", "contact_id", "state"),
    "attendance_sessions": ("marketing_event_id", "contact_id"),
    "timeline_events": ("contact_id", "marketing_event_id", "kind"),
    "sync_run_contacts": ("audit_entry_id", "contact_id"),
}
SYNC_TABLES = tuple(SYNC_COLUMNS)
#: Rows written for a webinar before its first ANALYZE; each next one after twice as many.
FIRST_ANALYZE_ROWS = 2_000
#: Webinars remembered (the least recently written forgotten first).
REMEMBERED = 1_000


class StatisticsKeeper:
    """Counts the rows written per webinar (in this process) and refreshes the statistics of
    ``columns`` (table → its columns) when a count reaches its next threshold. Thread-safe; does
    nothing off PostgreSQL."""

    def __init__(self, engine: Engine, columns: dict[str, tuple[str, ...]] | None = None) -> None:
        self._engine = engine
        self._columns = SYNC_COLUMNS if columns is None else columns
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
        statement = "ANALYZE (SKIP_LOCKED) " + ", ".join(
            f"{table} ({', '.join(columns)})" for table, columns in self._columns.items()
        )
        try:
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql(statement)
        except SQLAlchemyError as error:  # statistics are an optimisation: the sync goes on
            log.warning("ANALYZE failed", webinar_id=webinar_id, error=type(error).__name__)
            return
        log.debug("statistics refreshed", webinar_id=webinar_id, rows_written=written)

"""Activities for the system check."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from engine.crm.db import check_database, current_revision
from engine.system import StoreStatus

__all__ = ["StoreStatus", "SystemActivities"]


class SystemActivities:
    def __init__(self, db_engine: Engine) -> None:
        self._engine = db_engine

    # Synchronous on purpose: database calls block, so they run in the worker's thread pool.
    @activity.defn(no_thread_cancel_exception=True)
    def check_store(self) -> StoreStatus:
        check_database(self._engine)
        return StoreStatus(backend=self._engine.dialect.name, revision=current_revision(self._engine))

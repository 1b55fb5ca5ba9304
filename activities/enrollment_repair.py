"""The enrollment repair's activity (``engine.enrollment.repair``): starts the runs admitted
enrollments are missing and closes enrollments whose run ended outside the interpreter."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from engine.enrollment.repair import RepairRequest, RepairResult, repair_enrollments

__all__ = ["EnrollmentRepairActivities", "RepairRequest", "RepairResult"]


class EnrollmentRepairActivities:
    def __init__(self, db_engine: Engine, *, task_queue: str) -> None:
        self._engine = db_engine
        self._task_queue = task_queue

    @activity.defn
    async def repair_enrollments(self, request: RepairRequest) -> RepairResult:
        return await repair_enrollments(
            self._engine, activity.client(), self._task_queue, request, heartbeat=activity.heartbeat
        )

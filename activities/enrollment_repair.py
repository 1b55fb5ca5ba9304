"""The enrollment repair's activity (``engine.enrollment.repair``): starts the runs admitted
enrollments are missing and closes enrollments whose run ended outside the interpreter."""

from __future__ import annotations

from temporalio import activity

from engine.enrollment.repair import RepairRequest, RepairResult, repair_enrollments
from engine.enrollment.service import EnrollmentService

__all__ = ["EnrollmentRepairActivities", "RepairRequest", "RepairResult"]


class EnrollmentRepairActivities:
    def __init__(self, enrollments: EnrollmentService) -> None:
        """``enrollments``: the worker's service (``build_worker``): its store, client and task queue."""
        self._enrollments = enrollments

    @activity.defn
    async def repair_enrollments(self, request: RepairRequest) -> RepairResult:
        return await repair_enrollments(self._enrollments, request, heartbeat=activity.heartbeat)

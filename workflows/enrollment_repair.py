"""RepairEnrollmentsWorkflow: run by a Temporal Schedule every few minutes; one activity does a
repair pass (``engine.enrollment.repair``) and the run's details say what it did."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.enrollment_repair import EnrollmentRepairActivities
    from engine.enrollment.repair import REPAIR_SCHEDULE_ID as SCHEDULE_ID
    from engine.enrollment.repair import REPAIR_WORKFLOW_TYPE as WORKFLOW_TYPE
    from engine.enrollment.repair import RepairRequest, RepairResult
    from engine.temporal import OPERATOR_VIEW, housekeeping_attributes
    from workflows.policies import HOUSEKEEPING_RETRY

__all__ = ["SCHEDULE_ID", "WORKFLOW_TYPE", "RepairEnrollmentsWorkflow"]


@workflow.defn(name=WORKFLOW_TYPE)
class RepairEnrollmentsWorkflow:
    @workflow.run
    async def run(self, request: RepairRequest) -> RepairResult:
        if workflow.patched(OPERATOR_VIEW):
            workflow.upsert_search_attributes(housekeeping_attributes("enrollment-repair"))
        workflow.set_current_details("looking for enrollments without a run, and runs ended outside the interpreter")
        result = await workflow.execute_activity_method(
            EnrollmentRepairActivities.repair_enrollments,
            request,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=HOUSEKEEPING_RETRY,
            summary="start missing enrollment runs; close enrollments of runs ended outside Rollcall",
        )
        workflow.set_current_details(
            f"checked {result.checked} enrollment(s) without a run: started {len(result.started)}, "
            f"{result.waiting} waiting for their run; closed {len(result.ended)} whose run ended outside "
            f"the interpreter; {len(result.errors)} error(s)"
        )
        return result

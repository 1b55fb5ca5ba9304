"""The system check's contract (the smallest real round trip: API → Temporal → worker → store),
shared by the API that starts it, the workflow and its activity — so the API needs no workflow code."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from engine.temporal import RunKind, SearchAttribute

#: The workflow type (``workflows.system_check.SystemCheckWorkflow``; its class name, kept for old histories).
SYSTEM_CHECK_WORKFLOW_TYPE = "SystemCheckWorkflow"
SYSTEM_CHECK_ID_PREFIX = "system-check:"


class StoreStatus(BaseModel):
    backend: str
    revision: str | None


class SystemCheckInput(BaseModel):
    trigger: str = "api"


class SystemCheckResult(BaseModel):
    store: StoreStatus
    worker_task_queue: str


def system_check_search_attributes(trigger: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttribute.WORKFLOW_KEY, "system-check"),
            SearchAttributePair(SearchAttribute.TRIGGER, trigger),
            SearchAttributePair(SearchAttribute.STATUS, "running"),
            SearchAttributePair(SearchAttribute.KIND, RunKind.HOUSEKEEPING.value),
        ]
    )

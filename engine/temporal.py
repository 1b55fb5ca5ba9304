"""Everything Rollcall needs to talk to Temporal: connection, data converter, search attributes
and task queues. Used by the worker, the API, the CLI, the tests and the replayers alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import (
    Client,
    Interceptor,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey, SearchAttributeUpdate
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from engine.codec import configured_keys, data_converter_with
from engine.config import Settings
from engine.tracing import temporal_interceptors


class TaskQueue(StrEnum):
    MAIN = "rollcall"


#: One converter everywhere, so pydantic models travel as JSON and histories replay anywhere.
DATA_CONVERTER: DataConverter = pydantic_data_converter


class RunKind(StrEnum):
    """``RollcallKind``: what a run is, so a saved view can show only enrollments or hide the
    housekeeping runs (repair, reconciliation, system check) that come every few minutes."""

    ENROLLMENT = "enrollment"
    REGISTRATION = "registration"
    SYNC = "sync"
    HOUSEKEEPING = "housekeeping"


class SearchAttribute:
    """Rollcall's custom search attributes, each with one meaning on every run. Ids only: search
    attributes are stored unencrypted, so an email or a name never goes here.

    ``RollcallZoomAccount`` is the Zoom account id, ``RollcallZoomConnection`` the name of the
    configured connection; ``RollcallKind`` one of ``RunKind``.
    """

    WORKFLOW_KEY = SearchAttributeKey.for_keyword("RollcallWorkflowKey")
    DEFINITION_VERSION = SearchAttributeKey.for_int("RollcallDefinitionVersion")
    CONTACT_ID = SearchAttributeKey.for_keyword("RollcallContactId")
    BUSINESS_UNIT = SearchAttributeKey.for_keyword("RollcallBusinessUnit")
    STATUS = SearchAttributeKey.for_keyword("RollcallStatus")
    WEBINAR_ID = SearchAttributeKey.for_keyword("RollcallWebinarId")
    ZOOM_ACCOUNT = SearchAttributeKey.for_keyword("RollcallZoomAccount")
    ZOOM_CONNECTION = SearchAttributeKey.for_keyword("RollcallZoomConnection")
    TRIGGER = SearchAttributeKey.for_keyword("RollcallTrigger")
    KIND = SearchAttributeKey.for_keyword("RollcallKind")

    ALL: tuple[SearchAttributeKey[str] | SearchAttributeKey[int], ...] = (
        WORKFLOW_KEY,
        DEFINITION_VERSION,
        CONTACT_ID,
        BUSINESS_UNIT,
        STATUS,
        WEBINAR_ID,
        ZOOM_ACCOUNT,
        ZOOM_CONNECTION,
        TRIGGER,
        KIND,
    )


#: ``workflow.patched`` id of the runs that upsert ``RollcallKind`` (and the other attributes of
#: #14.3) as they start: the repair, the reconciliation, the add-to-webinar saga.
OPERATOR_VIEW = "operator-view"


def housekeeping_attributes(key: str) -> list[SearchAttributeUpdate[Any]]:
    """What a housekeeping run (repair, reconciliation) upserts at its start."""
    return [SearchAttribute.KIND.value_set(RunKind.HOUSEKEEPING.value), SearchAttribute.WORKFLOW_KEY.value_set(key)]


def dev_server_search_attribute_args() -> list[str]:
    """``--search-attribute`` flags that register Rollcall's attributes on ``temporal server start-dev``."""
    args: list[str] = []
    for key in SearchAttribute.ALL:
        kind = "Int" if key.indexed_value_type == SearchAttributeIndexedValueType.INT else "Keyword"
        args += ["--search-attribute", f"{key.name}={kind}"]
    return args


async def connect(
    settings: Settings,
    *,
    target: str | None = None,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    tls: bool | TLSConfig = False
    if settings.temporal_tls_cert_path and settings.temporal_tls_key_path:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert_path.read_bytes(),
            client_private_key=settings.temporal_tls_key_path.read_bytes(),
        )
    elif settings.temporal_tls or settings.temporal_api_key:
        # Temporal Cloud API keys only work over TLS.
        tls = True
    return await Client.connect(
        target or settings.temporal_target,
        namespace=settings.temporal_namespace,
        tls=tls,
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        data_converter=data_converter(settings),
        runtime=runtime,
        # #17.2: with tracing on, runs continue the trace of whatever started them.
        interceptors=[*interceptors, *temporal_interceptors()],
    )


def prometheus_runtime(bind_address: str) -> Runtime:
    """An SDK runtime serving the Temporal SDK's metrics (workflow and activity task latencies,
    poll results, schedule-to-start, sticky cache…) in Prometheus' format at ``bind_address`` (#17.1)."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


def data_converter(settings: Settings) -> DataConverter:
    """The converter of every process: ``DATA_CONVERTER``, with payloads encrypted when payload keys
    are configured (``engine.codec``, #17.4)."""
    return data_converter_with(DATA_CONVERTER, configured_keys(settings))


async def register_search_attributes(client: Client) -> list[str]:
    """Register Rollcall's search attributes on the client's namespace; returns the names added.

    Attributes that already exist count as success, so this is safe at every worker start.
    An unregistered attribute would make every workflow task fail and retry forever.
    """
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as exc:
        # Temporal's Java time-skipping test server cannot list attributes; it can add them.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in SearchAttribute.ALL
        if key.name not in known
    }
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        return []
    return sorted(missing)


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create a schedule, or bring an existing one to ``schedule`` (every worker does this at
    start, so the last one started wins): "created" or "updated"."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        async def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)
        return "updated"


def interval_schedule(workflow_type: str, request: Any, *, run_id: str, task_queue: str, every: timedelta) -> Schedule:
    """A Schedule starting ``workflow_type(request)`` every ``every``; a slow run is never doubled
    up (the next one is skipped while it runs)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(workflow_type, request, id=run_id, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )

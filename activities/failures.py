"""Temporal failures, one vocabulary for activities and workflows (#18.2).

- ``FailureType``: every ``ApplicationError.type`` Rollcall raises itself (Zoom's errors bring
  their own stable codes, ``ZoomError.code``). The values are in recorded histories and in the
  step outcomes definitions read (an ``enroll`` or failed step's ``code``): never change one.
- ``zoom_failure``: a Zoom error as the ``ApplicationError`` that makes Temporal retry it (or not)
  at the time Zoom asked for; ``zoom_config_failure`` for a Zoom configuration that cannot be used.
- ``heartbeating``: heartbeats while an activity waits on something slow (Zoom, a store that is
  coming back), so a dead worker is noticed within the heartbeat timeout.
- ``failure_message``: what a workflow says about a failed activity or child (the message of the
  failure underneath the ``ActivityError`` / ``ChildWorkflowError`` wrappers).

Workflows import this module through ``workflow.unsafe.imports_passed_through()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from enum import StrEnum

from temporalio import activity
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

from engine.dsl.models import StepRetry
from engine.zoom.errors import ZoomError, ZoomRateLimited
from engine.zoom.settings import ZoomConfigError

#: Seconds between heartbeats of an activity waiting in ``heartbeating`` (the heartbeat timeout
#: of such an activity is a few of these).
HEARTBEAT_EVERY = 2.0


class FailureType(StrEnum):
    """The ``type`` of the ``ApplicationError``s Rollcall raises, by who raises them."""

    # --- any step activity ---
    #: A template of the step (or of the goal, the suppression list, a branch) cannot be rendered.
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    #: A delay's ``until`` rendered to something that is not an ISO 8601 date-time.
    INVALID_DATETIME = "INVALID_DATETIME"
    # --- webhook steps ---
    WEBHOOK_RETRYABLE_STATUS = "WEBHOOK_RETRYABLE_STATUS"
    WEBHOOK_REJECTED = "WEBHOOK_REJECTED"
    WEBHOOK_TIMEOUT = "WEBHOOK_TIMEOUT"
    WEBHOOK_UNREACHABLE = "WEBHOOK_UNREACHABLE"
    EGRESS_DENIED = "EGRESS_DENIED"
    SECRETS_FILE_ERROR = "SECRETS_FILE_ERROR"
    # --- the registration (activities and saga) ---
    CONTACT_NOT_FOUND = "CONTACT_NOT_FOUND"
    NO_BUSINESS_UNIT = "NO_BUSINESS_UNIT"
    STORE_REJECTED = "STORE_REJECTED"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    #: A failpoint fired (crash tests only).
    FAILPOINT = "FAILPOINT"
    #: A Zoom configuration that cannot be used (``ZoomConfigError`` carries its own, finer code).
    ZOOM_CONFIG_INVALID = "ZOOM_CONFIG_INVALID"
    ZOOM_REGISTRATION_COMPENSATED = "ZOOM_REGISTRATION_COMPENSATED"
    ZOOM_REGISTRATION_INCONSISTENT = "ZOOM_REGISTRATION_INCONSISTENT"
    ZOOM_REGISTRATION_FAILED = "ZOOM_REGISTRATION_FAILED"
    # --- the enrollment interpreter: a step failure without a type of its own ---
    STEP_TIMED_OUT = "STEP_TIMED_OUT"
    STEP_FAILED = "STEP_FAILED"
    # --- the webinar sync ---
    SYNC_ERROR = "SYNC_ERROR"


def _jittered_backoff(policy: StepRetry, attempt: int) -> float:
    """The policy's interval for this attempt, times a random 0.5–1.0."""
    base = policy.initial_interval.total_seconds() * policy.backoff ** max(0, attempt - 1)
    ceiling = max(policy.maximum_interval.total_seconds(), policy.initial_interval.total_seconds())
    return min(base, ceiling) * random.uniform(0.5, 1.0)


def zoom_failure(error: ZoomError, jitter: StepRetry | None = None) -> ApplicationError:
    """``error`` as the ApplicationError that makes Temporal retry it (or not) correctly: typed by
    its code, retried when it may pass, after Zoom's ``Retry-After`` when it sent one.

    ``jitter``: the step's retry policy when a 429 without ``Retry-After`` (Zoom's per-second
    limit) should wait a jittered backoff of that policy — the registration's case: many runs hit
    the same account's limit at once and must not retry in step. ``None`` (the sync's case: one
    run per webinar) leaves that wait to the activity's retry policy."""
    if not error.retryable:
        return ApplicationError(str(error), type=error.code, non_retryable=True)
    delay = error.retry_after
    if delay is None and jitter is not None and isinstance(error, ZoomRateLimited):
        delay = _jittered_backoff(jitter, activity.info().attempt)
    return ApplicationError(str(error), type=error.code, next_retry_delay=timedelta(seconds=delay) if delay else None)


def zoom_config_failure(exc: Exception) -> ApplicationError:
    """A Zoom configuration problem as a non-retryable failure with a stable type. The configuration
    holds secrets: the pool's messages name the problem without echoing configured values, and an
    error of another kind (a YAML or value error) is named by its class only."""
    if isinstance(exc, ZoomConfigError):
        return ApplicationError(str(exc), type=exc.code, non_retryable=True)
    return ApplicationError(
        f"the Zoom configuration cannot be used ({type(exc).__name__}); check ROLLCALL_ZOOM_CONNECTIONS "
        "and ROLLCALL_ZOOM_CONNECTIONS_FILE",
        type=FailureType.ZOOM_CONFIG_INVALID,
        non_retryable=True,
    )


@contextlib.asynccontextmanager
async def heartbeating(every: float = HEARTBEAT_EVERY) -> AsyncIterator[None]:
    """Heartbeat every ``every`` seconds while the body waits (a quick call sends none; a local
    activity cannot heartbeat and sends none either)."""
    if activity.info().is_local:
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def failure_message(error: BaseException) -> str:
    """The message of the failure under an activity's or a child workflow's failure (workflow side)."""
    cause: BaseException = error
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.__cause__ is not None:
        cause = cause.__cause__
    return cause.message if isinstance(cause, FailureError) else str(cause)


__all__ = [
    "HEARTBEAT_EVERY",
    "FailureType",
    "failure_message",
    "heartbeating",
    "zoom_config_failure",
    "zoom_failure",
]

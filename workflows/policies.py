"""Retry policies of Rollcall's activities, in one place, each with the reason it differs (#18.2).

What is called decides the patience:

- **the CRM store** is Rollcall's own: a failure that may pass (restarting, locked, unreachable)
  is retried until it passes, a few seconds apart — except where a saga would rather give up and
  say so (``SAGA_STORE_RETRY``);
- **Zoom** is not: a definition step's own retry policy (``retry:`` in the YAML, ``StepRetry``)
  drives its Zoom calls and webhooks; the sync, which no definition drives, has its own;
- **scheduled housekeeping** is retried by its schedule.

These values go into the commands workflows send (and so into their histories): changing one
changes what open runs do from their next activity on — a behaviour change, not a refactor; the
replay tests (``tests/replay``) say whether the recorded histories still replay.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from engine.dsl.models import StepRetry

#: The store's activities of the enrollment interpreter and of the webinar sync: retried without
#: end (``maximum_attempts`` 0), 1 s then doubling up to 30 s apart. Their writes must land — an
#: outcome or an audit entry given up on would leave the store behind the run.
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))

#: The saga's store reads and writes (the local pre-flight; ``check_host`` and
#: ``record_registration`` of runs started before ``saga-preflight``): same pace as
#: ``STORE_RETRY`` but 8 attempts (about two minutes), independent of the step's policy (the store
#: is ours, Zoom is not). Unlike the interpreter's, a saga that cannot read the store fails its
#: step — whose ``on_error`` decides — and one that cannot record compensates, rather than waiting
#: without end with a registration Zoom may hold.
SAGA_STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)

#: The saga's compensation (cancel the registrant in Zoom) must finish: retried without end, up to
#: 5 min apart, within ``COMPENSATION_DEADLINE`` (Zoom's daily status-change limits reset by then).
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)
COMPENSATION_DEADLINE = timedelta(days=1)

#: The sync's Zoom calls: no definition step drives them, so no ``StepRetry``: retried without end
#: (a rate-limited or failing Zoom slows the sync down instead of failing it), 2 s then doubling up
#: to a minute apart; permanent errors are non-retryable ApplicationErrors (``zoom_failure``).
SYNC_ZOOM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))

#: The scheduled housekeeping (reconciliation, enrollment repair): a few attempts, then it gives up —
#: its schedule runs it again within minutes, which is the real retry.
HOUSEKEEPING_RETRY = RetryPolicy(maximum_attempts=3)


def step_retry(policy: StepRetry) -> RetryPolicy:
    """A definition step's ``retry`` as the interpreter schedules the step's activity with it:
    as written. Validation refuses a definition whose ``maximum_interval`` is shorter than its
    ``initial_interval`` (``INVALID_VALUE``), and every enrollment runs a validated revision."""
    return RetryPolicy(
        initial_interval=policy.initial_interval,
        backoff_coefficient=policy.backoff,
        maximum_interval=policy.maximum_interval,
        maximum_attempts=policy.max_attempts,
    )


def zoom_step_retry(policy: StepRetry) -> RetryPolicy:
    """The step's ``retry`` for the saga's Zoom activities, with ``maximum_interval`` raised to
    ``initial_interval`` when shorter (Temporal refuses such a policy). Unlike ``step_retry`` it is
    clamped because the saga's input is not only an enrollment's: the workflow can be started on
    its own with any ``StepRetry``, which no definition validation has checked."""
    return RetryPolicy(
        initial_interval=policy.initial_interval,
        backoff_coefficient=policy.backoff,
        maximum_interval=max(policy.maximum_interval, policy.initial_interval),
        maximum_attempts=policy.max_attempts,
    )


__all__ = [
    "COMPENSATION_DEADLINE",
    "COMPENSATION_RETRY",
    "HOUSEKEEPING_RETRY",
    "SAGA_STORE_RETRY",
    "STORE_RETRY",
    "SYNC_ZOOM_RETRY",
    "step_retry",
    "zoom_step_retry",
]

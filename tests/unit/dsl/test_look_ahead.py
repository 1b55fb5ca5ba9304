"""The look-ahead after a registration (#16.1, ``registration-look-ahead``): which steps the
workflow hands ``register_to_webinar``, the delay it reaches through branches on outcomes with the
notes the workflow itself would hold, and when the workflow takes the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.dsl import validate_text
from engine.dsl.models import Definition
from engine.enrollment.contracts import StepContext, StepResult
from engine.enrollment.look_ahead import (
    PLAN_AHEAD_SLACK,
    LookAhead,
    PlannedAhead,
    context_digest,
    look_ahead,
    reach_delay,
)

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
OUTPUT = {"code": "REGISTERED", "webinar_end_time": "2026-12-10T10:00:00Z"}

FALLING_THROUGH = """
key: falling-through
name: A branch whose else is the next step
enrollment:
  triggers: [{type: api}]
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "95000000001"
    on_error: continue
  - id: registered
    type: branch
    cases:
      - if: {outcome_of: register, is: REGISTERED}
        then: done
  - id: retry_later
    type: delay
    for: 1d
  - id: done
    type: end
"""

ON_DATA = """
key: on-data
name: A branch on the contact's data stops the look-ahead
enrollment:
  triggers: [{type: api}]
steps:
  - id: register
    type: add_contact_to_zoom_webinar
    webinar_id: "95000000001"
  - id: by_country
    type: branch
    cases:
      - if: {type: condition, field: properties.country, op: eq, value: FR}
        then: wait
  - id: wait
    type: delay
    for: 1h
"""


def _definition(text: str) -> Definition:
    return validate_text(text).definition_or_raise()


def _context(definition: Definition, position: int = 0) -> StepContext:
    return StepContext(
        enrollment_id=7,
        contact_id=42,
        definition_key=definition.key,
        version=1,
        trigger="api",
        enrolled_at=NOW,
        sequence=1,
        now=NOW,
        step_index=position,
        step_count=len(definition.steps),
    )


def _ahead(definition: Definition, position: int = 0) -> LookAhead | None:
    steps = list(definition.steps)
    return look_ahead(steps, {step.id: number for number, step in enumerate(steps)}, position)


def test_webinar_invite_registered_reaches_the_wait_with_the_workflows_notes() -> None:
    """webinar-invite: REGISTERED → ``check_registration`` (case 1) → ``wait_for_webinar_end``; the
    delay's context holds the registration's and the branch's notes, outcomes and outputs, in the
    workflow's order and sequence numbers."""
    definition = _definition((ROOT / "definitions" / "webinar-invite.yaml").read_text())
    ahead = _ahead(definition)
    assert ahead is not None
    assert [item.step.id for item in ahead.steps] == ["check_registration", "wait_for_webinar_end"]

    reached = reach_delay(ahead, _context(definition), "register", "REGISTERED", "registered", OUTPUT)

    assert reached is not None
    ctx, delay = reached
    assert delay.id == "wait_for_webinar_end"
    assert (ctx.sequence, ctx.step_index) == (3, 3)
    assert [(note.sequence, note.step_id, note.outcome) for note in ctx.pending] == [
        (1, "register", "REGISTERED"),
        (2, "check_registration", "COMPLETED"),
    ]
    assert ctx.pending[1].data == {"case": 0, "next": "wait_for_webinar_end"}
    assert ctx.outcomes == {"register": "REGISTERED", "check_registration": "COMPLETED"}
    assert ctx.outputs["register"] == OUTPUT


def test_a_refusal_takes_the_else_branch_and_reaches_no_delay() -> None:
    """webinar-invite's else goes to a webhook: nothing is planned ahead."""
    definition = _definition((ROOT / "definitions" / "webinar-invite.yaml").read_text())
    ahead = _ahead(definition)
    assert ahead is not None
    assert reach_delay(ahead, _context(definition), "register", "HOST_CANNOT_REGISTER", "refused", {}) is None


def test_a_branch_without_else_falls_through_to_the_delay() -> None:
    """No ``else``: the next step. REGISTERED goes to the end step (nothing to plan), a refusal
    falls through to the delay. (Branches on outcomes cannot loop without a delay:
    ``LOOP_WITHOUT_DELAY``; the walk is bounded all the same.)"""
    definition = _definition(FALLING_THROUGH)
    ahead = _ahead(definition)
    assert ahead is not None
    assert reach_delay(ahead, _context(definition), "register", "REGISTERED", "registered", OUTPUT) is None
    refused = reach_delay(ahead, _context(definition), "register", "REFUSED", "refused", {})
    assert refused is not None
    ctx, delay = refused
    assert (delay.id, ctx.sequence, ctx.step_index) == ("retry_later", 3, 2)
    assert ctx.pending[1].data == {"case": None, "next": None}
    assert "register" not in ctx.outputs


def test_a_branch_on_contact_data_is_not_looked_past() -> None:
    """A branch on the contact's data reads the store: the run reaches it first, nothing to plan."""
    assert _ahead(_definition(ON_DATA)) is None


def test_the_workflow_takes_a_plan_only_for_the_same_context_and_a_near_clock() -> None:
    """Same step, same context but the clock, clocks at most ``PLAN_AHEAD_SLACK`` apart."""
    definition = _definition((ROOT / "definitions" / "webinar-invite.yaml").read_text())
    ahead = _ahead(definition)
    assert ahead is not None
    reached = reach_delay(ahead, _context(definition), "register", "REGISTERED", "registered", OUTPUT)
    assert reached is not None
    ctx, delay = reached
    planned = PlannedAhead(
        step_id=delay.id,
        digest=context_digest(ctx),
        now=NOW,
        result=StepResult.delay(NOW + timedelta(days=7)),
    )
    later = ctx.model_copy(update={"now": NOW + timedelta(milliseconds=40)})
    assert planned.holds_for(delay.id, later)
    assert planned.holds_for(delay.id, ctx.model_copy(update={"now": NOW - timedelta(milliseconds=5)}))
    assert not planned.holds_for(delay.id, ctx.model_copy(update={"now": NOW + PLAN_AHEAD_SLACK * 2}))
    assert not planned.holds_for("another", later)
    assert not planned.holds_for(delay.id, later.model_copy(update={"sequence": 4}))
    assert not planned.holds_for(delay.id, later.model_copy(update={"pending": later.pending[:1]}))

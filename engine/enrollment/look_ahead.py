"""Look-ahead after a registration (``registration-look-ahead``, #16.1): the steps an enrollment
reaches after its add-to-webinar step without reading the store — branches on earlier outcomes —
up to the delay it then waits in, walked the way the workflow walks them, so that
``register_to_webinar`` can plan that delay in the same local activity (one activity and one
workflow activation fewer per registration: ``webinar-invite`` registers, branches on REGISTERED and
waits for the webinar to end).

The workflow hands the activity a ``LookAhead`` (the steps it may reach, by position) and takes the
answer only when the delay's context it built itself is the one the activity planned for
(``context_digest``: same sequence, clock, outcomes, outputs and notes to write); otherwise it
plans the delay as before. Plain code: no Temporal, no store.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from engine.dsl.models import BranchStep, DelayStep, OutcomeCondition, Step
from engine.dsl.outcomes import StepOutcomeCode
from engine.enrollment.branches import choose, outcome_holds
from engine.enrollment.contracts import OutcomeNote, StepContext, StepResult


class AheadStep(BaseModel):
    position: int
    step: Step


class LookAhead(BaseModel):
    """What the workflow may reach after a step without an activity: ``after``, the position the
    run goes to once the step is done; ``steps``, the branches on outcomes and the delays it can
    reach from there through such branches; ``positions``, where each branch target is."""

    after: int
    steps: list[AheadStep] = Field(default_factory=list)
    positions: dict[str, int] = Field(default_factory=dict)


#: How far apart the planning's clock and the workflow's may be for the workflow to take the plan
#: (the workflow's clock moves on when the local activity completes, near the planning).
PLAN_AHEAD_SLACK = timedelta(seconds=2)


class PlannedAhead(BaseModel):
    """The delay planned by the activity: its step, the digest of the context it was planned for
    (``context_digest``: all but the clock), the clock it was planned at (the worker's, a moment
    before the local activity completed) and ``plan_delay``'s answer (a deadline, or the contact
    left). The notes of that context (the step's outcome, the branches') are in the action log."""

    step_id: str
    digest: str
    now: datetime
    result: StepResult

    def holds_for(self, step_id: str, ctx: StepContext) -> bool:
        """Whether the workflow takes this plan for the step it is at: the same step and context,
        and its own clock (``ctx.now``) within ``PLAN_AHEAD_SLACK`` of the planning's — the delay
        then counts from the planning, not from the workflow's clock (milliseconds apart: after a
        local activity the SDK's clock is not the moment it completed, it may be a little before)."""
        return (
            step_id == self.step_id
            and abs(ctx.now - self.now) <= PLAN_AHEAD_SLACK
            and context_digest(ctx) == self.digest
        )


def on_outcomes_only(step: BranchStep) -> bool:
    """Whether every case of the branch tests earlier outcomes only (nothing the store holds)."""
    return all(isinstance(case.if_, OutcomeCondition) for case in step.cases)


def look_ahead(steps: list[Step], index: dict[str, int], position: int) -> LookAhead | None:
    """The ``LookAhead`` after the step at ``position`` (None when no delay can be reached)."""
    step = steps[position]
    target = getattr(step, "next", None)
    after = index[target] if target is not None else position + 1
    found: dict[int, Step] = {}
    positions: dict[str, int] = {}
    todo = [after]
    while todo:
        at = todo.pop()
        if at in found or at >= len(steps):
            continue
        candidate = steps[at]
        if isinstance(candidate, DelayStep):
            found[at] = candidate
        elif isinstance(candidate, BranchStep) and on_outcomes_only(candidate):
            found[at] = candidate
            for chosen in [*(case.then for case in candidate.cases), candidate.else_]:
                if chosen is None:
                    todo.append(at + 1)
                else:
                    positions[chosen] = index[chosen]
                    todo.append(index[chosen])
    if not any(isinstance(step, DelayStep) for step in found.values()):
        return None
    reachable = [AheadStep(position=at, step=step) for at, step in sorted(found.items())]
    return LookAhead(after=after, steps=reachable, positions=positions)


def reach_delay(
    ahead: LookAhead, ctx: StepContext, step_id: str, outcome: str, message: str, output: dict[str, Any]
) -> tuple[StepContext, DelayStep] | None:
    """The delay the run reaches once the step of ``ctx`` ended with ``outcome``, and the context
    the workflow will give it (its pending notes: this step's outcome, then each branch's) — or
    None when the run reaches another step first."""
    by_position = {ahead_step.position: ahead_step.step for ahead_step in ahead.steps}
    sequence = ctx.sequence
    outcomes = {**ctx.outcomes, step_id: outcome}
    outputs = {**ctx.outputs}
    if output:
        outputs[step_id] = output
    notes = [OutcomeNote(sequence=sequence, step_id=step_id, outcome=outcome, message=message, data=output)]
    position = ahead.after
    for _ in range(len(by_position)):
        step = by_position.get(position)
        if step is None:
            return None
        sequence += 1
        if isinstance(step, DelayStep):
            update = {
                "sequence": sequence,
                "step_index": position,
                "outcomes": outcomes,
                "outputs": outputs,
                "pending": notes,
            }
            return ctx.model_copy(update=update), step
        assert isinstance(step, BranchStep)
        chosen, message, data = choose(step, lambda _, condition: outcome_holds(condition, outcomes))
        completed = StepOutcomeCode.COMPLETED
        notes.append(OutcomeNote(sequence=sequence, step_id=step.id, outcome=completed, message=message, data=data))
        outcomes[step.id] = completed
        if data:
            outputs[step.id] = data
        position = ahead.positions[chosen] if chosen else position + 1
    return None


def context_digest(ctx: StepContext) -> str:
    """A digest of everything a step's activity reads from its context but the clock (for
    ``PlannedAhead``, which compares the clock on its own)."""
    text = json.dumps(ctx.model_dump(mode="json", exclude={"now"}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()

"""How a branch step chooses, shared by ``evaluate_branch`` (an activity: segment conditions read
the store) and the enrollment workflow, which decides a branch on earlier outcomes itself
(``outcome-branches``, #16.1): the same choice, message and data either way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.dsl.models import BranchStep, OutcomeCondition
from engine.dsl.outcomes import StepOutcomeCode


def outcome_holds(condition: OutcomeCondition, outcomes: Mapping[str, str]) -> bool:
    """``outcome_of: X, is: [...]``: X's outcome so far (``SKIPPED`` when it has not run) is listed."""
    return outcomes.get(condition.outcome_of, StepOutcomeCode.SKIPPED) in condition.is_


def choose(step: BranchStep, holds: Callable[[int, Any], bool]) -> tuple[str | None, str, dict[str, Any]]:
    """The first case whose condition ``holds(number, condition)``, else ``else``: the chosen step
    (None: the next one), the action log's message and the step's data."""
    chosen: str | None = step.else_
    case_number: int | None = None
    for number, case in enumerate(step.cases):
        if holds(number, case.if_):
            chosen, case_number = case.then, number
            break
    data = {"case": case_number, "next": chosen}
    message = f"case {case_number + 1} → {chosen}" if case_number is not None else f"else → {chosen or 'next'}"
    return chosen, message, data

"""Fault injection per endpoint: errors, 429s, latency and dropped connections.

A rule fires on the next ``times`` matching calls (a schedule) or with a ``probability`` drawn
from a seeded RNG (reproducible runs). Operations are named like the client methods
(``add_registrant``, ``report_participants``, …) or ``*`` for all; see ``OPERATIONS``.
"""

from __future__ import annotations

import itertools
import random
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

OPERATIONS = (
    "oauth_token",
    "get_user",
    "list_users",
    "list_user_webinars",
    "get_webinar",
    "get_registration_questions",
    "add_registrant",
    "list_registrants",
    "update_registrant_status",
    "list_past_instances",
    "report_participants",
    "past_participants",
    "absentees",
    "get_recordings",
)


class FaultKind(StrEnum):
    #: Answer ``status`` (default 503) with a Zoom error envelope.
    ERROR = "error"
    #: Answer 429 like an exhausted per-second (or, with ``daily``, daily) budget; headers
    #: unless ``omit_headers``.
    RATE_LIMIT = "rate_limit"
    #: Wait ``latency_ms`` then answer normally.
    LATENCY = "latency"
    #: Start the answer and close the connection mid-body.
    DROP = "drop"


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str = "*"
    kind: FaultKind
    status: int = Field(default=503, ge=400, le=599)
    latency_ms: int = Field(default=0, ge=0)
    omit_headers: bool = False
    #: For ``rate_limit``: the daily variant, whose ``Retry-After`` is the next UTC midnight (ISO-8601).
    daily: bool = False
    #: Fire on the next N matching calls, then retire.
    times: int | None = Field(default=None, ge=1)
    #: Or fire with this probability on every matching call.
    probability: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_trigger(self) -> FaultRule:
        if (self.times is None) == (self.probability is None):
            raise ValueError("give exactly one of `times` or `probability`")
        if self.operation != "*" and self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}; one of {', '.join(OPERATIONS)}")
        return self


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self._rules: dict[int, FaultRule] = {}
        self._remaining: dict[int, int] = {}
        self._ids = itertools.count(1)
        self._rng = random.Random(seed)
        self.fired: list[tuple[str, FaultKind]] = []

    def add(self, rule: FaultRule) -> int:
        rule_id = next(self._ids)
        self._rules[rule_id] = rule
        if rule.times is not None:
            self._remaining[rule_id] = rule.times
        return rule_id

    def clear(self, seed: int | None = None) -> None:
        self._rules.clear()
        self._remaining.clear()
        self.fired.clear()
        if seed is not None:
            self._rng = random.Random(seed)

    def rules(self) -> dict[int, FaultRule]:
        return dict(self._rules)

    def pick(self, operation: str) -> FaultRule | None:
        """The rule that fires for this call, if any (the first matching rule wins)."""
        for rule_id, rule in list(self._rules.items()):
            if rule.operation not in ("*", operation):
                continue
            if rule.times is not None:
                self._remaining[rule_id] -= 1
                if self._remaining[rule_id] <= 0:
                    del self._rules[rule_id]
                    del self._remaining[rule_id]
            elif self._rng.random() >= (rule.probability or 0.0):
                continue
            self.fired.append((operation, rule.kind))
            return rule
        return None

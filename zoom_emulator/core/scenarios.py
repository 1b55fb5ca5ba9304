"""Attendance scenarios: who of a webinar's registrants attend an occurrence, when they join and
leave, and who speaks — drawn deterministically (a seeded RNG per instance), so the webhooks, the
participants report and the transcript of one occurrence all come from one plan.

A scenario is given per webinar in the seed (``scenario:``) or through the admin API
(``PUT /_admin/webinars/{id}/scenario``); a webinar without one runs ``Scenario()``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["host", "panelist", "attendee"]
At = Callable[[float], datetime]

_GUEST_NAMES = ["Sam", "Alex", "Robin", "Kim", "Charlie", "Jamie", "Noa", "Lou", "Max", "Eden"]


class _ScenarioModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Panelist(_ScenarioModel):
    name: str
    email: str


class ScriptedAttendee(_ScenarioModel):
    """One person whose sessions are given, e.g. a demo contact who must attend.

    ``email`` is a registrant's (``registrant_id`` is then filled) or a walk-in's; a guest joins
    without showing an email (R-SCOPE-3). Sessions are ``[join, leave]`` in minutes from the
    start; overlapping sessions are two devices at once, a gap between two is a rejoin.
    """

    email: str = ""
    name: str = ""
    guest: bool = False
    sessions: list[tuple[float, float]] = Field(min_length=1)
    #: Speaks in the transcript (asks a question while present).
    speaks: bool = False

    @model_validator(mode="after")
    def _sessions_forward(self) -> ScriptedAttendee:
        if any(leave <= join for join, leave in self.sessions):
            raise ValueError("each session must leave after it joins")
        if not self.email and not self.name:
            raise ValueError("give the attendee an email or a name")
        return self


class Scenario(_ScenarioModel):
    """How an occurrence of a webinar goes. Shares are drawn per approved registrant."""

    #: Share of the approved registrants who attend.
    attendance: float = Field(default=0.6, ge=0.0, le=1.0)
    #: Share of attendees who join late, up to ``max_late_minutes`` after the start.
    late_share: float = Field(default=0.25, ge=0.0, le=1.0)
    max_late_minutes: float = Field(default=10.0, ge=1.0)
    #: Share of attendees who leave before the end.
    early_leave_share: float = Field(default=0.2, ge=0.0, le=1.0)
    #: Share of attendees who leave and come back (two join sessions).
    rejoin_share: float = Field(default=0.1, ge=0.0, le=1.0)
    #: Share of attendees who are also connected from a second device for a while.
    two_devices_share: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Participants who join without showing an email (``user_email: ""``).
    guests: int = Field(default=1, ge=0)
    #: Signed-in participants who never registered.
    walk_ins: int = Field(default=0, ge=0)
    #: The host joins for the whole occurrence (and speaks most of the transcript).
    host_joins: bool = True
    panelists: list[Panelist] = Field(default_factory=list)
    attendees: list[ScriptedAttendee] = Field(default_factory=list)
    #: Attendees (besides scripted speakers) who ask a question in the transcript.
    speakers: int = Field(default=2, ge=0)
    #: When the host really ends it; defaults to the scheduled duration.
    actual_duration_minutes: float | None = Field(default=None, gt=0.0)
    #: ``False``: no cloud recording — the recordings endpoint answers 3301 for ever.
    recording: bool = True
    #: Processing delays after the end: video/audio (``recording.completed``), then transcript
    #: (``recording.transcript_completed``).
    recording_delay_minutes: float = Field(default=10.0, ge=0.0)
    transcript_delay_minutes: float = Field(default=20.0, ge=0.0)
    #: Size of the WebVTT transcript (exact); default 1,000 bytes per minute of the occurrence.
    transcript_bytes: int | None = Field(default=None, ge=0)
    #: The MP4's recorded ``file_size`` per minute (the emulator never serves video bytes).
    video_bytes_per_minute: int = Field(default=3_500_000, ge=0)
    seed: int = 1


@dataclass(frozen=True)
class Person:
    """A registrant as the planner sees it."""

    email: str
    first_name: str
    last_name: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email.split("@")[0]


@dataclass(frozen=True)
class PlannedSession:
    name: str
    email: str
    guest: bool
    role: Role
    join: datetime
    leave: datetime


def scenario_rng(scenario: Scenario, instance_key: str) -> random.Random:
    return random.Random(f"{instance_key}:{scenario.seed}")


def plan_attendance(
    scenario: Scenario,
    *,
    instance_key: str,
    start: datetime,
    end: datetime,
    host: Person,
    registrants: list[Person],
) -> list[PlannedSession]:
    """Every join session of one occurrence, ordered by join time."""
    rng = scenario_rng(scenario, instance_key)
    span = max(60, int((end - start).total_seconds()))
    at = _timeline(start, span)
    planned: list[PlannedSession] = []
    if scenario.host_joins:
        planned.append(PlannedSession(host.name, host.email, False, "host", start, at(span)))
    for panelist in scenario.panelists:
        planned.append(
            PlannedSession(panelist.name, panelist.email, False, "panelist", at(rng.randint(0, 60)), at(span))
        )
    scripted = {a.email.lower() for a in scenario.attendees if a.email}
    by_email = {p.email.lower(): p for p in registrants}
    for attendee in scenario.attendees:
        planned.extend(_scripted(attendee, by_email.get(attendee.email.lower()), at, span))
    for person in registrants:
        if person.email.lower() in scripted or rng.random() >= scenario.attendance:
            continue
        planned.extend(_attendee(scenario, rng, at, span, person.name, person.email, guest=False))
    for n in range(scenario.walk_ins):
        name = f"{rng.choice(_GUEST_NAMES)} Walk-in {n + 1}"
        planned.extend(_attendee(scenario, rng, at, span, name, f"walk.in{n + 1}@walk-ins.example", guest=False))
    for n in range(scenario.guests):
        planned.extend(
            _attendee(scenario, rng, at, span, f"{rng.choice(_GUEST_NAMES)} (guest {n + 1})", "", guest=True)
        )
    return sorted(planned, key=lambda s: (s.join, s.role != "host"))


def _timeline(start: datetime, span: int) -> At:
    """Seconds from the start → a whole-second moment within the occurrence."""

    def at(seconds: float) -> datetime:
        return start + timedelta(seconds=int(min(max(seconds, 0), span)))

    return at


def _scripted(attendee: ScriptedAttendee, registrant: Person | None, at: At, span: int) -> list[PlannedSession]:
    name = attendee.name or (registrant.name if registrant else attendee.email.split("@")[0])
    email = "" if attendee.guest else attendee.email
    return [
        PlannedSession(name, email, attendee.guest, "attendee", at(join * 60), at(leave * 60))
        for join, leave in attendee.sessions
        if join * 60 < span
    ]


def _attendee(
    scenario: Scenario, rng: random.Random, at: At, span: int, name: str, email: str, *, guest: bool
) -> list[PlannedSession]:
    """One drawn attendee: on time or late, to the end or early, maybe a rejoin, maybe two devices."""
    late = rng.random() < scenario.late_share
    join = rng.uniform(60, scenario.max_late_minutes * 60) if late else rng.uniform(0, 60)
    join = min(join, span * 0.8)
    leave = float(span)
    if rng.random() < scenario.early_leave_share:
        leave = rng.uniform(join + (span - join) * 0.3, span - 30)
    intervals = [(join, leave)]
    if rng.random() < scenario.rejoin_share and leave - join > 300:
        cut = rng.uniform(join + 60, leave - 180)
        back = cut + rng.uniform(30, 120)
        intervals = [(join, cut), (back, leave)]
    if rng.random() < scenario.two_devices_share and leave - join > 120:
        first_join, first_leave = intervals[0]
        length = first_leave - first_join
        intervals.append((first_join + length * 0.2, first_join + length * 0.7))
    return [
        PlannedSession(name, email, guest, "attendee", at(a), max(at(b), at(a) + timedelta(seconds=1)))
        for a, b in intervals
    ]

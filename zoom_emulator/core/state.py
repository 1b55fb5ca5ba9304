"""The emulator's in-memory Zoom: accounts, users, webinars, registrants, instances, recordings,
and what is scheduled to happen (``scheduler``, see ``live.py``).

JSON renderings of registrants and join sessions are cached on the objects, so serving a page of
live data costs one pass over cached rows (bench/zoom_paging.py).
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.facts import ZOOM_EVENTS_CREATION_SOURCE, Plan, RateLabel
from zoom_emulator.core.scenarios import Scenario
from zoom_emulator.core.scheduler import Scheduler
from zoom_emulator.core.seeds import (
    AccountSeed,
    CustomAnswerSeed,
    GenerateRegistrants,
    GenerateSessions,
    InstanceSeed,
    RecordingSeed,
    RegistrantSeed,
    SeedDocument,
    SessionSeed,
    WebinarSeed,
)
from zoom_emulator.core.transcript import MIN_FILE_BYTES

#: Join links point at a reserved domain so nobody mistakes them for real Zoom links.
LINK_HOST = "https://emulator.zoom.invalid"
#: Report data reaches back about six months.
REPORT_RETENTION = timedelta(days=183)
#: A webinar stays in ``type=scheduled`` listings this long after it ended.
SCHEDULED_LISTING_GRACE = timedelta(days=30)

#: Recording files the emulator serves (the others are described, never downloaded).
SERVED_FILE_TYPES = ("TRANSCRIPT", "CC", "CHAT")
#: Standard registration fields a registrant may answer (``field_name`` values, docs/zoom.md, "Registrants").
STANDARD_ANSWER_FIELDS = (
    "last_name",
    "address",
    "city",
    "country",
    "zip",
    "state",
    "phone",
    "industry",
    "org",
    "job_title",
    "purchasing_time_frame",
    "role_in_purchase_process",
    "no_of_employees",
    "comments",
)
_FIRST_NAMES = ["Ada", "Bruno", "Chloé", "Dmitri", "Esther", "Farid", "Greta", "Hiro", "Ines", "Jonas"]
_LAST_NAMES = ["Martin", "Okafor", "Schmidt", "Tanaka", "Rossi", "Dubois", "Silva", "Novak", "Haddad", "Berg"]


def zoom_time(moment: datetime) -> str:
    """UTC ISO-8601 with ``Z``, as Zoom writes times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_id(*parts: object, length: int = 22) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]


@dataclass
class User:
    id: str
    account_id: str
    email: str
    first_name: str
    last_name: str
    timezone: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "type": 2,
            "status": "active",
            "timezone": self.timezone,
            "created_at": zoom_time(self.created_at),
            "account_id": self.account_id,
        }


@dataclass
class Account:
    id: str
    name: str
    plan: Plan
    client_id: str
    client_secret: str
    users: dict[str, User] = field(default_factory=dict)
    #: Per-second limits that replace the plan's, by rate label (``AccountSeed.rate_limits``).
    rate_limits: dict[RateLabel, int] = field(default_factory=dict)


@dataclass
class Registrant:
    id: str
    webinar_id: int
    email: str
    first_name: str
    last_name: str
    status: str  # approved | pending | denied
    cancelled: bool
    create_time: datetime
    join_url: str
    answers: dict[str, str] = field(default_factory=dict)
    custom_answers: list[dict[str, str]] = field(default_factory=list)
    _json: dict[str, Any] | None = None

    def set_status(self, status: str, *, cancelled: bool = False) -> None:
        self.status = status
        self.cancelled = cancelled
        self._json = None

    def to_json(self) -> dict[str, Any]:
        if self._json is None:
            self._json = {
                "id": self.id,
                "email": self.email,
                "first_name": self.first_name,
                "last_name": self.last_name,
                **self.answers,
                "custom_questions": self.custom_answers,
                "status": self.status,
                "create_time": zoom_time(self.create_time),
                "join_url": self.join_url,
            }
        return self._json


@dataclass
class Session:
    user_id: str
    participant_user_id: str
    name: str
    email: str
    join_time: datetime
    leave_time: datetime
    registrant_id: str
    role: str = "attendee"
    _json: dict[str, Any] | None = None
    _json_with_registrant: dict[str, Any] | None = None

    def participant_uuid(self, instance_uuid: str) -> str:
        """Zoom's ``participant_uuid``: one per person (or guest join) in an instance."""
        return stable_id("participant-uuid", instance_uuid, self.participant_user_id or self.user_id, length=32)

    def to_json(self, *, with_registrant_id: bool = False) -> dict[str, Any]:
        """A participants-report row; ``registrant_id`` only with ``include_fields=registrant_id``."""
        if self._json is None:
            self._json = {
                "id": self.participant_user_id,
                "participant_user_id": self.participant_user_id,
                "user_id": self.user_id,
                "name": self.name,
                "user_email": self.email,
                "join_time": zoom_time(self.join_time),
                "leave_time": zoom_time(self.leave_time),
                "duration": int((self.leave_time - self.join_time).total_seconds()),
                "status": "in_meeting",
                "failover": False,
                "customer_key": "",
            }
        if not with_registrant_id:
            return self._json
        if self._json_with_registrant is None:
            self._json_with_registrant = {**self._json, "registrant_id": self.registrant_id}
        return self._json_with_registrant


@dataclass
class RecordingFile:
    id: str
    file_type: str
    file_extension: str
    recording_type: str
    file_size: int
    available_at: datetime


@dataclass
class Recording:
    files: list[RecordingFile]
    deleted: bool
    share_token: str = ""

    def ready_files(self, now: datetime) -> list[RecordingFile]:
        return [] if self.deleted else [f for f in self.files if f.available_at <= now]


@dataclass
class Instance:
    uuid: str
    webinar_id: int
    start_time: datetime
    duration: int
    sessions: list[Session] = field(default_factory=list)
    recording: Recording | None = None

    @property
    def end_time(self) -> datetime:
        return self.start_time + timedelta(minutes=self.duration)

    def has_ended(self, now: datetime) -> bool:
        return self.end_time <= now


@dataclass
class Webinar:
    id: int
    account_id: str
    host: User
    topic: str
    type: int
    start_time: datetime
    duration: int
    timezone: str
    approval_type: int
    alternative_hosts: str
    zoom_event: bool
    occurrences: list[datetime]
    questions: list[dict[str, Any]]
    custom_questions: list[dict[str, Any]]
    created_at: datetime
    scenario: Scenario | None = None
    registrants: dict[str, Registrant] = field(default_factory=dict)
    registrant_by_email: dict[str, Registrant] = field(default_factory=dict)
    instances: list[Instance] = field(default_factory=list)

    @property
    def end_time(self) -> datetime:
        last_start = max([self.start_time, *self.occurrences])
        return last_start + timedelta(minutes=self.duration)

    def is_over(self, now: datetime) -> bool:
        return self.end_time <= now

    def host_emails(self) -> set[str]:
        alternates = self.alternative_hosts.replace(",", ";").split(";")
        return {self.host.email.lower(), *(a.strip().lower() for a in alternates if a.strip())}

    def latest_instance(self) -> Instance | None:
        return max(self.instances, key=lambda i: i.start_time, default=None)

    def occurrence_starts(self) -> list[datetime]:
        """When each occurrence starts: the occurrences of a recurring webinar, else its start time."""
        if self.type == 6:  # recurring with no fixed time: nothing to run on a clock
            return []
        return sorted(self.occurrences) if self.occurrences else [self.start_time]

    def instance_at(self, start: datetime) -> Instance | None:
        return next((i for i in self.instances if i.start_time == start), None)

    def current_uuid(self) -> str:
        latest = self.latest_instance()
        return latest.uuid if latest else stable_id("webinar-uuid", self.id, length=22) + "=="

    def join_url(self) -> str:
        return f"{LINK_HOST}/j/{self.id}"

    def add_registrant(self, seed: RegistrantSeed, now: datetime) -> Registrant:
        email = seed.email.lower()
        existing = self.registrant_by_email.get(email)
        if existing is not None:
            return existing
        registrant_id = seed.id or stable_id("registrant", self.id, email)
        status = "denied" if seed.status == "cancelled" else seed.status
        registrant = Registrant(
            id=registrant_id,
            webinar_id=self.id,
            email=seed.email,
            first_name=seed.first_name,
            last_name=seed.last_name,
            status=status,
            cancelled=seed.status == "cancelled",
            create_time=seed.create_time or now,
            join_url=f"{LINK_HOST}/w/{self.id}?tk={stable_id('tk', registrant_id, length=30)}",
            answers=dict(seed.answers),
            custom_answers=[answer.model_dump() for answer in seed.custom_questions],
        )
        self.registrants[registrant_id] = registrant
        self.registrant_by_email[email] = registrant
        return registrant

    def add_registrant_from_api(self, body: dict[str, Any], now: datetime) -> Registrant:
        """A new registration: approved when ``approval_type`` is 0, pending when 1."""
        return self.add_registrant(
            RegistrantSeed(
                email=str(body["email"]).strip(),
                first_name=str(body["first_name"]),
                last_name=str(body.get("last_name") or ""),
                status="approved" if self.approval_type == 0 else "pending",
                answers={
                    name: str(body[name]) for name in STANDARD_ANSWER_FIELDS if name != "last_name" and body.get(name)
                },
                custom_questions=[
                    CustomAnswerSeed(title=str(a.get("title", "")), value=str(a.get("value", "")))
                    for a in body.get("custom_questions") or []
                    if isinstance(a, dict)
                ],
            ),
            now,
        )

    def summary_json(self) -> dict[str, Any]:
        return {
            "uuid": self.current_uuid(),
            "id": self.id,
            "host_id": self.host.id,
            "topic": self.topic,
            "type": self.type,
            "start_time": zoom_time(self.start_time),
            "duration": self.duration,
            "timezone": self.timezone,
            "agenda": "",
            "created_at": zoom_time(self.created_at),
            "join_url": self.join_url(),
            "is_simulive": False,
        }

    def to_json(self) -> dict[str, Any]:
        body = self.summary_json()
        body.update(
            host_email=self.host.email,
            creation_source=ZOOM_EVENTS_CREATION_SOURCE if self.zoom_event else "web_portal",
            settings={
                "approval_type": self.approval_type,
                "alternative_hosts": self.alternative_hosts,
                "registrants_email_notification": True,
                "auto_recording": "cloud",
                "registration_type": 1,
                "close_registration": False,
            },
        )
        if self.approval_type != 2:
            body["registration_url"] = f"{LINK_HOST}/webinar/register/{self.id}"
        if self.occurrences:
            body["occurrences"] = [
                {
                    "occurrence_id": str(int(moment.timestamp() * 1000)),
                    "start_time": zoom_time(moment),
                    "duration": self.duration,
                    "status": "available",
                }
                for moment in self.occurrences
            ]
        return body


@dataclass
class PageCursor:
    """What a ``next_page_token`` points at: a position in a listing, not a snapshot of it — later
    pages read the live data, so a change between two pages shifts them, as Zoom's may."""

    listing: tuple[str, ...]
    offset: int
    issued_at: float


@dataclass
class EmulatorState:
    clock: EmulatorClock
    accounts: dict[str, Account] = field(default_factory=dict)
    users_by_id: dict[str, User] = field(default_factory=dict)
    users_by_email: dict[str, User] = field(default_factory=dict)
    webinars: dict[int, Webinar] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    #: access token → (account id, expiry as emulator timestamp)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    tokens_issued: Counter[str] = field(default_factory=Counter)
    page_cursors: dict[str, PageCursor] = field(default_factory=dict)
    #: Successful add-registrant calls per webinar, and per (webinar, email, UTC day) for the 3/day limit.
    add_calls: Counter[int] = field(default_factory=Counter)
    adds_per_email_day: Counter[tuple[int, str, date]] = field(default_factory=Counter)
    status_changes_per_day: Counter[tuple[str, date]] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    #: What happens next, in emulator time (``live.py`` runs it).
    scheduler: Scheduler = field(default_factory=Scheduler)
    #: Recording file id → (instance, file), for downloads.
    files: dict[str, tuple[Instance, RecordingFile]] = field(default_factory=dict)
    #: A webhook's ``download_token`` → (instance UUID, expiry as emulator timestamp).
    download_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    # --- seeding -------------------------------------------------------------------------------

    def apply_seed(self, seed: SeedDocument) -> None:
        if seed.clock is not None:
            self.clock.set(seed.clock, frozen=seed.clock_frozen, speed=seed.clock_speed)
        elif "clock_speed" in seed.model_fields_set:
            self.clock.set_speed(seed.clock_speed)
        for account in seed.accounts:
            self.add_account(account)

    def add_account(self, seed: AccountSeed) -> Account:
        account = self.accounts.get(seed.id)
        if account is None:
            account = Account(
                seed.id, seed.name or seed.id, seed.plan, seed.client_id, seed.client_secret,
                rate_limits=dict(seed.rate_limits),
            )  # fmt: skip
            self.accounts[seed.id] = account
        now = self.clock.now()
        for user_seed in seed.users:
            user = User(
                user_seed.id,
                account.id,
                user_seed.email,
                user_seed.first_name,
                user_seed.last_name,
                user_seed.timezone,
                now - timedelta(days=365),
            )
            account.users[user.id] = user
            self.users_by_id[user.id] = user
            self.users_by_email[user.email.lower()] = user
        for webinar_seed in seed.webinars:
            self.add_webinar(account.id, webinar_seed)
        return account

    def add_webinar(self, account_id: str, seed: WebinarSeed) -> Webinar:
        account = self.accounts[account_id]
        host = account.users.get(seed.host_id) or self.users_by_email.get(seed.host_id.lower())
        if host is None or host.account_id != account_id:
            raise KeyError(f"host {seed.host_id!r} is not a user of account {account_id!r}")
        webinar = Webinar(
            id=seed.id,
            account_id=account_id,
            host=host,
            topic=seed.topic,
            type=seed.type,
            start_time=seed.start_time,
            duration=seed.duration,
            timezone=seed.timezone,
            approval_type=seed.approval_type,
            alternative_hosts=seed.alternative_hosts,
            zoom_event=seed.zoom_event,
            occurrences=list(seed.occurrences),
            questions=[q.model_dump() for q in seed.questions],
            custom_questions=[q.model_dump() for q in seed.custom_questions],
            created_at=seed.start_time - timedelta(days=30),
            scenario=seed.scenario,
        )
        self.webinars[webinar.id] = webinar
        self.add_registrants(webinar, seed.registrants, seed.generate_registrants)
        for instance_seed in seed.instances:
            self.add_instance(webinar, instance_seed)
        return webinar

    def add_registrants(
        self, webinar: Webinar, seeds: list[RegistrantSeed], generate: GenerateRegistrants | None
    ) -> None:
        created = webinar.created_at
        for seed in seeds:
            webinar.add_registrant(seed, created)
        if generate is None:
            return
        rng = random.Random(f"{webinar.id}:{generate.seed}")
        offset = len(webinar.registrants)
        for n in range(generate.count):
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            roll = rng.random()
            status: Any = "approved"
            if roll < generate.pending:
                status = "pending"
            elif roll < generate.pending + generate.denied:
                status = "denied"
            elif roll < generate.pending + generate.denied + generate.cancelled:
                status = "cancelled"
            email = f"{first}.{last}.{offset + n}@{generate.domain}".lower().replace("é", "e")
            seed = RegistrantSeed(email=email, first_name=first, last_name=last, status=status)
            webinar.add_registrant(seed, created + timedelta(minutes=n))

    def add_instance(self, webinar: Webinar, seed: InstanceSeed) -> Instance:
        instance = Instance(seed.uuid, webinar.id, seed.start_time, seed.duration or webinar.duration)
        webinar.instances.append(instance)
        self.instances[instance.uuid] = instance
        self.add_sessions(webinar, instance, seed.sessions, seed.generate_sessions)
        if seed.recording is not None:
            self.attach_recording(instance, seed.recording)
        return instance

    def attach_recording(self, instance: Instance, seed: RecordingSeed) -> Recording:
        """The instance's cloud recording; files the emulator serves have at least ``MIN_FILE_BYTES``."""
        instance.recording = Recording(
            files=[
                RecordingFile(
                    id=stable_id("file", instance.uuid, n),
                    file_type=f.file_type,
                    file_extension=f.file_extension,
                    recording_type=f.recording_type,
                    file_size=max(f.file_size, MIN_FILE_BYTES) if f.file_type in SERVED_FILE_TYPES else f.file_size,
                    available_at=instance.end_time + timedelta(minutes=f.available_after_minutes),
                )
                for n, f in enumerate(seed.files)
            ],
            deleted=seed.deleted,
            share_token=stable_id("share", instance.uuid, length=32),
        )
        for file in instance.recording.files:
            self.files[file.id] = (instance, file)
        return instance.recording

    def add_sessions(
        self, webinar: Webinar, instance: Instance, seeds: list[SessionSeed], generate: GenerateSessions | None
    ) -> None:
        for seed in seeds:
            self.add_session(webinar, instance, seed)
        if generate is None:
            return
        rng = random.Random(f"{instance.uuid}:{generate.seed}")
        start, end = instance.start_time, instance.end_time
        span = int((end - start).total_seconds())
        people = [r for r in webinar.registrants.values() if r.status == "approved"][: generate.attendees]
        for n, person in enumerate(people):
            join = start + timedelta(seconds=rng.randrange(0, max(1, span // 4)))
            leave = end - timedelta(seconds=rng.randrange(0, max(1, span // 4)))
            name = f"{person.first_name} {person.last_name}".strip()
            if generate.rejoin_every and n % generate.rejoin_every == 0:
                # Left and came back: two join sessions for one person.
                gap = (leave - join) / 3
                self.add_session(
                    webinar, instance, SessionSeed(name=name, email=person.email, join_time=join, leave_time=join + gap)
                )
                join = join + 2 * gap
            self.add_session(
                webinar, instance, SessionSeed(name=name, email=person.email, join_time=join, leave_time=leave)
            )
        for n in range(generate.guests):
            join = start + timedelta(seconds=rng.randrange(0, max(1, span // 2)))
            self.add_session(
                webinar, instance, SessionSeed(name=f"Guest {n + 1}", guest=True, join_time=join, leave_time=end)
            )

    def add_session(self, webinar: Webinar, instance: Instance, seed: SessionSeed) -> None:
        email = "" if seed.guest else seed.email
        registrant = webinar.registrant_by_email.get(email.lower()) if email else None
        participant_id = stable_id("participant", email.lower(), length=22) if email else ""
        instance.sessions.append(
            Session(
                user_id=str(16_778_240 + len(instance.sessions)),
                participant_user_id=participant_id,
                name=seed.name,
                email=email,
                join_time=seed.join_time,
                leave_time=seed.leave_time,
                registrant_id=registrant.id if registrant else "",
                role=seed.role,
            )
        )

    # --- lookups -------------------------------------------------------------------------------

    def user_for(self, account_id: str, user_ref: str) -> User | None:
        account = self.accounts[account_id]
        if user_ref == "me":
            # Server-to-Server apps act as the account; "me" is its first (owner) user.
            return next(iter(account.users.values()), None)
        user = account.users.get(user_ref) or self.users_by_email.get(user_ref.lower())
        return user if user is not None and user.account_id == account_id else None

    def webinar_for(self, account_id: str, webinar_id: str) -> Webinar | None:
        if not webinar_id.isdigit():
            return None
        webinar = self.webinars.get(int(webinar_id))
        return webinar if webinar is not None and webinar.account_id == account_id else None

    def instance_for(self, account_id: str, ref: str) -> Instance | None:
        """A numeric id means the webinar's **latest** ended instance; anything else is an instance
        UUID. An occurrence still running has no past-webinar data yet."""
        now = self.clock.now()
        if ref.isdigit():
            webinar = self.webinar_for(account_id, ref)
            ended = [i for i in webinar.instances if i.has_ended(now)] if webinar else []
            return max(ended, key=lambda i: i.start_time, default=None)
        instance = self.instances.get(ref)
        if instance is None or self.webinars[instance.webinar_id].account_id != account_id:
            return None
        return instance if instance.has_ended(now) else None

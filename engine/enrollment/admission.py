"""The store's side of enrolling: who enters a workflow, decided for many contacts at once.

``admit_many`` takes a batch of contacts for one workflow and decides them in the caller's
transaction with a fixed number of statements whatever the batch size (one classification of
the emails, one contact upsert, one look-up of active and of finished enrollments, one
multi-row insert of the new enrollments): the per-contact filters (suppression, criteria,
goal), when a definition has them, add one query per contact each.

The partial unique index ``uq_enrollments_one_active`` stays the permanent guard: the insert
skips a contact that another process enrolled at the same moment, and that contact gets the
enrollment that won (``created`` False), exactly as a duplicate request does.

A refusal that concerns the whole batch (no such workflow, disabled, trigger not allowed) is
raised; one that concerns a single contact is returned in its place, so one bad row never
fails the others.

The rules, in order, each a function of its own (the first refusal is the answer): the workflow
is enabled (``_require_enabled``) and accepts the trigger (``_require_trigger``); the contact
exists or may be created (``_resolve_contacts``); a contact enrolled now gets its running
enrollment (``_decide_one``); then ``_CONTACT_RULES``: re-enrollment, suppression list,
criteria, goal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from engine.crm.bulk import chunked, connection_of
from engine.crm.contacts import (
    ContactUpsert,
    ExclusionReason,
    classify_emails,
    update_contact,
    upsert_contacts,
    validate_properties,
)
from engine.crm.enrollments import add_enrolled_events, get_definition, insert_active_enrollment
from engine.crm.errors import ContactNotFound
from engine.crm.numbers import PropertyValue
from engine.crm.segments import AndFilter, Condition, EventFilter, NotFilter, OrFilter, SegmentFilter, contact_matches
from engine.crm.sync_settings import get_sync_settings
from engine.crm.tables import (
    SYNC_SETTINGS_ID,
    Contact,
    DefinitionRevision,
    Enrollment,
    EnrollmentStatus,
    SyncSettings,
    WorkflowDefinition,
    table_of,
    utcnow,
)
from engine.dsl import Definition
from engine.dsl.models import ApiTrigger, EnrollmentRules, EventTrigger, ManualTrigger
from engine.dsl.templates import render_filter
from engine.enrollment.context import contact_variables, short_name
from engine.enrollment.contracts import enrollment_workflow_id
from engine.enrollment.definitions import load_revision_hashed, parse_revision
from engine.enrollment.errors import (
    ContactExcluded,
    CriteriaNotMet,
    GoalAlreadyMet,
    ReEnrollmentOff,
    Suppressed,
    TriggerNotAllowed,
    WorkflowDisabled,
)
from engine.errors import RollcallError
from engine.schema_hints import EMAIL_PATTERN, exactly_one_of

ENROLLMENTS = table_of(Enrollment)
DEFINITIONS = table_of(WorkflowDefinition)
REVISIONS = table_of(DefinitionRevision)
SETTINGS = table_of(SyncSettings)
CONTACTS = table_of(Contact)
#: Rows per IN list or multi-row insert; well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500

_TRIGGER_TYPES: dict[str, type[Any]] = {"api": ApiTrigger, "manual": ManualTrigger, "event": EventTrigger}


class ContactIn(BaseModel):
    """Who to enroll: an existing contact by id, or a person by email (created or updated)."""

    model_config = ConfigDict(
        extra="forbid",
        # Exactly one of contact_id and email (#14.5: the schema refuses an empty body, as the server does).
        json_schema_extra=exactly_one_of({"contact_id": {"type": "integer"}}, {"email": {"type": "string"}}),
    )

    contact_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    email: str | None = Field(
        default=None, max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN, "format": "email"}
    )
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=200)

    @field_validator("email", "first_name", "last_name")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> ContactIn:
        if (self.contact_id is None) == (self.email is None):
            raise ValueError("give either contact_id or email")
        return self

    def has_fields(self) -> bool:
        return self.first_name is not None or self.last_name is not None or bool(self.properties)


@dataclass
class Admission:
    """The store's decision for one contact: the active enrollment, new or existing."""

    enrollment: Enrollment
    created: bool
    definition: Definition
    version: int
    summary: str
    contact_id: int
    #: ``definition_hash`` of ``definition`` (computed once per revision, not per start).
    definition_hash: str = ""


Outcome = Admission | RollcallError

_EXCLUSION_MESSAGES = {
    ExclusionReason.INVALID_EMAIL: "the email is not a valid address",
    ExclusionReason.MISSING_EMAIL: "the email is empty",
    ExclusionReason.ACCOUNT_USER: "the email belongs to an account user, who is never enrolled",
    ExclusionReason.EXCLUDED_DOMAIN: "the email's domain is excluded from contact creation",
    ExclusionReason.SECONDARY_EMAIL: "the email is another contact's secondary email; enroll that contact by id",
    ExclusionReason.DELETED_CONTACT: "the contact with this email was deleted; restore it to enroll it",
}


def _excluded(reason: ExclusionReason) -> ContactExcluded:
    return ContactExcluded(_EXCLUSION_MESSAGES[reason], details={"reason": reason.value})


# --- contacts -----------------------------------------------------------------------------------


def _apply_fields(session: Session, contact_id: int, contact: ContactIn, properties: dict[str, Any]) -> None:
    changes: dict[str, Any] = {}
    if contact.first_name is not None:
        changes["first_name"] = contact.first_name
    if contact.last_name is not None:
        changes["last_name"] = contact.last_name
    if properties:
        changes["properties"] = properties
    if changes:
        update_contact(session, contact_id, **changes)


@dataclass
class _Resolved:
    #: Each item's contact id (0 where the item is refused).
    ids: list[int]
    #: Contacts this transaction created, with the names they were created with: they have no
    #: enrollment yet, and their names need no reading back.
    fresh: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    #: Every contact this transaction created (a refusal does not name them: they are not kept).
    created: set[int] = field(default_factory=set)


@dataclass
class _Items:
    """A batch's items as ``_resolve_contacts`` goes through them: a refusal goes to ``outcomes``,
    a contact id to ``found``."""

    contacts: Sequence[ContactIn]
    outcomes: list[Outcome | None]
    #: Each item's properties, validated.
    properties: list[dict[str, Any]]
    found: _Resolved

    def undecided(self, by_id: bool) -> list[int]:
        """The items without an outcome yet that name their contact by id (else by e-mail)."""
        return [
            index
            for index, contact in enumerate(self.contacts)
            if (contact.contact_id if by_id else contact.email) is not None and self.outcomes[index] is None
        ]

    def found_as(self, session: Session, index: int, contact_id: int) -> None:
        """Item ``index`` is contact ``contact_id``, which existed: the request's fields apply to it."""
        self.found.ids[index] = contact_id
        contact = self.contacts[index]
        if contact.has_fields():
            _apply_fields(session, contact_id, contact, self.properties[index])


def _resolve_contacts(
    session: Session, contacts: Sequence[ContactIn], outcomes: list[Outcome | None], excluded_domains: Sequence[str]
) -> _Resolved:
    """Each contact's id, by id or by email (created or updated; tombstones, account users,
    secondary emails and excluded domains respected); a refusal goes to ``outcomes``."""
    items = _Items(contacts, outcomes, _validated_properties(contacts, outcomes), _Resolved([0] * len(contacts)))
    _resolve_by_id(session, items)
    _resolve_by_email(session, items, excluded_domains)
    return items.found


def _validated_properties(contacts: Sequence[ContactIn], outcomes: list[Outcome | None]) -> list[dict[str, Any]]:
    """Each item's properties as the store takes them; an invalid one is the item's refusal."""
    properties: list[dict[str, Any]] = [{}] * len(contacts)
    for index, contact in enumerate(contacts):
        if outcomes[index] is not None:  # decided already: not written
            continue
        try:
            properties[index] = validate_properties(contact.properties)
        except RollcallError as exc:
            outcomes[index] = exc
    return properties


def _resolve_by_id(session: Session, items: _Items) -> None:
    """Items naming a contact by id: it exists (its fields applied), or ``CONTACT_NOT_FOUND``."""
    by_id = items.undecided(by_id=True)
    if not by_id:
        return
    wanted = sorted({c.contact_id for c in items.contacts if c.contact_id is not None})
    existing: set[int] = set()
    for chunk in chunked(wanted, _CHUNK):
        existing.update(
            connection_of(session).execute(sa.select(CONTACTS.c.id).where(CONTACTS.c.id.in_(chunk))).scalars()
        )
    for index in by_id:
        contact_id = items.contacts[index].contact_id
        assert contact_id is not None
        if contact_id in existing:
            items.found_as(session, index, contact_id)
        else:
            items.outcomes[index] = ContactNotFound(
                f"no contact with id {contact_id}", details={"contact_id": contact_id}
            )


def _resolve_by_email(session: Session, items: _Items, excluded_domains: Sequence[str]) -> None:
    """Items naming a person by e-mail: excluded (``CONTACT_EXCLUDED``), an existing contact (its
    fields applied), or a contact to create — once per e-mail, however many items name it."""
    by_email = items.undecided(by_id=False)
    if not by_email:
        return
    contacts = items.contacts
    # R-SET-6 / R-EXC-2: the company's own domains are never created as contacts, here either.
    classified = classify_emails(session, [contacts[i].email for i in by_email], excluded_domains=excluded_domains)
    to_create: dict[str, int] = {}  # normalised email → index of its first item in this batch
    later: list[int] = []  # items whose email another item of this batch creates
    for index in by_email:
        email = contacts[index].email
        if email in classified.excluded:
            items.outcomes[index] = _excluded(classified.excluded[email])
        elif email in classified.existing:
            items.found_as(session, index, classified.existing[email])
        elif classified.creatable[email] in to_create:
            later.append(index)
        else:
            to_create[classified.creatable[email]] = index
    if not to_create:
        return
    _create_contacts(session, items, to_create)
    for index in later:
        _same_as_first(session, items, index, to_create[classified.creatable[contacts[index].email]])


def _create_contacts(session: Session, items: _Items, to_create: dict[str, int]) -> None:
    """Create the contacts of ``to_create`` (normalised e-mail → its first item) in one upsert."""
    contacts = items.contacts
    created = upsert_contacts(
        session,
        [ContactUpsert(email, contacts[i].first_name, contacts[i].last_name) for email, i in to_create.items()],
        classified=True,
    )
    for email, index in to_create.items():
        if email not in created.ids:  # deleted by someone else after the classification
            items.outcomes[index] = _excluded(ExclusionReason.DELETED_CONTACT)
            continue
        contact_id = items.found.ids[index] = created.ids[email]
        if email in created.created:
            items.found.fresh[contact_id] = (contacts[index].first_name, contacts[index].last_name)
            items.found.created.add(contact_id)
        if items.properties[index]:
            update_contact(session, contact_id, properties=items.properties[index])


def _same_as_first(session: Session, items: _Items, index: int, first: int) -> None:
    """An item whose e-mail item ``first`` of the batch created: that contact (or that refusal),
    with this item's own fields applied when they differ."""
    if items.outcomes[first] is not None:
        items.outcomes[index] = items.outcomes[first]
        return
    contact_id = items.found.ids[index] = items.found.ids[first]
    mine, theirs = items.contacts[index], items.contacts[first]
    if (mine.first_name, mine.last_name, mine.properties) != (theirs.first_name, theirs.last_name, theirs.properties):
        _apply_fields(session, contact_id, mine, items.properties[index])
        items.found.fresh.pop(contact_id, None)


# --- the decision -------------------------------------------------------------------------------


def _matches(session: Session, node: Any, contact: Contact | None) -> bool:
    assert contact is not None and contact.id is not None
    rendered = render_filter(node, {"contact": contact_variables(contact)})
    return contact_matches(session, rendered, contact.id)


def _summary(parts: list[dict[str, Any]]) -> str:
    """``properties.plan eq 'pro'; not …`` — the named conditions in a message."""

    def one(part: dict[str, Any]) -> str:
        if "field" in part:
            return f"{part['field']} {part['op']}" + ("" if part["value"] is None else f" {part['value']!r}")
        if "event" in part:
            return f"a {part['event']} event" + (" matching its conditions" if part["where"] else "")
        if "not" in part:
            return f"not ({one(part['not'])})"
        return f"{part['type']} at {part['path']}"

    return "; ".join(one(part) for part in parts)


#: At most this many conditions are named in a refusal's details.
_MAX_NAMED = 10


def _describe(node: SegmentFilter, path: str) -> dict[str, Any]:
    """One part of a filter, as a refusal names it: where it is in the definition, and what it says."""
    if isinstance(node, Condition):
        return {"path": path, "field": node.field, "op": node.op.value, "value": node.value}
    if isinstance(node, EventFilter):
        return {
            "path": path,
            "event": node.event.value,
            "where": [{"field": c.field, "op": c.op.value, "value": c.value} for c in node.where],
        }
    if isinstance(node, NotFilter):
        return {"path": path, "not": _describe(node.filter, f"{path}.filter")}
    return {"path": path, "type": node.type}


def _parts(session: Session, node: SegmentFilter, contact_id: int, path: str, *, matched: bool) -> list[dict[str, Any]]:
    """The conditions that make ``node`` match (``matched``) or fail for the contact (#14.5): an
    ``and`` that fails names its failing parts, an ``or`` that matches its matching parts; an ``and``
    that matches (an ``or`` that fails) names all of its parts."""
    if isinstance(node, AndFilter | OrFilter):
        narrowed = isinstance(node, AndFilter) != matched  # and+fail, or+match: only the deciding parts
        found = []
        for index, child in enumerate(node.filters):
            if not narrowed or contact_matches(session, child, contact_id) == matched:
                found += _parts(session, child, contact_id, f"{path}.filters[{index}]", matched=matched)
        return found or [_describe(node, path)]
    return [_describe(node, path)]


def _explain(session: Session, node: Any, contact: Contact | None, path: str, *, matched: bool) -> list[dict[str, Any]]:
    """Which criterion failed, which suppression or goal condition matched — as rendered for the contact."""
    assert contact is not None and contact.id is not None
    rendered = render_filter(node, {"contact": contact_variables(contact)})
    return _parts(session, rendered, contact.id, path, matched=matched)[:_MAX_NAMED]


def _names(session: Session, contact_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
    found: dict[int, tuple[str | None, str | None]] = {}
    for chunk in chunked(sorted(set(contact_ids)), _CHUNK):
        query = sa.select(CONTACTS.c.id, CONTACTS.c.first_name, CONTACTS.c.last_name).where(CONTACTS.c.id.in_(chunk))
        for contact_id, first_name, last_name in connection_of(session).execute(query):
            found[contact_id] = (first_name, last_name)
    return found


@dataclass(frozen=True)
class _Current:
    enabled: bool
    version: int
    definition: Definition
    digest: str
    #: R-SET-6 / R-EXC-2: the company's own domains, never created as contacts (read in the same query).
    excluded_domains: tuple[str, ...]


_CURRENT_REVISION = (
    sa.select(
        DEFINITIONS.c.enabled,
        REVISIONS.c.version,
        REVISIONS.c.yaml_source,
        REVISIONS.c.content_hash,
        sa.select(SETTINGS.c.contact_exclusion_domains)
        .where(SETTINGS.c.id == SYNC_SETTINGS_ID)
        .scalar_subquery()
        .label("excluded_domains"),
    )
    .select_from(
        DEFINITIONS.join(
            REVISIONS,
            sa.and_(REVISIONS.c.key == DEFINITIONS.c.key, REVISIONS.c.version == DEFINITIONS.c.current_version),
        )
    )
    .where(DEFINITIONS.c.key == sa.bindparam("key"))
)


@functools.cache
def _enrollment_insert(dialect: str) -> Any:
    """Insert active enrollments, skipping a contact the partial unique index says is enrolled;
    returns the inserted rows. Built once per dialect (hot path)."""
    statement = sqlite.insert(ENROLLMENTS) if dialect == "sqlite" else postgresql.insert(ENROLLMENTS)
    return statement.on_conflict_do_nothing().returning(*ENROLLMENTS.c)


def _current_revision(session: Session, key: str) -> _Current:
    """Whether workflow ``key`` is enabled, its current revision, and the contact exclusion
    domains, in one query."""
    row = connection_of(session).execute(_CURRENT_REVISION, {"key": key}).first()
    if row is None:  # no such workflow (WorkflowNotFound), or its revision is missing
        current = get_definition(session, key)
        version, definition, digest = load_revision_hashed(session, key, current.current_version)
        excluded = tuple(get_sync_settings(session).contact_exclusion_domains)
        return _Current(current.enabled, version, definition, digest, excluded)
    definition, digest = parse_revision(key, row.version, row.yaml_source, row.content_hash)
    return _Current(bool(row.enabled), row.version, definition, digest, tuple(row.excluded_domains or ()))


def _load_contacts(session: Session, contact_ids: Sequence[int]) -> dict[int, Contact]:
    found: dict[int, Contact] = {}
    for chunk in chunked(sorted(set(contact_ids)), _CHUNK):
        for contact in session.scalars(sa.select(Contact).where(CONTACTS.c.id.in_(chunk))):
            assert contact.id is not None
            found[contact.id] = contact
    return found


def _active_enrollments(session: Session, key: str, contact_ids: Sequence[int]) -> dict[int, Enrollment]:
    found: dict[int, Enrollment] = {}
    for chunk in chunked(sorted(set(contact_ids)), _CHUNK):
        query = sa.select(Enrollment).where(
            ENROLLMENTS.c.definition_key == key,
            ENROLLMENTS.c.contact_id.in_(chunk),
            ENROLLMENTS.c.status == EnrollmentStatus.ACTIVE,
        )
        for enrollment in session.scalars(query):
            found[enrollment.contact_id] = enrollment
    return found


def _with_finished_enrollment(session: Session, key: str, contact_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for chunk in chunked(sorted(set(contact_ids)), _CHUNK):
        query = sa.select(ENROLLMENTS.c.contact_id).where(
            ENROLLMENTS.c.definition_key == key,
            ENROLLMENTS.c.contact_id.in_(chunk),
            ENROLLMENTS.c.status != EnrollmentStatus.ACTIVE,
        )
        found.update(connection_of(session).execute(query.distinct()).scalars())
    return found


def _insert_enrollments(
    session: Session, key: str, version: int, contact_ids: Sequence[int], trigger: str
) -> dict[int, Enrollment]:
    """Insert an active enrollment per contact; those another process enrolled meanwhile are
    skipped by the partial unique index and missing from the result."""
    if not contact_ids:
        return {}
    now = utcnow()
    rows = [
        {
            "definition_key": key,
            "definition_version": version,
            "contact_id": contact_id,
            "workflow_id": enrollment_workflow_id(key, contact_id),
            "status": EnrollmentStatus.ACTIVE.value,
            "trigger": trigger,
            "created_at": now,
            "updated_at": now,
        }
        for contact_id in contact_ids
    ]
    connection = connection_of(session)
    statement = _enrollment_insert(connection.dialect.name)
    inserted: dict[int, Enrollment] = {}
    for chunk in chunked(rows, _CHUNK):
        for row in connection.execute(statement, list(chunk)).mappings():
            inserted[row["contact_id"]] = Enrollment(**row)
    add_enrolled_events(session, list(inserted.values()))  # "enrolled in …" on the timeline (#14.2)
    return inserted


class _Revisions:
    """Definitions by version within one batch (a running enrollment keeps the one it started with)."""

    def __init__(self, session: Session, key: str, version: int, definition: Definition, digest: str) -> None:
        self._session, self._key = session, key
        self._found = {version: (definition, digest)}

    def get(self, version: int) -> tuple[Definition, str]:
        if version not in self._found:
            _, definition, digest = load_revision_hashed(self._session, self._key, version)
            self._found[version] = (definition, digest)
        return self._found[version]


def admit_many(session: Session, key: str, contacts: Sequence[ContactIn], trigger: str) -> list[Outcome]:
    """Decide for each contact whether it enters workflow ``key``, in the caller's transaction
    (commit is the caller's): an ``Admission`` (new or the running one) or its refusal."""
    current = _current_revision(session, key)
    _require_enabled(key, current)
    _require_trigger(key, current.definition, trigger)
    revisions = _Revisions(session, key, current.version, current.definition, current.digest)
    rules = current.definition.enrollment
    if rules.suppression is None and rules.criteria is None and rules.goal is None and rules.re_enrollment:
        return _decide(session, key, contacts, trigger, current, revisions, {})
    # #13.13: a refused request writes nothing. The rules are checked on the contact as the
    # request leaves it (created, its fields applied), so the batch is decided in a savepoint;
    # when the rules refuse some contacts, it is rolled back and the batch decided again without
    # writing theirs (they keep their refusal). The rules read only each contact's own data, so
    # the others are decided as before: one more pass, and none for a batch nobody refuses.
    refused: dict[int, RollcallError] = {}
    while True:
        savepoint = session.begin_nested()
        outcomes = _decide(session, key, contacts, trigger, current, revisions, refused)
        late = {i: o for i, o in enumerate(outcomes) if isinstance(o, _RULE_REFUSALS) and i not in refused}
        if not late:
            savepoint.commit()
            return outcomes
        savepoint.rollback()
        session.expire_all()  # objects the rolled-back pass loaded or changed are read afresh
        refused.update(late)


# --- the rules, in order: the whole batch first, then each contact ----------------------------


def _require_enabled(key: str, current: _Current) -> None:
    """1. A disabled workflow admits nobody (``WORKFLOW_DISABLED``)."""
    if not current.enabled:
        raise WorkflowDisabled(f"workflow {key!r} is disabled", details={"key": key})


def _require_trigger(key: str, definition: Definition, trigger: str) -> None:
    """2. The request's trigger is one the definition accepts (``TRIGGER_NOT_ALLOWED``)."""
    allowed = tuple(_TRIGGER_TYPES[t.type] for t in definition.enrollment.triggers if t.type in _TRIGGER_TYPES)
    if trigger in _TRIGGER_TYPES and not issubclass(_TRIGGER_TYPES[trigger], allowed):
        raise TriggerNotAllowed(
            f"workflow {key!r} does not accept enrollments by {trigger!r}",
            details={"trigger": trigger, "allowed": [t.type for t in definition.enrollment.triggers]},
        )


# 3. Each contact is found or created (``_resolve_contacts``: ``CONTACT_NOT_FOUND``,
# ``CONTACT_EXCLUDED``, invalid properties); 4. one enrolled already gets its running enrollment
# (``_decide_one``); then the rules below, the first refusal being the answer.


@dataclass(frozen=True)
class _Candidate:
    """A contact not enrolled in the workflow now, as the per-contact rules read it."""

    session: Session
    key: str
    rules: EnrollmentRules
    #: Loaded when the definition has a suppression list, criteria or a goal.
    person: Contact | None
    #: Has a finished enrollment in the workflow (only looked for when re-enrollment is off).
    finished: bool
    #: How a refusal names the contact, and the details it carries.
    who: str
    details: dict[str, Any]


def _re_enrollment_off(candidate: _Candidate) -> RollcallError | None:
    """5. Enrolled before, and the workflow does not allow re-enrollment (``RE_ENROLLMENT_OFF``)."""
    if not candidate.finished:
        return None
    return ReEnrollmentOff(
        f"{candidate.who} was already enrolled in {candidate.key!r}, which does not allow re-enrollment",
        details=candidate.details,
    )


def _suppressed(candidate: _Candidate) -> RollcallError | None:
    """6. The contact matches the suppression list (``SUPPRESSED``, naming what matched)."""
    node = candidate.rules.suppression
    if node is None or not _matches(candidate.session, node, candidate.person):
        return None
    matched = _explain(candidate.session, node, candidate.person, "enrollment.suppression", matched=True)
    return Suppressed(
        f"{candidate.who} matches the suppression list of {candidate.key!r} ({_summary(matched)})",
        details={**candidate.details, "matched": matched},
    )


def _criteria_not_met(candidate: _Candidate) -> RollcallError | None:
    """7. The contact does not meet the enrollment criteria (``CRITERIA_NOT_MET``, naming what failed)."""
    node = candidate.rules.criteria
    if node is None or _matches(candidate.session, node, candidate.person):
        return None
    failed = _explain(candidate.session, node, candidate.person, "enrollment.criteria", matched=False)
    return CriteriaNotMet(
        f"{candidate.who} does not meet the enrollment criteria of {candidate.key!r} ({_summary(failed)})",
        details={**candidate.details, "failed": failed},
    )


def _goal_already_met(candidate: _Candidate) -> RollcallError | None:
    """8. The contact already meets the goal (``GOAL_ALREADY_MET``, naming what matched)."""
    node = candidate.rules.goal
    if node is None or not _matches(candidate.session, node, candidate.person):
        return None
    matched = _explain(candidate.session, node, candidate.person, "enrollment.goal", matched=True)
    return GoalAlreadyMet(
        f"{candidate.who} already meets the goal of {candidate.key!r} ({_summary(matched)})",
        details={**candidate.details, "matched": matched},
    )


#: The rules of a contact not enrolled now, in order: the first refusal is the answer.
_CONTACT_RULES: tuple[Callable[[_Candidate], RollcallError | None], ...] = (
    _re_enrollment_off,
    _suppressed,
    _criteria_not_met,
    _goal_already_met,
)
#: Refusals decided after the contact was written (created or updated by the request).
_RULE_REFUSALS = (ReEnrollmentOff, Suppressed, CriteriaNotMet, GoalAlreadyMet)


# --- the decision of a batch ------------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    """What the store says of a batch's contacts, read once for all of them."""

    #: The contacts themselves, when the rules read them (suppression, criteria, goal).
    people: dict[int, Contact]
    names: dict[int, tuple[str | None, str | None]]
    active: dict[int, Enrollment]
    finished: set[int]


@dataclass(frozen=True)
class _Admissions:
    """Admissions of one batch: each with its enrollment's own revision and the contact's name."""

    revisions: _Revisions
    names: dict[int, tuple[str | None, str | None]]

    def of(self, enrollment: Enrollment, created: bool, contact_id: int) -> Admission:
        used, digest = self.revisions.get(enrollment.definition_version)
        first_name, last_name = self.names[contact_id]
        name = short_name(first_name, last_name, contact_id)
        summary = f"{name} → {used.key} v{enrollment.definition_version}"
        return Admission(enrollment, created, used, enrollment.definition_version, summary, contact_id, digest)


def _decide(
    session: Session,
    key: str,
    contacts: Sequence[ContactIn],
    trigger: str,
    current: _Current,
    revisions: _Revisions,
    refused: dict[int, RollcallError],
) -> list[Outcome]:
    """``admit_many``'s decision for the items not in ``refused`` (those keep their refusal and
    are not written)."""
    outcomes: list[Outcome | None] = [refused.get(index) for index in range(len(contacts))]
    found = _resolve_contacts(session, contacts, outcomes, current.excluded_domains)
    resolved = [i for i in range(len(contacts)) if outcomes[i] is None]
    if not resolved:
        return _complete(outcomes)
    session.flush()
    rules = current.definition.enrollment
    known = _read_known(session, key, rules, found, [found.ids[i] for i in resolved])
    admissions = _Admissions(revisions, known.names)
    first_of: dict[int, int] = {}  # contact id → index of its first item in this batch
    for index in resolved:
        first_of.setdefault(found.ids[index], index)
    # contact id → its admission or refusal, or None: to insert
    decided = {
        contact_id: _decide_one(session, key, rules, found, known, admissions, contact_id) for contact_id in first_of
    }
    _admit_new(session, key, current.version, trigger, decided, admissions)
    for index in resolved:
        outcome = decided[found.ids[index]]
        assert outcome is not None
        if first_of[found.ids[index]] != index and isinstance(outcome, Admission):
            # The same contact twice in one batch: the second is a duplicate of the first.
            outcome = replace(outcome, created=False)
        outcomes[index] = outcome
    return _complete(outcomes)


def _read_known(session: Session, key: str, rules: EnrollmentRules, found: _Resolved, contact_ids: list[int]) -> _Known:
    filtered = rules.suppression is not None or rules.criteria is not None or rules.goal is not None
    # Contacts created just now have no enrollment and known names: only the others are read.
    known = [contact_id for contact_id in contact_ids if contact_id not in found.fresh]
    people = _load_contacts(session, contact_ids) if filtered else {}
    names = dict(found.fresh)
    names.update(
        {contact_id: (p.first_name, p.last_name) for contact_id, p in people.items()}
        if filtered
        else _names(session, known)
    )
    active = _active_enrollments(session, key, known) if known else {}
    finished = _with_finished_enrollment(session, key, known) if known and not rules.re_enrollment else set()
    return _Known(people, names, active, finished)


def _decide_one(
    session: Session,
    key: str,
    rules: EnrollmentRules,
    found: _Resolved,
    known: _Known,
    admissions: _Admissions,
    contact_id: int,
) -> Outcome | None:
    """4. A contact enrolled now gets its running enrollment; else the first refusal of the
    contact rules, or None: it is admitted."""
    if contact_id in known.active:
        return admissions.of(known.active[contact_id], False, contact_id)
    # A contact this request would have created is not written when refused: no id to name.
    who, details = (
        ("the new contact", {"key": key})
        if contact_id in found.created
        else (f"contact {contact_id}", {"key": key, "contact_id": contact_id})
    )
    candidate = _Candidate(
        session, key, rules, known.people.get(contact_id), contact_id in known.finished, who, details
    )
    for rule in _CONTACT_RULES:
        refusal = rule(candidate)
        if refusal is not None:
            return refusal
    return None


def _admit_new(
    session: Session,
    key: str,
    version: int,
    trigger: str,
    decided: dict[int, Outcome | None],
    admissions: _Admissions,
) -> None:
    """Insert an enrollment for each contact no rule refused (None in ``decided``), which then
    holds its admission: new, or the one another process inserted at the same moment."""
    new = [contact_id for contact_id, outcome in decided.items() if outcome is None]
    inserted = _insert_enrollments(session, key, version, new, trigger)
    lost = [contact_id for contact_id in new if contact_id not in inserted]
    winners = _active_enrollments(session, key, lost) if lost else {}
    for contact_id in new:
        if contact_id in inserted:
            decided[contact_id] = admissions.of(inserted[contact_id], True, contact_id)
        elif contact_id in winners:  # enrolled by another process at the same moment
            decided[contact_id] = admissions.of(winners[contact_id], False, contact_id)
        else:  # that one has finished since: the single-row path retries
            enrollment, created = insert_active_enrollment(
                session,
                definition_key=key,
                definition_version=version,
                contact_id=contact_id,
                workflow_id=enrollment_workflow_id(key, contact_id),
                trigger=trigger,
            )
            decided[contact_id] = admissions.of(enrollment, created, contact_id)


def _complete(outcomes: list[Outcome | None]) -> list[Outcome]:
    done = [outcome for outcome in outcomes if outcome is not None]
    assert len(done) == len(outcomes), "every contact of a batch has an outcome"
    return done


def admit(session: Session, key: str, contact: ContactIn, trigger: str) -> Admission:
    """``admit_many`` for one contact; its refusal is raised (commit is the caller's)."""
    (outcome,) = admit_many(session, key, [contact], trigger)
    if isinstance(outcome, RollcallError):
        raise outcome
    return outcome


def admission_of(session: Session, enrollment: Enrollment) -> Admission:
    """The admission of an enrollment already in the store, to start its run (again): its own
    revision, the contact's current name for the summary; ``created`` is False."""
    version, definition, digest = load_revision_hashed(
        session, enrollment.definition_key, enrollment.definition_version
    )
    first_name, last_name = _names(session, [enrollment.contact_id]).get(enrollment.contact_id, (None, None))
    name = short_name(first_name, last_name, enrollment.contact_id)
    summary = f"{name} → {definition.key} v{version}"
    return Admission(enrollment, False, definition, version, summary, enrollment.contact_id, digest)


__all__ = ["Admission", "ContactIn", "Outcome", "admission_of", "admit", "admit_many"]

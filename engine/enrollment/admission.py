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
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
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
from engine.dsl.models import ApiTrigger, EventTrigger, ManualTrigger
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
    fresh: dict[int, tuple[str | None, str | None]]
    #: Every contact this transaction created (a refusal does not name them: they are not kept).
    created: set[int]


def _resolve_contacts(  # noqa: C901 (one pass over a batch: ids and e-mails with their refusals)
    session: Session, contacts: Sequence[ContactIn], outcomes: list[Outcome | None], excluded_domains: Sequence[str]
) -> _Resolved:
    """Each contact's id, by id or by email (created or updated; tombstones, account users,
    secondary emails and excluded domains respected); a refusal goes to ``outcomes``."""
    ids = [0] * len(contacts)
    fresh: dict[int, tuple[str | None, str | None]] = {}
    created_ids: set[int] = set()
    properties: list[dict[str, Any]] = [{}] * len(contacts)
    for index, contact in enumerate(contacts):
        if outcomes[index] is not None:  # decided already: not written
            continue
        try:
            properties[index] = validate_properties(contact.properties)
        except RollcallError as exc:
            outcomes[index] = exc

    by_id = [i for i, c in enumerate(contacts) if c.contact_id is not None and outcomes[i] is None]
    if by_id:
        wanted = sorted({c.contact_id for c in contacts if c.contact_id is not None})
        found: set[int] = set()
        for chunk in chunked(wanted, _CHUNK):
            found.update(
                connection_of(session).execute(sa.select(CONTACTS.c.id).where(CONTACTS.c.id.in_(chunk))).scalars()
            )
        for index in by_id:
            contact_id = contacts[index].contact_id
            assert contact_id is not None
            if contact_id not in found:
                outcomes[index] = ContactNotFound(
                    f"no contact with id {contact_id}", details={"contact_id": contact_id}
                )
                continue
            ids[index] = contact_id
            if contacts[index].has_fields():
                _apply_fields(session, contact_id, contacts[index], properties[index])

    by_email = [i for i, c in enumerate(contacts) if c.email is not None and outcomes[i] is None]
    if not by_email:
        return _Resolved(ids, fresh, created_ids)
    # R-SET-6 / R-EXC-2: the company's own domains are never created as contacts, here either.
    classified = classify_emails(session, [contacts[i].email for i in by_email], excluded_domains=excluded_domains)
    to_create: dict[str, int] = {}  # normalised email → index of its first item in this batch
    later: list[int] = []  # items whose email another item of this batch creates
    for index in by_email:
        contact = contacts[index]
        email = contact.email
        if email in classified.excluded:
            outcomes[index] = _excluded(classified.excluded[email])
        elif email in classified.existing:
            ids[index] = classified.existing[email]
            if contact.has_fields():
                _apply_fields(session, ids[index], contact, properties[index])
        else:
            normalised = classified.creatable[email]
            if normalised in to_create:
                later.append(index)
            else:
                to_create[normalised] = index
    if to_create:
        created = upsert_contacts(
            session,
            [ContactUpsert(email, contacts[i].first_name, contacts[i].last_name) for email, i in to_create.items()],
            classified=True,
        )
        for email, index in to_create.items():
            if email not in created.ids:  # deleted by someone else after the classification
                outcomes[index] = _excluded(ExclusionReason.DELETED_CONTACT)
                continue
            ids[index] = created.ids[email]
            if email in created.created:
                fresh[ids[index]] = (contacts[index].first_name, contacts[index].last_name)
                created_ids.add(ids[index])
            if properties[index]:
                update_contact(session, ids[index], properties=properties[index])
        for index in later:
            email = classified.creatable[contacts[index].email]
            first = to_create[email]
            if outcomes[first] is not None:
                outcomes[index] = outcomes[first]
                continue
            ids[index] = ids[first]
            mine, theirs = contacts[index], contacts[first]
            if (mine.first_name, mine.last_name, mine.properties) != (
                theirs.first_name,
                theirs.last_name,
                theirs.properties,
            ):
                _apply_fields(session, ids[index], mine, properties[index])
                fresh.pop(ids[index], None)
    return _Resolved(ids, fresh, created_ids)


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
    version, definition, digest = current.version, current.definition, current.digest
    if not current.enabled:
        raise WorkflowDisabled(f"workflow {key!r} is disabled", details={"key": key})
    allowed = tuple(_TRIGGER_TYPES[t.type] for t in definition.enrollment.triggers if t.type in _TRIGGER_TYPES)
    if trigger in _TRIGGER_TYPES and not issubclass(_TRIGGER_TYPES[trigger], allowed):
        raise TriggerNotAllowed(
            f"workflow {key!r} does not accept enrollments by {trigger!r}",
            details={"trigger": trigger, "allowed": [t.type for t in definition.enrollment.triggers]},
        )
    revisions = _Revisions(session, key, version, definition, digest)
    rules = definition.enrollment
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


#: Refusals decided after the contact was written (created or updated by the request).
_RULE_REFUSALS = (ReEnrollmentOff, Suppressed, CriteriaNotMet, GoalAlreadyMet)


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
    version = current.version
    definition = current.definition
    outcomes: list[Outcome | None] = [refused.get(index) for index in range(len(contacts))]
    found = _resolve_contacts(session, contacts, outcomes, current.excluded_domains)
    ids = found.ids
    resolved = [i for i in range(len(contacts)) if outcomes[i] is None]
    if not resolved:
        return _complete(outcomes)
    session.flush()
    rules = definition.enrollment
    filtered = rules.suppression is not None or rules.criteria is not None or rules.goal is not None
    # Contacts created just now have no enrollment and known names: only the others are read.
    known = [ids[i] for i in resolved if ids[i] not in found.fresh]
    people = _load_contacts(session, [ids[i] for i in resolved]) if filtered else {}
    names = dict(found.fresh)
    names.update(
        {contact_id: (p.first_name, p.last_name) for contact_id, p in people.items()}
        if filtered
        else _names(session, known)
    )
    active = _active_enrollments(session, key, known) if known else {}
    finished = _with_finished_enrollment(session, key, known) if known and not rules.re_enrollment else set()

    def admission(enrollment: Enrollment, created: bool, contact_id: int) -> Admission:
        used, digest = revisions.get(enrollment.definition_version)
        first_name, last_name = names[contact_id]
        name = short_name(first_name, last_name, contact_id)
        summary = f"{name} → {used.key} v{enrollment.definition_version}"
        return Admission(enrollment, created, used, enrollment.definition_version, summary, contact_id, digest)

    decided: dict[int, Outcome | None] = {}  # contact id → refusal, or None: to insert
    first_of: dict[int, int] = {}  # contact id → index of its first item in this batch
    for index in resolved:
        contact_id = ids[index]
        if contact_id in first_of:
            continue
        first_of[contact_id] = index
        if contact_id in active:
            decided[contact_id] = admission(active[contact_id], False, contact_id)
            continue
        # A contact this request would have created is not written when refused: no id to name.
        who, details = (
            ("the new contact", {"key": key})
            if contact_id in found.created
            else (f"contact {contact_id}", {"key": key, "contact_id": contact_id})
        )
        person = people.get(contact_id)
        if contact_id in finished:
            decided[contact_id] = ReEnrollmentOff(
                f"{who} was already enrolled in {key!r}, which does not allow re-enrollment", details=details
            )
        elif rules.suppression is not None and _matches(session, rules.suppression, person):
            matched = _explain(session, rules.suppression, person, "enrollment.suppression", matched=True)
            decided[contact_id] = Suppressed(
                f"{who} matches the suppression list of {key!r} ({_summary(matched)})",
                details={**details, "matched": matched},
            )
        elif rules.criteria is not None and not _matches(session, rules.criteria, person):
            failed = _explain(session, rules.criteria, person, "enrollment.criteria", matched=False)
            decided[contact_id] = CriteriaNotMet(
                f"{who} does not meet the enrollment criteria of {key!r} ({_summary(failed)})",
                details={**details, "failed": failed},
            )
        elif rules.goal is not None and _matches(session, rules.goal, person):
            matched = _explain(session, rules.goal, person, "enrollment.goal", matched=True)
            decided[contact_id] = GoalAlreadyMet(
                f"{who} already meets the goal of {key!r} ({_summary(matched)})",
                details={**details, "matched": matched},
            )
        else:
            decided[contact_id] = None

    new = [contact_id for contact_id, outcome in decided.items() if outcome is None]
    inserted = _insert_enrollments(session, key, version, new, trigger)
    lost = [contact_id for contact_id in new if contact_id not in inserted]
    winners = _active_enrollments(session, key, lost) if lost else {}
    for contact_id in new:
        if contact_id in inserted:
            decided[contact_id] = admission(inserted[contact_id], True, contact_id)
        elif contact_id in winners:  # enrolled by another process at the same moment
            decided[contact_id] = admission(winners[contact_id], False, contact_id)
        else:  # that one has finished since: the single-row path retries
            enrollment, created = insert_active_enrollment(
                session,
                definition_key=key,
                definition_version=version,
                contact_id=contact_id,
                workflow_id=enrollment_workflow_id(key, contact_id),
                trigger=trigger,
            )
            decided[contact_id] = admission(enrollment, created, contact_id)

    for index in resolved:
        contact_id = ids[index]
        outcome = decided[contact_id]
        assert outcome is not None
        if first_of[contact_id] != index and isinstance(outcome, Admission):
            # The same contact twice in one batch: the second is a duplicate of the first.
            outcome = Admission(
                outcome.enrollment,
                False,
                outcome.definition,
                outcome.version,
                outcome.summary,
                contact_id,
                outcome.definition_hash,
            )
        outcomes[index] = outcome
    return _complete(outcomes)


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

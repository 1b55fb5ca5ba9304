"""Contacts: explicit create/update/delete/restore, the sync's bulk upsert, and email classification.

Who may become a contact is decided here, once, for every writer (R-EXC-1…5):
``classify_emails`` sorts a batch of emails into existing contacts, creatable emails and
exclusions with a reason, in a handful of queries; ``upsert_contacts`` re-checks tombstones and
account users inside its own transaction, so a sync write never recreates a deleted contact even
if the deletion happened after the classification.

Functions take a ``Session`` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.crm.bulk import (
    MAX_ROWS_PER_STATEMENT,
    chunked,
    connection_of,
    one_of,
    unnest_params,
    unnest_select,
    upsert,
)
from engine.crm.emails import domain_is_excluded, normalise_email, try_normalise_email
from engine.crm.errors import ContactDeleted, ContactExists, ContactNotFound, InvalidProperty, NotDeleted
from engine.crm.numbers import number_problem
from engine.crm.tables import (
    PRIMARY_BUSINESS_UNIT_ID,
    AccountUser,
    Contact,
    ContactBusinessUnit,
    ContactTombstone,
    SecondaryEmail,
    table_of,
    utcnow,
)

CONTACTS = table_of(Contact)
SECONDARY_EMAILS = table_of(SecondaryEmail)
TOMBSTONES = table_of(ContactTombstone)
ACCOUNT_USERS = table_of(AccountUser)
CONTACT_BUSINESS_UNITS = table_of(ContactBusinessUnit)

#: Property names are identifiers so that segment filters can address them as ``properties.<name>``.
PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Names of the rollups (R-PROP-1…4): derived from participations, never set by hand.
ROLLUP_PROPERTIES = (
    "zoom_webinar_attendance_average_duration",
    "zoom_webinar_joinlink",
    "zoom_webinar_registration_count",
    "zoom_webinar_attendance_count",
)


class ExclusionReason(StrEnum):
    """Why an email is not written by the sync; listed in the audit entry (R-AUD-5)."""

    INVALID_EMAIL = "invalid_email"  # R-EXC-3
    MISSING_EMAIL = "missing_email"  # R-EXC-6 (guests without email, R-SCOPE-3)
    ACCOUNT_USER = "account_user"  # R-EXC-1
    EXCLUDED_DOMAIN = "excluded_domain"  # R-EXC-2
    SECONDARY_EMAIL = "secondary_email"  # R-EXC-4
    DELETED_CONTACT = "deleted_contact"  # R-EXC-5


@dataclass(frozen=True)
class EmailClassification:
    """The fate of each email of a batch, keyed by the email as given (``None`` for a missing one).

    ``existing`` maps to contact ids; ``creatable`` to the normalised email; ``excluded`` to the reason.
    """

    existing: dict[str | None, int] = field(default_factory=dict)
    creatable: dict[str | None, str] = field(default_factory=dict)
    excluded: dict[str | None, ExclusionReason] = field(default_factory=dict)


def _in_chunks(session: Session, column: sa.Column[Any], values: Sequence[str], *columns: sa.Column[Any]) -> list[Any]:
    rows: list[Any] = []
    connection = connection_of(session)
    for chunk in chunked(values, MAX_ROWS_PER_STATEMENT):
        rows.extend(connection.execute(sa.select(*columns).where(one_of(connection, column, chunk))).all())
    return rows


_EMAILS: sa.BindParameter[str] = sa.bindparam("emails", expanding=True)
_NO_ID = sa.null().cast(sa.Integer)


@functools.cache
def _known_emails(dialect: str) -> sa.CompoundSelect[Any]:
    """What the store knows of a list of emails, in one statement: (kind, email, contact id) rows.
    Built once per dialect: a prebuilt statement keeps its cache key, the hot paths skip rebuilding it."""
    return sa.union_all(
        sa.select(sa.literal("account_user"), ACCOUNT_USERS.c.email, _NO_ID).where(
            one_of(dialect, ACCOUNT_USERS.c.email, _EMAILS)
        ),
        sa.select(sa.literal("contact"), CONTACTS.c.email, CONTACTS.c.id).where(
            one_of(dialect, CONTACTS.c.email, _EMAILS)
        ),
        sa.select(sa.literal("secondary"), SECONDARY_EMAILS.c.email, _NO_ID).where(
            one_of(dialect, SECONDARY_EMAILS.c.email, _EMAILS)
        ),
        sa.select(sa.literal("deleted"), TOMBSTONES.c.email, _NO_ID).where(
            one_of(dialect, TOMBSTONES.c.email, _EMAILS)
        ),
    )


@functools.cache
def _undo_recreated(dialect: str) -> Any:
    """R-EXC-5 against a concurrent delete (see ``upsert_contacts``)."""
    return (
        sa.delete(CONTACTS)
        .where(one_of(dialect, CONTACTS.c.email, _EMAILS), sa.exists().where(TOMBSTONES.c.email == CONTACTS.c.email))
        .returning(CONTACTS.c.email)
    )


@dataclass
class _Known:
    """What the store knows of some normalised emails, by kind (``_known_emails``)."""

    account_users: set[str] = field(default_factory=set)
    contacts: dict[str, int] = field(default_factory=dict)
    secondary: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    def read(self, connection: sa.Connection, emails: Iterable[str]) -> None:
        for chunk in chunked(sorted(emails), MAX_ROWS_PER_STATEMENT // 4):
            for row in connection.execute(_known_emails(connection.dialect.name), {"emails": list(chunk)}):
                kind, email, contact_id = str(row[0]), str(row[1]), row[2]
                if kind == "account_user":
                    self.account_users.add(email)
                elif kind == "contact":
                    self.contacts[email] = contact_id
                elif kind == "secondary":
                    self.secondary.add(email)
                else:
                    self.deleted.add(email)

    def holds(self, email: str) -> bool:
        return email in self.contacts or email in self.account_users or email in self.secondary or email in self.deleted


def classify_emails(
    session: Session, emails: Iterable[str | None], *, excluded_domains: Iterable[str] = ()
) -> EmailClassification:
    """Sort ``emails`` for a sync write, in one query per 500 emails.

    Order matters: an account user is excluded even when a contact exists for the email
    (R-EXC-1); an existing contact is updated even when its domain is excluded (R-EXC-2 only
    forbids *creating* one); a secondary email or a deleted contact's email is never written.

    The store is asked first about each email stripped and lowercased: one it holds went through
    ``normalise_email`` when it was stored, so only the others are validated (the costly part of
    a sync's write: a re-sync of 100,000 people validates none).
    """
    result = EmailClassification()
    candidates: dict[str, str] = {}
    for raw in dict.fromkeys(emails):
        if raw is None or not raw.strip():
            result.excluded[raw] = ExclusionReason.MISSING_EMAIL
        else:
            candidates[raw] = raw.strip().lower()
    known = _Known()
    connection = connection_of(session)
    known.read(connection, set(candidates.values()))
    normalised: dict[str | None, str] = {}
    for raw, candidate in candidates.items():
        email = candidate if known.holds(candidate) else try_normalise_email(raw)
        if email is None:
            result.excluded[raw] = ExclusionReason.INVALID_EMAIL
        else:
            normalised[raw] = email
    known.read(connection, {email for raw, email in normalised.items() if email != candidates[str(raw)]})
    domains = frozenset(excluded_domains)
    for raw, email in normalised.items():
        if email in known.account_users:
            result.excluded[raw] = ExclusionReason.ACCOUNT_USER
        elif email in known.contacts:
            result.existing[raw] = known.contacts[email]
        elif email in known.secondary:
            result.excluded[raw] = ExclusionReason.SECONDARY_EMAIL
        elif email in known.deleted:
            result.excluded[raw] = ExclusionReason.DELETED_CONTACT
        elif domain_is_excluded(email, domains):
            result.excluded[raw] = ExclusionReason.EXCLUDED_DOMAIN
        else:
            result.creatable[raw] = email
    return result


@dataclass(frozen=True)
class ContactUpsert:
    """A person as the sync saw them. ``email`` must already be normalised (``classify_emails``)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class ContactUpsertResult:
    ids: dict[str, int]
    created: frozenset[str]
    #: Emails dropped because they belong to a deleted contact or an account user (R-EXC-5, R-EXC-1).
    refused: frozenset[str]


_LINK = ("contact_id", "business_unit_id")


@functools.cache
def _business_unit_link(dialect: str) -> Any:
    """Link contacts to a business unit (R-BU-1); an existing link is left alone. Built once per dialect."""
    statement: sqlite.Insert | postgresql.Insert
    if dialect == "sqlite":
        statement = sqlite.insert(CONTACT_BUSINESS_UNITS)
    else:  # rows as one array per column (#16.3)
        statement = postgresql.insert(CONTACT_BUSINESS_UNITS).from_select(
            _LINK, unnest_select(CONTACT_BUSINESS_UNITS, _LINK)
        )
    return statement.on_conflict_do_nothing(index_elements=list(_LINK))


#: The columns ``_new_contact_row`` fills.
_NEW_CONTACT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "properties",
    "zoom_webinar_registration_count",
    "zoom_webinar_attendance_count",
    "created_at",
    "updated_at",
)


@functools.cache
def _contact_upsert(dialect: str) -> Any:
    """Insert contacts by email; an existing one only gets its blank names filled (never
    overwritten), and only a real change writes, so re-applying a batch leaves ``updated_at`` as
    it was. Returns (id, email, created_at) of the rows inserted or changed. Built once per dialect.

    On PostgreSQL the rows come as one array per column (``unnest_params``): a short statement
    psycopg converts once, where SQLAlchemy's multi-row VALUES for RETURNING made one of tens of
    kilobytes, parsed again for every page of a sync (#16.3)."""
    statement: sqlite.Insert | postgresql.Insert
    if dialect == "sqlite":
        statement = sqlite.insert(CONTACTS)
    else:
        statement = postgresql.insert(CONTACTS).from_select(
            _NEW_CONTACT_COLUMNS, unnest_select(CONTACTS, _NEW_CONTACT_COLUMNS)
        )
    excluded = statement.excluded
    first = sa.func.coalesce(CONTACTS.c.first_name, excluded.first_name)
    last = sa.func.coalesce(CONTACTS.c.last_name, excluded.last_name)
    return statement.on_conflict_do_update(
        index_elements=["email"],
        set_={"first_name": first, "last_name": last, "updated_at": excluded.updated_at},
        where=sa.or_(CONTACTS.c.first_name.is_distinct_from(first), CONTACTS.c.last_name.is_distinct_from(last)),
    ).returning(CONTACTS.c.id, CONTACTS.c.email, CONTACTS.c.created_at)


def upsert_contacts(
    session: Session,
    people: Sequence[ContactUpsert],
    *,
    business_unit_id: int = PRIMARY_BUSINESS_UNIT_ID,
    classified: bool = False,
) -> ContactUpsertResult:
    """Create or update contacts by primary email for a sync write (R-SYNC-2); idempotent.

    Existing names are kept and only blanks are filled, so a CRM user's edit is never overwritten
    by what the registrant typed into Zoom. The contact is linked to ``business_unit_id`` (R-BU-1).
    Emails of deleted contacts and account users are refused, never created. ``classified``: the
    caller sorted these emails with ``classify_emails`` in this transaction and passes only
    creatable or existing ones, so the two look-ups are not repeated (a contact deleted meanwhile
    is still caught by the check after the insert).
    """
    by_email: dict[str, ContactUpsert] = {}
    for person in people:
        by_email.setdefault(person.email, person)
    emails = sorted(by_email)
    if not emails:
        return ContactUpsertResult(ids={}, created=frozenset(), refused=frozenset())
    connection = connection_of(session)
    refused = set() if classified else _never_created(session, emails)
    now = utcnow()
    written = [email for email in emails if email not in refused]
    # The upsert returns the rows it inserted or changed; an inserted one carries our ``now``.
    returned: dict[str, tuple[int, datetime]] = {}
    statement = _contact_upsert(connection.dialect.name)
    for batch in chunked([_new_contact_row(by_email[email], now) for email in written], MAX_ROWS_PER_STATEMENT):
        parameters: Any = (
            list(batch) if connection.dialect.name == "sqlite" else unnest_params(CONTACTS, _NEW_CONTACT_COLUMNS, batch)
        )
        for row in connection.execute(statement, parameters):
            returned[row.email] = (row.id, row.created_at)
    # R-EXC-5 against a concurrent delete: if one committed between our check and our insert, its
    # tombstone is visible now (the insert waited on the deleted row's lock), so undo the recreation.
    undone: set[str] = set()
    for chunk in chunked(written, MAX_ROWS_PER_STATEMENT):
        undone.update(connection.execute(_undo_recreated(connection.dialect.name), {"emails": list(chunk)}).scalars())
    ids = {email: contact_id for email, (contact_id, _) in returned.items() if email not in undone}
    unchanged = [email for email in written if email not in returned and email not in undone]
    ids.update(
        {row.email: row.id for row in _in_chunks(session, CONTACTS.c.email, unchanged, CONTACTS.c.email, CONTACTS.c.id)}
    )
    links = [{"contact_id": contact_id, "business_unit_id": business_unit_id} for contact_id in ids.values()]
    for batch in chunked(links, MAX_ROWS_PER_STATEMENT):
        if connection.dialect.name == "sqlite":
            connection.execute(_business_unit_link("sqlite"), list(batch))
        else:  # one statement per batch, not one per row
            connection.execute(_business_unit_link("postgresql"), unnest_params(CONTACT_BUSINESS_UNITS, _LINK, batch))
    return ContactUpsertResult(
        ids=ids,
        created=frozenset(email for email, (_, created_at) in returned.items() if email in ids and created_at == now),
        refused=frozenset(refused) | frozenset(set(written) - set(ids)),
    )


def _never_created(session: Session, emails: Sequence[str]) -> set[str]:
    """The emails of deleted contacts (tombstones) and of account users among ``emails``."""
    refused = {row.email for row in _in_chunks(session, TOMBSTONES.c.email, emails, TOMBSTONES.c.email)}
    refused |= {row.email for row in _in_chunks(session, ACCOUNT_USERS.c.email, emails, ACCOUNT_USERS.c.email)}
    return refused


def _new_contact_row(person: ContactUpsert, now: datetime) -> dict[str, Any]:
    return {
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "properties": {},
        "zoom_webinar_registration_count": 0,
        "zoom_webinar_attendance_count": 0,
        "created_at": now,
        "updated_at": now,
    }


# --- explicit operations (API and CLI) --------------------------------------------------------


def validate_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Custom properties: identifier names, scalar JSON values; rollups are not settable by hand."""
    for name, value in properties.items():
        if not PROPERTY_NAME.match(name):
            raise InvalidProperty(
                f"property name {name!r} must start with a letter or _ and contain only letters, digits and _",
                details={"field": f"properties.{name}"},
            )
        if name in ROLLUP_PROPERTIES:
            raise InvalidProperty(
                f"{name} is derived from webinar participations and cannot be set",
                details={"field": f"properties.{name}"},
            )
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidProperty(
                f"property {name!r} must be a string, number, boolean or null", details={"field": f"properties.{name}"}
            )
        problem = number_problem(value)
        if problem is not None:
            raise InvalidProperty(f"property {name!r} {problem}", details={"field": f"properties.{name}"})
    return dict(properties)


def get_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise ContactNotFound(f"no contact with id {contact_id}", details={"contact_id": contact_id})
    return contact


def find_contact_id(session: Session, email: str) -> int | None:
    """The id of the contact whose *primary* email is ``email`` (R-SYNC-2), if any."""
    normalised = try_normalise_email(email)
    if normalised is None:
        return None
    return connection_of(session).execute(sa.select(CONTACTS.c.id).where(CONTACTS.c.email == normalised)).scalar()


def secondary_emails_of(session: Session, contact_id: int) -> list[str]:
    rows = connection_of(session).execute(
        sa.select(SECONDARY_EMAILS.c.email)
        .where(SECONDARY_EMAILS.c.contact_id == contact_id)
        .order_by(SECONDARY_EMAILS.c.email)
    )
    return list(rows.scalars())


def business_units_of(session: Session, contact_id: int) -> list[int]:
    rows = connection_of(session).execute(
        sa.select(CONTACT_BUSINESS_UNITS.c.business_unit_id)
        .where(CONTACT_BUSINESS_UNITS.c.contact_id == contact_id)
        .order_by(CONTACT_BUSINESS_UNITS.c.business_unit_id)
    )
    return list(rows.scalars())


def _ensure_email_is_free(session: Session, email: str, *, field_name: str, contact_id: int | None = None) -> None:
    """Raise unless ``email`` may become a primary or secondary email (of ``contact_id``)."""
    connection = connection_of(session)
    if connection.execute(sa.select(TOMBSTONES.c.email).where(TOMBSTONES.c.email == email)).first():
        raise ContactDeleted(
            f"{email} belongs to a deleted contact; restore it with POST /v1/contacts/restore",
            details={"field": field_name, "email": email},
        )
    owner = connection.execute(sa.select(CONTACTS.c.id).where(CONTACTS.c.email == email)).scalar()
    if owner is None:
        owner = connection.execute(
            sa.select(SECONDARY_EMAILS.c.contact_id).where(SECONDARY_EMAILS.c.email == email)
        ).scalar()
    if owner is not None and owner != contact_id:
        raise ContactExists(
            f"{email} is already an email of contact {owner}",
            details={"field": field_name, "email": email, "contact_id": owner},
        )


def _normalised_secondaries(emails: Iterable[str], primary: str) -> list[str]:
    result = []
    for index, raw in enumerate(emails):
        email = normalise_email(raw, field=f"secondary_emails.{index}")
        if email != primary and email not in result:
            result.append(email)
    return result


def _flush_or_conflict(session: Session, email: str) -> None:
    # A concurrent writer may take the email between our check and our insert.
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ContactExists(f"{email} is already an email of another contact", details={"email": email}) from None


def create_contact(
    session: Session,
    *,
    email: str,
    first_name: str | None = None,
    last_name: str | None = None,
    properties: Mapping[str, Any] | None = None,
    secondary_emails: Iterable[str] = (),
    business_unit_ids: Iterable[int] = (PRIMARY_BUSINESS_UNIT_ID,),
) -> Contact:
    """Create a contact by hand. Raises InvalidEmail, ContactExists, or ContactDeleted (R-EXC-5)."""
    primary = normalise_email(email)
    secondaries = _normalised_secondaries(secondary_emails, primary)
    _ensure_email_is_free(session, primary, field_name="email")
    for index, secondary in enumerate(secondaries):
        _ensure_email_is_free(session, secondary, field_name=f"secondary_emails.{index}")
    now = utcnow()
    contact = Contact(
        email=primary,
        first_name=first_name,
        last_name=last_name,
        properties={k: v for k, v in validate_properties(properties or {}).items() if v is not None},
        created_at=now,
        updated_at=now,
    )
    session.add(contact)
    _flush_or_conflict(session, primary)
    assert contact.id is not None
    for secondary in secondaries:
        session.add(SecondaryEmail(contact_id=contact.id, email=secondary))
    for business_unit_id in dict.fromkeys(business_unit_ids):
        session.add(ContactBusinessUnit(contact_id=contact.id, business_unit_id=business_unit_id))
    _flush_or_conflict(session, primary)
    return contact


class Unset(StrEnum):
    """Marks an argument of ``update_contact`` that was not given (``None`` clears a field)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def update_contact(
    session: Session,
    contact_id: int,
    *,
    email: str | Unset = UNSET,
    first_name: str | Unset | None = UNSET,
    last_name: str | Unset | None = UNSET,
    properties: Mapping[str, Any] | Unset = UNSET,
    secondary_emails: Sequence[str] | Unset = UNSET,
    business_unit_ids: Sequence[int] | Unset = UNSET,
) -> Contact:
    """Change a contact. ``properties`` is merged (a ``None`` value removes the property);
    ``secondary_emails`` and ``business_unit_ids`` replace the current lists."""
    contact = get_contact(session, contact_id)
    if not isinstance(email, Unset):
        primary = normalise_email(email)
        if primary != contact.email:
            _ensure_email_is_free(session, primary, field_name="email", contact_id=contact_id)
            connection_of(session).execute(
                sa.delete(SECONDARY_EMAILS).where(
                    SECONDARY_EMAILS.c.contact_id == contact_id, SECONDARY_EMAILS.c.email == primary
                )
            )
            contact.email = primary
    if not isinstance(first_name, Unset):
        contact.first_name = first_name
    if not isinstance(last_name, Unset):
        contact.last_name = last_name
    if not isinstance(properties, Unset):
        merged = {**contact.properties, **validate_properties(properties)}
        # A new dict, so the ORM sees the JSON column change.
        contact.properties = {k: v for k, v in merged.items() if v is not None}
    if not isinstance(secondary_emails, Unset):
        wanted = _normalised_secondaries(secondary_emails, contact.email)
        for index, secondary in enumerate(wanted):
            _ensure_email_is_free(session, secondary, field_name=f"secondary_emails.{index}", contact_id=contact_id)
        connection_of(session).execute(sa.delete(SECONDARY_EMAILS).where(SECONDARY_EMAILS.c.contact_id == contact_id))
        for secondary in wanted:
            session.add(SecondaryEmail(contact_id=contact_id, email=secondary))
    if not isinstance(business_unit_ids, Unset):
        connection_of(session).execute(
            sa.delete(CONTACT_BUSINESS_UNITS).where(CONTACT_BUSINESS_UNITS.c.contact_id == contact_id)
        )
        for business_unit_id in dict.fromkeys(business_unit_ids):
            session.add(ContactBusinessUnit(contact_id=contact_id, business_unit_id=business_unit_id))
    contact.updated_at = utcnow()
    session.add(contact)
    _flush_or_conflict(session, contact.email)
    return contact


def delete_contact(session: Session, contact_id: int) -> str:
    """Delete a contact and keep a tombstone of its primary email (R-EXC-5); returns that email.

    The tombstone is written first: a concurrent sync that inserts the email after our delete
    finds it (see ``upsert_contacts``).
    """
    contact = get_contact(session, contact_id)
    email = contact.email
    connection = connection_of(session)
    upsert(
        connection,
        TOMBSTONES,
        [{"email": email, "former_contact_id": contact_id, "deleted_at": utcnow()}],
        key=["email"],
        update=["former_contact_id", "deleted_at"],
    )
    session.expunge(contact)
    # Participations, sessions, timeline and links go with it (ON DELETE CASCADE).
    connection.execute(sa.delete(CONTACTS).where(CONTACTS.c.id == contact_id))
    return email


def restore_contact(
    session: Session, *, email: str, first_name: str | None = None, last_name: str | None = None
) -> Contact:
    """Bring back a deleted contact's email as a new, empty contact: the one explicit way past R-EXC-5."""
    primary = normalise_email(email)
    removed = connection_of(session).execute(sa.delete(TOMBSTONES).where(TOMBSTONES.c.email == primary))
    if removed.rowcount == 0:
        raise NotDeleted(f"no deleted contact has the email {primary}", details={"email": primary})
    return create_contact(session, email=primary, first_name=first_name, last_name=last_name)

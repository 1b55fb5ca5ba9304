"""Contacts in the store: concurrent and repeated sync writes, tombstones, exclusions (R-EXC-*, R-SYNC-6)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from engine.crm.accounts import create_account_user
from engine.crm.contacts import (
    ContactUpsert,
    ExclusionReason,
    classify_emails,
    create_contact,
    delete_contact,
    restore_contact,
    upsert_contacts,
)
from engine.crm.errors import ContactDeleted, ContactExists, NotDeleted


def _snapshot(engine: Engine) -> dict[str, list[Any]]:
    """Every row of the tables a contact sync writes, to compare before and after a re-run."""
    with engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
            for table in ("contacts", "contact_business_units", "contact_tombstones")
        }


def test_concurrent_upserts_of_one_email_make_one_contact(db_engine: Engine) -> None:
    """R-SYNC-6: eight writers racing on the same email end with exactly one contact."""

    def write(worker: int) -> int:
        with Session(db_engine) as session:
            result = upsert_contacts(session, [ContactUpsert("Race@Example.com".lower(), first_name=f"W{worker}")])
            session.commit()
            return result.ids["race@example.com"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(write, range(8)))
    with db_engine.connect() as connection:
        rows = connection.execute(text("SELECT id, email FROM contacts")).all()
    assert len(rows) == 1
    assert set(ids) == {rows[0].id}
    assert rows[0].email == "race@example.com"


def test_reapplying_the_same_batch_changes_nothing(db_engine: Engine) -> None:
    """R-SYNC-6: the second run of the same batch leaves every row, timestamps included, as it was."""
    batch = [ContactUpsert(f"p{i}@example.com", f"First{i}", None if i % 2 else f"Last{i}") for i in range(50)]
    with Session(db_engine) as session:
        first = upsert_contacts(session, batch)
        session.commit()
    before = _snapshot(db_engine)
    with Session(db_engine) as session:
        second = upsert_contacts(session, batch)
        session.commit()
    assert _snapshot(db_engine) == before
    assert len(before["contacts"]) == 50
    assert second.ids == first.ids
    assert first.created == frozenset(c.email for c in batch)
    assert second.created == frozenset()


def test_sync_write_fills_blank_names_but_keeps_edited_ones(session: Session) -> None:
    """A CRM user's edit wins over what a registrant typed into Zoom."""
    upsert_contacts(session, [ContactUpsert("ann@example.com", "Ann", None)])
    upsert_contacts(session, [ContactUpsert("ann@example.com", "Annie", "Lee")])
    row = session.connection().execute(text("SELECT first_name, last_name FROM contacts")).one()
    assert tuple(row) == ("Ann", "Lee")


def test_deleted_contact_is_not_recreated_by_sync_write(session: Session) -> None:
    """R-EXC-5: once deleted, a contact's primary email is refused by every sync write."""
    contact = create_contact(session, email="gone@example.com")
    assert contact.id is not None
    delete_contact(session, contact.id)
    result = upsert_contacts(session, [ContactUpsert("gone@example.com", "Back")])
    session.commit()
    assert result.ids == {}
    assert result.refused == frozenset({"gone@example.com"})
    assert session.connection().execute(text("SELECT count(*) FROM contacts")).scalar() == 0
    classified = classify_emails(session, ["Gone@Example.com"])
    assert classified.excluded == {"Gone@Example.com": ExclusionReason.DELETED_CONTACT}


def test_explicit_create_of_deleted_email_is_refused_but_restore_brings_it_back(session: Session) -> None:
    """R-EXC-5: only the distinct restore operation recreates a deleted contact."""
    contact = create_contact(session, email="gone@example.com")
    assert contact.id is not None
    delete_contact(session, contact.id)
    with pytest.raises(ContactDeleted):
        create_contact(session, email="GONE@example.com")
    restored = restore_contact(session, email="gone@example.com", first_name="Back")
    session.commit()
    assert restored.id is not None and restored.id != contact.id
    assert restored.first_name == "Back"
    result = upsert_contacts(session, [ContactUpsert("gone@example.com")])
    assert result.ids == {"gone@example.com": restored.id}
    with pytest.raises(NotDeleted):
        restore_contact(session, email="never@example.com")


def test_primary_email_is_unique_case_insensitively(session: Session) -> None:
    create_contact(session, email="Dup@Example.com")
    with pytest.raises(ContactExists):
        create_contact(session, email="dup@EXAMPLE.com")


def test_classification_gives_each_exclusion_its_reason(session: Session) -> None:
    """R-EXC-1…4 and R-EXC-6 in one batch; an existing contact with an excluded domain is still updated."""
    create_account_user(session, email="staff@corp.com")
    create_contact(session, email="staff@corp.com")
    kept = create_contact(session, email="client@corp.com", secondary_emails=["alias@other.com"])
    existing = create_contact(session, email="known@example.com")
    classified = classify_emails(
        session,
        [
            "STAFF@corp.com",
            "client@corp.com",
            "alias@other.com",
            "new@corp.com",
            "new@sub.corp.com",
            "not-an-email",
            None,
            "known@example.com",
            "fresh@example.com",
        ],
        excluded_domains={"corp.com"},
    )
    assert classified.existing == {"client@corp.com": kept.id, "known@example.com": existing.id}
    assert classified.creatable == {"fresh@example.com": "fresh@example.com"}
    assert classified.excluded == {
        "STAFF@corp.com": ExclusionReason.ACCOUNT_USER,
        "alias@other.com": ExclusionReason.SECONDARY_EMAIL,
        "new@corp.com": ExclusionReason.EXCLUDED_DOMAIN,
        "new@sub.corp.com": ExclusionReason.EXCLUDED_DOMAIN,
        "not-an-email": ExclusionReason.INVALID_EMAIL,
        None: ExclusionReason.MISSING_EMAIL,
    }


def test_account_user_email_is_never_written_by_sync(session: Session) -> None:
    """R-EXC-1: neither created nor updated, even when a contact exists for that email."""
    create_account_user(session, email="staff@corp.com")
    create_contact(session, email="staff@corp.com", first_name=None)
    result = upsert_contacts(session, [ContactUpsert("staff@corp.com", "Staff")])
    assert result.ids == {}
    assert result.refused == frozenset({"staff@corp.com"})
    assert session.connection().execute(text("SELECT first_name FROM contacts")).scalar() is None


def test_sync_write_links_contact_to_the_business_unit_of_the_zoom_account(session: Session) -> None:
    """R-BU-1: contacts carry the BU of the Zoom account whose webinar they came from."""
    session.connection().execute(text("INSERT INTO business_units (id, name, is_primary) VALUES (2, 'EMEA', false)"))
    result = upsert_contacts(session, [ContactUpsert("eu@example.com")], business_unit_id=2)
    links = session.connection().execute(text("SELECT contact_id, business_unit_id FROM contact_business_units")).all()
    assert [tuple(link) for link in links] == [(result.ids["eu@example.com"], 2)]

"""Admission in batches (engine/enrollment/admission.py): many contacts decided in one
transaction with a fixed number of statements, each with the same outcome it would get alone,
and the group commit of concurrent requests (EnrollmentService). On SQLite and PostgreSQL.

Rules: R-EXC-1 (account users), R-EXC-2 / R-SET-6 (excluded domains), R-EXC-3 (invalid
emails), R-EXC-4 (secondary emails), R-EXC-5 (deleted contacts), R-BU-1 (business unit link).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from engine.crm.accounts import create_account_user
from engine.crm.contacts import create_contact, delete_contact, update_contact
from engine.crm.enrollments import finish_enrollment, set_definition_enabled
from engine.crm.sync_settings import SyncSettingsValues, put_sync_settings
from engine.crm.tables import Contact, ContactBusinessUnit, Enrollment, EnrollmentStatus
from engine.enrollment.admission import Admission, ContactIn, admit, admit_many
from engine.enrollment.definitions import put_definition_text
from engine.enrollment.errors import ContactExcluded, ReEnrollmentOff, Suppressed, WorkflowDisabled
from engine.enrollment.service import EnrollmentService
from engine.errors import RollcallError

DEFINITION = """\
key: {key}
name: Admission test
enrollment:
  triggers: [{{type: api}}, {{type: manual}}]
  re_enrollment: {re_enrollment}
{extra}steps:
  - id: wait
    type: delay
    for: 1d
"""


def define(engine: Engine, key: str = "admission", *, re_enrollment: bool = False, extra: str = "") -> str:
    with Session(engine) as session:
        text = DEFINITION.format(key=key, re_enrollment=str(re_enrollment).lower(), extra=extra)
        put_definition_text(session, key, text)
        session.commit()
    return key


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def admit_batch(engine: Engine, key: str, contacts: list[ContactIn], trigger: str = "api") -> list[Any]:
    with Session(engine, expire_on_commit=False) as session:
        outcomes = admit_many(session, key, contacts, trigger)
        session.commit()
    return outcomes


def test_a_batch_costs_the_same_statements_as_one_contact(db_engine: Engine) -> None:
    key = define(db_engine)
    admit_batch(db_engine, key, [ContactIn(email="warm@people.example")])  # caches, first compiles
    with counted_statements(db_engine) as one:
        admit_batch(db_engine, key, [ContactIn(email="one@people.example", first_name="One")])
    people = [ContactIn(email=f"p{i}@people.example", first_name="P", last_name=str(i)) for i in range(300)]
    with counted_statements(db_engine) as many:
        outcomes = admit_batch(db_engine, key, people)
    assert len(many) == len(one), (one, many)
    assert all(isinstance(o, Admission) and o.created for o in outcomes)
    with Session(db_engine) as session:
        enrollments = session.exec(select(Enrollment).where(Enrollment.definition_key == key)).all()
        assert len(enrollments) == 302
        assert {e.status for e in enrollments} == {EnrollmentStatus.ACTIVE}
        # R-BU-1: every new contact is linked to the primary business unit.
        linked = session.exec(select(sa.func.count()).select_from(ContactBusinessUnit)).one()
        assert linked == 302
    first = outcomes[0]
    assert first.summary == f"P 0. → {key} v1"
    assert first.enrollment.workflow_id == f"enroll:{key}:{first.contact_id}"
    assert first.definition_hash and first.version == 1


# long: one batch with one contact per admission rule, each outcome checked beside its reason
def test_each_contact_of_a_batch_gets_its_own_outcome(db_engine: Engine) -> None:
    key = define(db_engine)
    with Session(db_engine) as session:
        create_account_user(session, email="host@ourco.example")  # R-EXC-1
        put_sync_settings(session, SyncSettingsValues(contact_exclusion_domains=["ourco.example"]), admin=True)
        existing = create_contact(session, email="known@people.example", first_name="Known")
        gone = create_contact(session, email="gone@people.example")
        assert gone.id is not None
        delete_contact(session, gone.id)  # R-EXC-5: a tombstone
        with_secondary = create_contact(session, email="main@people.example")
        assert with_secondary.id is not None
        update_contact(session, with_secondary.id, secondary_emails=["alias@people.example"])
        running = create_contact(session, email="running@people.example")
        session.commit()
        assert existing.id is not None and running.id is not None
    (already,) = admit_batch(db_engine, key, [ContactIn(contact_id=running.id)])
    assert isinstance(already, Admission) and already.created

    batch = [
        ContactIn(email="new@people.example", first_name="New"),  # 0 created
        ContactIn(email="NEW@people.example"),  # 1 the same person again: a duplicate of 0
        ContactIn(contact_id=existing.id, last_name="Person"),  # 2 by id, name updated
        ContactIn(contact_id=999_999),  # 3 no such contact
        ContactIn(email="not an email"),  # 4 R-EXC-3
        ContactIn(email="host@ourco.example"),  # 5 R-EXC-1
        ContactIn(email="someone@ourco.example"),  # 6 R-EXC-2
        ContactIn(email="gone@people.example"),  # 7 R-EXC-5
        ContactIn(email="alias@people.example"),  # 8 R-EXC-4
        ContactIn(contact_id=running.id),  # 9 already running: the running enrollment
        ContactIn(email="props@people.example", properties={"zoom_webinar_attendance_count": 3}),  # 10 rollup
    ]
    outcomes = admit_batch(db_engine, key, batch)
    assert len(outcomes) == len(batch)

    new, duplicate = outcomes[0], outcomes[1]
    assert isinstance(new, Admission) and new.created
    assert isinstance(duplicate, Admission) and not duplicate.created
    assert duplicate.enrollment.id == new.enrollment.id
    by_id = outcomes[2]
    assert isinstance(by_id, Admission) and by_id.created and by_id.contact_id == existing.id
    assert by_id.summary.startswith("Known P.")
    codes = {index: outcomes[index].code for index in (3, 4, 5, 6, 7, 8, 10)}
    assert codes == {
        3: "CONTACT_NOT_FOUND",
        4: "CONTACT_EXCLUDED",
        5: "CONTACT_EXCLUDED",
        6: "CONTACT_EXCLUDED",
        7: "CONTACT_EXCLUDED",
        8: "CONTACT_EXCLUDED",
        10: "INVALID_PROPERTY",
    }
    reasons = {i: outcomes[i].details["reason"] for i in (4, 5, 6, 7, 8)}
    assert reasons == {
        4: "invalid_email",
        5: "account_user",
        6: "excluded_domain",
        7: "deleted_contact",
        8: "secondary_email",
    }
    again = outcomes[9]
    assert isinstance(again, Admission) and not again.created and again.enrollment.id == already.enrollment.id

    with Session(db_engine) as session:
        emails = set(session.exec(select(Contact.email)).all())
        # Nothing was created for a refused email, and the duplicate made one contact.
        assert emails == {
            "known@people.example",
            "main@people.example",
            "running@people.example",
            "new@people.example",
        }
        stored = session.get(Contact, existing.id)
        assert stored is not None and stored.last_name == "Person"
        active = session.exec(
            select(Enrollment).where(Enrollment.definition_key == key, Enrollment.status == EnrollmentStatus.ACTIVE)
        ).all()
        assert len(active) == 3


def test_refusals_of_the_whole_batch_are_raised(db_engine: Engine) -> None:
    key = define(db_engine)
    with Session(db_engine) as session:
        set_definition_enabled(session, key, False)
        session.commit()
    with pytest.raises(WorkflowDisabled), Session(db_engine) as session:
        admit_many(session, key, [ContactIn(email="a@people.example"), ContactIn(email="b@people.example")], "api")
    with Session(db_engine) as session:
        assert session.exec(select(Contact)).all() == []  # a refused batch writes nothing (caller rolls back)


def test_re_enrollment_and_suppression_in_a_batch(db_engine: Engine) -> None:
    key = define(
        db_engine,
        extra="  suppression: {type: condition, field: properties.vip, op: eq, value: true}\n",
    )
    with Session(db_engine) as session:
        done = create_contact(session, email="done@people.example")
        vip = create_contact(session, email="vip@people.example", properties={"vip": True})
        session.commit()
        assert done.id is not None and vip.id is not None
    (first,) = admit_batch(db_engine, key, [ContactIn(contact_id=done.id)])
    assert isinstance(first, Admission)
    with Session(db_engine) as session:
        assert first.enrollment.id is not None
        finish_enrollment(session, first.enrollment.id, EnrollmentStatus.COMPLETED, "completed")
        session.commit()
    outcomes = admit_batch(
        db_engine,
        key,
        [ContactIn(contact_id=done.id), ContactIn(contact_id=vip.id), ContactIn(email="fresh@people.example")],
    )
    assert isinstance(outcomes[0], ReEnrollmentOff)
    assert isinstance(outcomes[1], Suppressed)
    assert isinstance(outcomes[2], Admission) and outcomes[2].created


def test_admit_raises_the_refusal_of_its_one_contact(db_engine: Engine) -> None:
    key = define(db_engine)
    with pytest.raises(ContactExcluded), Session(db_engine) as session:
        admit(session, key, ContactIn(email="nope"), "api")


def test_the_unique_index_decides_between_two_batches_racing(db_engine: Engine) -> None:
    """Two transactions admit the same new contacts at once: each contact ends with exactly one
    active enrollment, and every request gets it (created by one, found by the other)."""
    key = define(db_engine)
    people = [ContactIn(email=f"race{i}@people.example") for i in range(50)]
    results: list[list[Any]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        for _attempt in range(20):
            try:
                results.append(admit_batch(db_engine, key, people))
                return
            except sa.exc.OperationalError:  # SQLite: the other writer holds the lock past busy_timeout
                continue
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == 2
    for index in range(50):
        a, b = results[0][index], results[1][index]
        assert isinstance(a, Admission) and isinstance(b, Admission)
        assert a.enrollment.id == b.enrollment.id
        assert a.created != b.created
    with Session(db_engine) as session:
        count = session.exec(select(sa.func.count()).select_from(Enrollment)).one()
        assert count == 50


class _NoClient:
    """The service's admissions are tested without starts: a client that must not be reached."""


async def test_concurrent_requests_are_admitted_in_groups(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    key = define(db_engine)
    service = EnrollmentService(db_engine, lambda: _NoClient())
    admitter = service._admitter
    transactions: list[int] = []
    decide = admitter.decide

    def counting(key: str, contacts: Sequence[ContactIn], trigger: str) -> list[Admission | RollcallError]:
        transactions.append(len(contacts))
        return decide(key, contacts, trigger)

    monkeypatch.setattr(admitter, "decide", counting)
    people = [ContactIn(email=f"g{i}@people.example") for i in range(120)]
    people.append(ContactIn(email="bad email"))
    outcomes = await asyncio.gather(*(admitter.admit(key, p, "api") for p in people), return_exceptions=True)
    assert all(isinstance(o, Admission) and o.created for o in outcomes[:120])
    bad = outcomes[120]
    assert isinstance(bad, RollcallError) and bad.code == "CONTACT_EXCLUDED"
    assert sum(transactions) == 121
    assert len(transactions) < 10, transactions  # grouped, not one transaction per request
    # A workflow that does not exist fails its requests only.
    mixed = await asyncio.gather(
        admitter.admit("no-such-workflow", ContactIn(email="x@people.example"), "api"),
        admitter.admit(key, ContactIn(email="y@people.example"), "api"),
        return_exceptions=True,
    )
    assert isinstance(mixed[0], RollcallError) and mixed[0].code == "WORKFLOW_NOT_FOUND"
    assert isinstance(mixed[1], Admission) and mixed[1].created


async def test_a_failing_transaction_fails_only_its_own_requests(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group whose transaction fails unexpectedly (a database error, say) is decided again
    contact by contact; a lone request whose transaction fails gets its error, and the other
    groups of the same batch keep their outcomes."""
    key = define(db_engine)
    broken = define(db_engine, "admission-broken")
    admitter = EnrollmentService(db_engine, lambda: _NoClient())._admitter
    decide = admitter.decide
    calls: list[tuple[str, int]] = []

    def flaky(workflow: str, contacts: Sequence[ContactIn], trigger: str) -> list[Admission | RollcallError]:
        calls.append((workflow, len(contacts)))
        if workflow == broken:
            raise sa.exc.OperationalError("INSERT INTO enrollments …", {}, Exception("disk I/O error"))
        if len(contacts) > 1 and len(calls) == 1:
            raise RuntimeError("the group's transaction failed")
        return decide(workflow, contacts, trigger)

    monkeypatch.setattr(admitter, "decide", flaky)
    people = [ContactIn(email=f"f{i}@people.example") for i in range(5)]
    outcomes = await asyncio.gather(*(admitter.admit(key, p, "api") for p in people), return_exceptions=True)
    assert calls[0] == (key, 5)  # one group, failed once
    assert all(isinstance(o, Admission) and o.created for o in outcomes), outcomes  # then one by one
    with Session(db_engine) as session:
        assert session.exec(select(sa.func.count()).select_from(Enrollment)).one() == 5

    calls.clear()
    mixed = await asyncio.gather(
        admitter.admit(broken, ContactIn(email="x@people.example"), "api"),
        admitter.admit(key, ContactIn(email="y@people.example"), "api"),
        return_exceptions=True,
    )
    assert sorted(calls) == sorted([(broken, 1), (key, 1)])  # one batch, two groups
    assert isinstance(mixed[0], sa.exc.OperationalError)
    assert isinstance(mixed[1], Admission) and mixed[1].created

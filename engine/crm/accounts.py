"""Business units, account users (CRM staff) and Zoom connections."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.crm.emails import normalise_email
from engine.crm.errors import (
    AccountUserExists,
    AccountUserNotFound,
    BusinessUnitExists,
    BusinessUnitNotFound,
    InvalidCredentialsRef,
    ZoomConnectionExists,
    ZoomConnectionNotFound,
)
from engine.crm.tables import AccountUser, BusinessUnit, ZoomConnection, table_of

#: ``env:ZOOM_MAIN`` (a variable holding the JSON credentials) or ``file:/etc/rollcall/zoom.json#main``
#: (an entry of a secrets file). The secret itself never reaches the store.
CREDENTIALS_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:/[^#\s]{1,400}#[A-Za-z0-9_.-]{1,64})$")


def list_business_units(session: Session) -> list[BusinessUnit]:
    return list(session.scalars(sa.select(BusinessUnit).order_by(table_of(BusinessUnit).c.id)))


def get_business_unit(session: Session, business_unit_id: int) -> BusinessUnit:
    unit = session.get(BusinessUnit, business_unit_id)
    if unit is None:
        raise BusinessUnitNotFound(
            f"no business unit with id {business_unit_id}", details={"business_unit_id": business_unit_id}
        )
    return unit


def create_business_unit(session: Session, name: str) -> BusinessUnit:
    """A secondary business unit; the primary one (``Account``) is created by the first migration."""
    unit = BusinessUnit(name=name.strip(), is_primary=False)
    session.add(unit)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise BusinessUnitExists(f"a business unit is already named {name!r}", details={"field": "name"}) from None
    return unit


def list_account_users(session: Session) -> list[AccountUser]:
    return list(session.scalars(sa.select(AccountUser).order_by(table_of(AccountUser).c.id)))


def create_account_user(session: Session, *, email: str, name: str | None = None) -> AccountUser:
    """R-EXC-1: from now on the sync neither creates nor updates a contact with this email."""
    user = AccountUser(email=normalise_email(email), name=name)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AccountUserExists(f"{user.email} is already an account user", details={"field": "email"}) from None
    return user


def delete_account_user(session: Session, account_user_id: int) -> None:
    user = session.get(AccountUser, account_user_id)
    if user is None:
        raise AccountUserNotFound(f"no account user with id {account_user_id}")
    session.delete(user)
    session.flush()


def check_credentials_ref(ref: str) -> str:
    if not CREDENTIALS_REF.match(ref):
        raise InvalidCredentialsRef(
            "credentials_ref must reference the secret, as env:VARIABLE or file:/absolute/path#entry",
            details={"field": "credentials_ref"},
        )
    return ref


def list_zoom_connections(session: Session) -> list[ZoomConnection]:
    return list(session.scalars(sa.select(ZoomConnection).order_by(table_of(ZoomConnection).c.id)))


def get_zoom_connection(session: Session, connection_id: int) -> ZoomConnection:
    connection = session.get(ZoomConnection, connection_id)
    if connection is None:
        raise ZoomConnectionNotFound(f"no Zoom connection with id {connection_id}")
    return connection


def zoom_connection_of_business_unit(session: Session, business_unit_id: int) -> ZoomConnection | None:
    """The Zoom account connected to a BU (R-ADD-3 asks for the primary BU's)."""
    query = sa.select(ZoomConnection).where(table_of(ZoomConnection).c.business_unit_id == business_unit_id)
    return session.scalars(query).first()


def create_zoom_connection(
    session: Session,
    *,
    business_unit_id: int,
    name: str,
    zoom_account_id: str,
    connected_by_email: str,
    credentials_ref: str,
) -> ZoomConnection:
    get_business_unit(session, business_unit_id)
    connection = ZoomConnection(
        business_unit_id=business_unit_id,
        name=name.strip(),
        zoom_account_id=zoom_account_id.strip(),
        connected_by_email=normalise_email(connected_by_email, field="connected_by_email"),
        credentials_ref=check_credentials_ref(credentials_ref),
    )
    session.add(connection)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ZoomConnectionExists(
            "this business unit, name or Zoom account is already connected (one Zoom account per business unit)",
            details={"business_unit_id": business_unit_id, "zoom_account_id": zoom_account_id},
        ) from None
    return connection

"""The hand-written migrations create exactly the tables the models describe, on both backends."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import engine.crm.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from engine.crm.sync_settings import get_sync_settings


def test_migrated_schema_matches_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences: list[Any] = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_global_sync_starts_off(db_engine: Engine) -> None:
    """R-SET-1: no webinar data is synced until an admin turns global sync on."""
    with Session(db_engine) as session:
        settings = get_sync_settings(session)
    assert settings.sync_enabled is False
    assert settings.webinar_sync == "all"
    assert settings.contact_exclusion_domains == []

"""The hand-written migrations create exactly the tables the models describe, on both backends."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import engine.crm.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from engine.crm.sync_settings import get_sync_settings
from engine.crm.transcripts import is_search_object


def _not_search_object(name: str | None, kind: str, _parents: Any) -> bool:
    """The full-text objects (#15.4: SQLite's FTS5 tables, PostgreSQL's GIN index on an expression)
    are made by the migration in each dialect's own terms and are not in the models."""
    return not (kind in ("table", "index") and is_search_object(name))


def test_migrated_schema_matches_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _not_search_object}
        )
        differences: list[Any] = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_global_sync_starts_off(db_engine: Engine) -> None:
    """R-SET-1: no webinar data is synced until an admin turns global sync on."""
    with Session(db_engine) as session:
        settings = get_sync_settings(session)
    assert settings.sync_enabled is False
    assert settings.webinar_sync == "all"
    assert settings.contact_exclusion_domains == []

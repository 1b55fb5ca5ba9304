"""The store migrates on both backends and starts with the primary business unit."""

from sqlalchemy import Engine, text

from engine.crm.db import current_revision, upgrade_database


def test_fresh_store_has_primary_business_unit_account(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        rows = connection.execute(text("SELECT name, is_primary FROM business_units")).all()
    assert [(name, bool(primary)) for name, primary in rows] == [("Account", True)]


def test_upgrade_is_idempotent(db_engine: Engine) -> None:
    before = current_revision(db_engine)
    upgrade_database(db_engine)
    assert current_revision(db_engine) == before is not None

"""Every setting of ``engine.config.Settings`` is in the README's configuration table, and the
database pool settings reach a PostgreSQL engine (README "Running at scale" sizes them)."""

from __future__ import annotations

from pathlib import Path

from engine.config import Settings
from engine.crm.db import create_db_engine

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    table = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1].split("\n### ", 1)[0]
    missing = [name for name in Settings.model_fields if f"`ROLLCALL_{name.upper()}" not in table]
    assert not missing, f"not in the README's configuration table: {missing}"


def test_pool_settings_size_a_postgresql_engine() -> None:
    settings = Settings(_env_file=None, database_pool_size=8, database_max_overflow=3)
    engine = create_db_engine(
        "postgresql+psycopg://rollcall@db.invalid/rollcall",
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    try:
        assert engine.pool.size() == 8  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 3  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_without_pool_settings_an_engine_keeps_sqlalchemys_defaults() -> None:
    engine = create_db_engine("postgresql+psycopg://rollcall@db.invalid/rollcall")
    try:
        assert engine.pool.size() == 5  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 10  # type: ignore[attr-defined]
    finally:
        engine.dispose()

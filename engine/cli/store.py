"""The store, for the commands that work on it directly (``contacts``, ``settings``, ``audit``, ``db``).

They need neither the API nor Temporal running. The CLI is an operator's tool: it acts as an
admin (it may turn global sync on, R-SET-1). What the store refuses is one line with its code and
status 2 (``engine.cli.errors``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from engine.cli.config import load_settings

if TYPE_CHECKING:  # SQLAlchemy and the store load when a command opens it, not with the CLI
    from pydantic import ValidationError
    from sqlmodel import Session


@contextmanager
def store_session() -> Iterator[Session]:
    """A session on the configured store (``ROLLCALL_DATABASE_URL``)."""
    from sqlmodel import Session

    from engine.crm.db import create_db_engine

    engine = create_db_engine(load_settings().database_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def describe_invalid(exc: ValidationError) -> str:
    """Pydantic's errors on one line: ``where: what; …``."""
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}" for error in exc.errors())

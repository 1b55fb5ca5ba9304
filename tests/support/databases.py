"""Which CRM store a test whose whole stack runs as processes uses.

The store's own behaviour is tested on SQLite and on PostgreSQL (the ``database_url`` fixture's
two parameters); an end-to-end test that starts ``rollcall api`` and ``rollcall worker`` for a
behaviour of the API or the CLI runs on one store, chosen per test so that both stores run the
whole stack in the suite (``on_store``). Without PostgreSQL configured it runs on SQLite.
"""

from __future__ import annotations

import os
from typing import Literal

import pytest

POSTGRES_URL_VARIABLE = "ROLLCALL_TEST_POSTGRES_URL"


def on_store(store: Literal["sqlite", "postgresql"]) -> pytest.MarkDecorator:
    """Run the test's ``database_url`` (and the stack built on it) on ``store`` only."""
    chosen = store if store == "sqlite" or os.environ.get(POSTGRES_URL_VARIABLE) else "sqlite"
    return pytest.mark.parametrize("database_url", [pytest.param(chosen, id=chosen)], indirect=True)

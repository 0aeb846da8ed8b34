"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import jamsos.ledger.tables
import jamsos.registry.tables
from jamsos.infra.db import metadata
from jamsos.infra.migrate import current_revision, head_revision, upgrade

pytestmark = pytest.mark.integration


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # idempotent
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert jamsos.ledger.tables.bill_line.name in metadata.tables

"""Alembic environment: runs migrations on the connection jamsos hands over (see infra.migrate)."""

from __future__ import annotations

from alembic import context

import jamsos.ledger.tables
import jamsos.registry.tables  # noqa: F401
from jamsos.infra.db import make_engine, metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()

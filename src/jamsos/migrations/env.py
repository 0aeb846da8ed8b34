"""Alembic environment: runs migrations on the connection jamsos hands over (see infra.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import jamsos.auth.tables
import jamsos.ledger.tables
import jamsos.registry.tables  # noqa: F401
from jamsos.infra.db import make_engine, metadata

config = context.config


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Leave out the per-run partitions of ``bill_line`` (PostgreSQL): they are data, not schema."""
    return not (type_ == "table" and name is not None and name.startswith("bill_line_run_"))


connection = config.attributes.get("connection")


def run(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is None:
    with make_engine(config.get_main_option("sqlalchemy.url") or "").connect() as own:
        run(own)
else:
    run(connection)

"""The operational store: one SQLAlchemy metadata, engines for SQLite and PostgreSQL, units of work."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, event
from sqlalchemy.orm import Session

from jamsos.kernel.errors import FieldProblem

# Stable constraint names, so that migrations and error messages can refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def private_store(path: Path) -> None:
    """The embedded store readable by its owner only: a new folder is made 0700, the file 0600 (SQLite gives its
    WAL and shared-memory files the file's own permissions), and an existing store's files are narrowed to 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if part.exists() and part.stat().st_mode & 0o077 and part.stat().st_uid == os.getuid():
            part.chmod(0o600)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the store's session settings: SQLite gets foreign keys, WAL and a busy timeout. Bound
    parameters (NIKs, names, birth dates) are never part of an error's text, so no log ever holds them."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            private_store(Path(url.removeprefix("sqlite:///")))
        engine = create_engine(url, connect_args={"timeout": 60}, hide_parameters=True, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at the start: two writers queue instead of failing on upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


_INT_RANGE = {"BigInteger": 2**63 - 1, "Integer": 2**31 - 1, "SmallInteger": 2**15 - 1}


def field_problems(table: Table, values: dict[str, Any], *, row: int | None = None) -> list[FieldProblem]:
    """What would not fit ``table``'s columns: text longer than a column holds, whole numbers past its integer
    type (the table's own metadata is the bound, so every field is bounded where it is stored)."""
    problems = []
    for key, value in values.items():
        column = table.c.get(key)
        if column is None or value is None:
            continue
        if isinstance(value, str):
            length = getattr(column.type, "length", None)
            if length is not None and len(value) > length:
                problems.append(FieldProblem(key, f"at most {length} characters (got {len(value)})", row=row))
        elif isinstance(value, int) and not isinstance(value, bool):
            kind = type(column.type).__name__
            top = _INT_RANGE.get(kind) or next((v for k, v in _INT_RANGE.items() if kind.endswith(k)), None)
            if top is not None and not -top <= value <= top:
                problems.append(FieldProblem(key, "is far too large", row=row, value=value))
    return problems


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error. Edges own these."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session

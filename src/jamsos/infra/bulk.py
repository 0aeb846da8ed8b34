"""Set-based writes and reads of many rows: COPY on PostgreSQL, executemany on SQLite, Arrow in between."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import MetaData, Table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

ANALYZE_AFTER = 10_000


def bulk_insert(session: Session, table: Table, columns: dict[str, Any]) -> int:
    """Insert columns of equal length (NumPy arrays or lists; None/NaN-free) into ``table``."""
    names = list(columns)
    if not names:
        return 0
    n = len(columns[names[0]])
    if n == 0:
        return 0
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        arrow = pa.table({k: _arrow(v) for k, v in columns.items()})
        buffer = io.BytesIO()
        pacsv.write_csv(arrow, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        raw = connection.connection.driver_connection
        cols = ", ".join(f'"{c}"' for c in names)
        sql = f'COPY "{table.name}" ({cols}) FROM STDIN (FORMAT csv)'
        with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            copy.write(buffer.getvalue())
        if n >= ANALYZE_AFTER:
            # Fresh statistics, or the planner takes a million rows for one and nests its loops.
            session.execute(text(f'ANALYZE "{table.name}"'))
        return n
    lists = [_pylist(v) for v in columns.values()]
    marks = ", ".join("?" for _ in names)
    cols = ", ".join(f'"{c}"' for c in names)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})', zip(*lists, strict=True))
    cursor.close()
    return n


def _pylist(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return values.tolist()  # type: ignore[no-any-return]
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_pylist()  # type: ignore[no-any-return]
    return list(values)


def _arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values if isinstance(values, np.ndarray) else list(values))


def fetch_arrow(session: Session, query: Select[Any]) -> pa.Table:
    """Run a select and return its rows as an Arrow table, typed from the select's column types."""
    types = [_arrow_type(col.type) for col in query.selected_columns]
    connection = session.connection()
    if connection.dialect.name == "postgresql" and all(ty is not None for ty in types):
        fast = _fetch_by_copy(connection, query, types)
        if fast is not None:
            return fast
    result = session.execute(query)
    names = list(result.keys())
    rows = result.fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table({n: pa.array(list(col), type=ty) for n, col, ty in zip(names, cols, types, strict=True)})


def _fetch_by_copy(connection: Any, query: Select[Any], types: list[Any]) -> pa.Table | None:
    """PostgreSQL: stream the result as CSV through COPY and parse it with Arrow (no Python row objects)."""
    try:
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    except Exception:  # a value SQLAlchemy cannot render inline: use the ordinary path
        return None
    raw = connection.connection.driver_connection
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    names = [c.name for c in query.selected_columns]
    data = buffer.getvalue()
    if not data:
        return pa.table({n: pa.array([], type=t) for n, t in zip(names, types, strict=True)})
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
        convert_options=pacsv.ConvertOptions(
            column_types=dict(zip(names, types, strict=True)),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )


def _arrow_type(sql_type: Any) -> pa.DataType | None:
    from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String

    if isinstance(sql_type, Boolean):
        return pa.bool_()
    if isinstance(sql_type, Integer):
        return pa.int64()
    if isinstance(sql_type, DateTime):
        return pa.timestamp("us")
    if isinstance(sql_type, Date):
        return pa.date32()
    if isinstance(sql_type, String):
        return pa.string()
    if isinstance(sql_type, Numeric):
        return pa.int64()
    return None


def temporary_keys(session: Session, name: str, keys: list[str]) -> Table:
    """A temporary one-column table (``key``) holding ``keys``, dropped at the end of the transaction."""
    from sqlalchemy import Column, String

    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    suffix = "ON COMMIT DROP" if postgres else ""
    connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    connection.exec_driver_sql(f'CREATE TEMPORARY TABLE "{name}" (key VARCHAR(64) PRIMARY KEY) {suffix}')
    table = Table(name, MetaData(), Column("key", String(64), primary_key=True), prefixes=["TEMPORARY"])
    bulk_insert(session, table, {"key": keys})
    return table


def append_partition(session: Session, table: Table, key: str, value: int, columns: dict[str, Any]) -> int:
    """Insert rows that all share ``key = value`` (a new value: e.g. one billing run's lines), giving
    them the next ids of ``table``; concurrent appends to the same table wait for each other.

    PostgreSQL: ``table`` is partitioned by LIST (``key``); the rows are loaded into a table of
    their own and attached as its partition, so the foreign keys are validated in one set-based
    pass instead of by a trigger per row (measured: 3 s instead of 29 s for 3 M rows, two keys).
    SQLite: a plain insert (its writers are serialised anyway).
    """
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        session.execute(text(f'LOCK TABLE "{table.name}" IN SHARE ROW EXCLUSIVE MODE'))
    first = int(session.scalar(text(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table.name}"')) or 1)
    n = len(next(iter(columns.values())))
    rows = {"id": pa.array(np.arange(first, first + n, dtype=np.int64)), **columns}
    if not postgres:
        return bulk_insert(session, table, rows)
    name = partition_name(table, key, value)
    session.execute(text(f'CREATE TABLE "{name}" (LIKE "{table.name}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    session.execute(text(f'ALTER TABLE "{name}" ADD CONSTRAINT "ck_{name}_key" CHECK ("{key}" = {int(value)})'))
    bulk_insert(session, Table(name, MetaData()), rows)
    session.execute(text(f'ALTER TABLE "{table.name}" ATTACH PARTITION "{name}" FOR VALUES IN ({int(value)})'))
    return n


def partition_name(table: Table, key: str, value: int) -> str:
    return f"{table.name}_{key.removesuffix('_id')}_{int(value)}"

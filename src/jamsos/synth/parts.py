"""Parquet parts of the synthetic warehouse: a table written to a file, a large one in chunks, and a table's columns
checked against its dataset's schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jamsos.warehouse.schema import STEERING


# ---- writing -------------------------------------------------------------------------------------------
def write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def check_columns(name: str, table: pa.Table, exclude: tuple[str, ...] = ()) -> None:
    want = [c.name for c in STEERING[name].columns if c.name not in exclude]
    if sorted(want) != sorted(table.column_names):
        raise AssertionError(f"{name}: columns {table.column_names} differ from the schema {want}")


CHUNK = 4_000_000


def write_chunks(directory: Path, n: int, build: Callable[[slice], pa.Table]) -> int:
    """Write ``n`` rows built a slice at a time into one Parquet file (bounded memory)."""
    directory.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, max(n, 1), CHUNK):
            table = build(slice(start, min(n, start + CHUNK)))
            if writer is None:
                writer = pq.ParquetWriter(directory / "part-0.parquet", table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    return n

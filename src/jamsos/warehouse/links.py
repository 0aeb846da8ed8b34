"""Back-links of a contribution month: what the same person paid, and in which group, one month and
twelve months earlier. Written with each month so that lapses, returns and retention are counted
without joining tens of millions of person keys at query time (docs/warehouse.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jamsos.kernel.period import Period

LINK_DIMS = ("segment", "regency_code", "ecosystem", "channel", "payer_source")
SIDES = {"prev": 1, "yoy": 12}
LINK_COLUMNS = tuple(f"{side}_{c}" for side in SIDES for c in ("programs", *LINK_DIMS))


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.dictionary_decode() if isinstance(array, pa.DictionaryArray) else array


def link(month: pa.Table, earlier: dict[str, pa.Table | None]) -> pa.Table:
    """``month`` (without a period column) with its link columns filled from ``earlier["prev"]``
    (the month before) and ``earlier["yoy"]`` (twelve months before); empty where the person has
    no row there. Row order is kept."""
    out = month.drop_columns([c for c in LINK_COLUMNS if c in month.column_names])
    person = _plain(out["person_id"])
    for side in SIDES:
        other = earlier.get(side)
        names = [f"{side}_{c}" for c in ("programs", *LINK_DIMS)]
        if other is None or other.num_rows == 0:
            for name in names:
                out = out.append_column(
                    name, pa.nulls(out.num_rows, pa.int16() if name.endswith("programs") else pa.string())
                )
            continue
        index = pc.index_in(person, value_set=_plain(other["person_id"]))
        for column, name in zip(("programs", *LINK_DIMS), names, strict=True):
            values = _plain(other[column])
            taken = values.take(index)
            taken = pc.cast(taken, pa.int16()) if name.endswith("programs") else pc.cast(taken, pa.string())
            out = out.append_column(name, taken)
    return out


def partition_files(directory: Path, period: Period) -> list[Path]:
    folder = directory / "contribution_months" / f"period={period}"
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def read_month(directory: Path, period: Period, columns: list[str] | None = None) -> pa.Table | None:
    files = partition_files(directory, period)
    if not files:
        return None
    tables = []
    for f in files:
        t = pq.read_table(f, columns=columns)
        tables.append(pa.table({name: _plain(t[name]) for name in t.column_names}))
    return pa.concat_tables(tables, promote_options="permissive")


def relink(directory: Path, periods: set[Period], encode: Callable[[pa.Table], pa.Table]) -> int:
    """Recompute the links of the months in ``periods`` from what the warehouse holds now, rewriting
    their files in place (each replaced atomically). Returns the number of rows relinked."""
    wanted = ["person_id", "programs", *LINK_DIMS]
    done = 0
    for period in sorted(periods):
        files = partition_files(directory, period)
        if not files:
            continue
        earlier = {side: read_month(directory, period + -months, wanted) for side, months in SIDES.items()}
        for f in files:
            table = link(pq.read_table(f), earlier)
            tmp = f.with_suffix(".parquet.tmp")
            pq.write_table(encode(table), tmp, compression="zstd")
            os.replace(tmp, f)
            done += table.num_rows
    return done

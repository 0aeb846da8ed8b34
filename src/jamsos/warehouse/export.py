"""Incremental export of the store's append-only facts to Parquet (schema: docs/warehouse.md).

Each fact table is exported by id watermark; contribution lines by approved billing run. Part files
are named by their first id (or run), so re-running after a crash rewrites the same files; the
state file is replaced last, atomically. A second export writes only what is new.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from jamsos.infra.bulk import fetch_arrow
from jamsos.kernel.period import Period
from jamsos.ledger import service as ledger
from jamsos.registry import service as registry
from jamsos.rules import codes as c

STATE = "_jamsos_export.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ExportResult:
    directory: str
    written: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "written": self.written}


def _queries() -> dict[str, tuple[Any, Any]]:
    return registry.fact_queries() | ledger.fact_queries()


def _load_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "watermarks": {}, "runs": []}
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def _save_state(directory: Path, state: dict[str, Any]) -> None:
    tmp = directory / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, directory / STATE)


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def export(session: Session, *, out: Path, batch: int = 1_000_000) -> ExportResult:
    """Write what is new since the last export into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    state = _load_state(out)
    written: dict[str, int] = {}
    for name, (id_col, query) in _queries().items():
        mark = int(state["watermarks"].get(name, 0))
        total = 0
        while True:
            chunk = fetch_arrow(session, query.where(id_col > mark).order_by(id_col).limit(batch))
            if chunk.num_rows == 0:
                break
            first = chunk.column(0)[0].as_py()
            if "period" in chunk.column_names:
                chunk = _periods_as_text(chunk, ("period",))
            _write(chunk, out / name / f"part-{first:012d}.parquet")
            mark = int(pc.max(chunk.column(0)).as_py())
            total += chunk.num_rows
            state["watermarks"][name] = mark
        written[name] = total
    written["contribution_lines"] = _export_lines(session, out, state)
    written["offices"] = _export_offices(session, out)
    _save_state(out, state)
    return ExportResult(str(out), written)


def _export_lines(session: Session, out: Path, state: dict[str, Any]) -> int:
    done = set(state.get("runs", []))
    runs = [(run_id, p) for run_id, p in ledger.approved_runs(session) if run_id not in done]
    members = None
    total = 0
    for run_id, period in runs:
        lines = ledger.run_lines(session, run_id)
        if lines.num_rows:
            if members is None:
                members = fetch_arrow(session, registry.membership_segments())
            lines = lines.join(members, keys="membership_id", join_type="left outer").sort_by("line_id")
            seg = lines.schema.get_field_index("segment")
            lines = lines.set_column(seg, "segment", pc.fill_null(lines["segment"], "jakon"))
            lines = _label(lines)
            lines = _periods_as_text(lines.drop_columns(["period"]), ("cover_from", "cover_to"))
            _write(
                lines,
                out / "contribution_lines" / f"period={Period.from_ordinal(period)}" / f"run-{run_id:08d}.parquet",
            )
        total += lines.num_rows
        state.setdefault("runs", []).append(run_id)
    return total


def _periods_as_text(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """Month ordinals (year * 12 + month - 1) as 'YYYY-MM' text."""
    for col in columns:
        ordinals = table[col].cast(pa.int64())
        years = pc.divide(ordinals, 12)
        months = pc.add(pc.subtract(ordinals, pc.multiply(years, 12)), 1)
        text = pc.binary_join_element_wise(
            pc.cast(years, pa.string()), pc.utf8_lpad(pc.cast(months, pa.string()), 2, "0"), "-"
        )
        table = table.set_column(table.schema.get_field_index(col), col, text)
    return table


def _label(lines: pa.Table) -> pa.Table:
    for col, labels in (("program", c.PROGRAM_LABELS), ("payer", c.PAYERS), ("kind", c.LINE_KINDS)):
        idx = lines.schema.get_field_index(col)
        codes = lines[col].cast(pa.int32())
        lines = lines.set_column(idx, col, pc.take(pa.array(labels), codes))
    return lines


def _export_offices(session: Session, out: Path) -> int:
    offices = fetch_arrow(session, registry.offices_query())
    _write(offices, out / "offices" / "offices.parquet")
    return int(offices.num_rows)

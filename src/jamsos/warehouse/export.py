"""Incremental export of the store's append-only facts to Parquet (schema: docs/warehouse.md).

Each fact table is exported by id watermark; contribution lines by approved billing run. Part files
are named by their first id (or run), so re-running after a crash rewrites the same files; the
state file is replaced last, atomically. A second export writes only what is new.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.kernel.pseudonym import key_id, person_keys
from jamsos.ledger import service as ledger
from jamsos.registry import service as registry
from jamsos.rules import codes as c
from jamsos.rules.tree import ParameterTree
from jamsos.warehouse.links import LINK_COLUMNS, SIDES, link
from jamsos.warehouse.schema import STEERING, default_regions

STATE = "_jamsos_export.json"
SCHEMA_VERSION = 2  # 2: persons are keyed by pseudonyms (person_id), no NIK, name or KPJ


class Pseudonyms:
    """Worker id → the person's key in the warehouse: the keyed hash of their NIK
    (``kernel.pseudonym.person_key``). The warehouse never holds a NIK, a name or a KPJ, nor the store's
    own worker ids, which anyone with the store could look up."""

    def __init__(self, session: Session, key: bytes) -> None:
        self.session = session
        self.key = key
        self.keys: dict[int, int] = {}
        self.owner: dict[int, int] = {}

    def of(self, worker_ids: list[Any]) -> list[int | None]:
        missing = {int(w) for w in worker_ids if w is not None and int(w) not in self.keys}
        if missing:
            niks = registry.worker_niks(self.session, missing)
            ids = sorted(niks)
            for worker, key in zip(ids, person_keys(self.key, [niks[i] for i in ids]), strict=True):
                if self.owner.setdefault(key, worker) != worker:
                    raise ExportFailed(
                        "two workers have the same pseudonymous key (a hash collision, about 2 in 10,000 for the "
                        "whole nation); export with another JAMSOS_PSEUDONYM_KEY into a new directory"
                    )
                self.keys[worker] = key
        return [None if w is None else self.keys[int(w)] for w in worker_ids]

    def replace(self, table: pa.Table, column: str = "worker_id") -> pa.Table:
        """``column`` (worker ids) replaced by ``person_id``; a birth date by its year."""
        if column not in table.column_names:
            return table
        keys = pa.array(self.of(table[column].to_pylist()), pa.int64())
        table = table.set_column(table.schema.get_field_index(column), "person_id", keys)
        if "birth_date" in table.column_names:
            year = pc.cast(pc.year(table["birth_date"]), pa.int16())
            table = table.set_column(table.schema.get_field_index("birth_date"), "birth_year", year)
        return table


@dataclass(frozen=True)
class ExportResult:
    directory: str
    written: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "written": self.written}


def _facts() -> dict[str, Any]:
    """Fact name → the function that reads a chunk of it (after a watermark id, at most a limit of rows)."""
    return {name: partial(registry.fact_chunk, name=name) for name in registry.FACTS} | {
        name: partial(ledger.fact_chunk, name=name) for name in ledger.FACTS
    }


def _load_state(directory: Path, key: bytes) -> dict[str, Any]:
    path = directory / STATE
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "watermarks": {}, "runs": [], "pseudonym_key_id": key_id(key)}
    state: dict[str, Any] = json.loads(path.read_text())
    if state.get("schema_version") != SCHEMA_VERSION:
        raise ExportFailed(
            f"{directory} holds an export of schema version {state.get('schema_version')} (persons by store ids); "
            f"this version writes pseudonymous keys: export into a new directory"
        )
    if state.get("pseudonym_key_id") != key_id(key):
        raise ExportFailed(
            f"{directory} was exported with another pseudonym key (JAMSOS_PSEUDONYM_KEY); its persons would not "
            "match: use the same key, or export into a new directory"
        )
    return state


def _save_state(directory: Path, state: dict[str, Any]) -> None:
    tmp = directory / (STATE + ".tmp")
    try:
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp, directory / STATE)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportFailed(f"could not record the export in {directory / STATE}: {exc.strerror or exc}") from exc


class ExportFailed(DomainError):
    code = "export_failed"


def _write(table: pa.Table, path: Path) -> None:
    """Write a part file under a temporary name and move it into place: a reader never sees half a file.
    A failed write (a full disk) removes the temporary file and says which file could not be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise ExportFailed(
            f"could not write {path}: {reason}; nothing after the last complete export is recorded, run it again"
        ) from exc


def export(
    session: Session,
    *,
    out: Path,
    batch: int = 1_000_000,
    tree: ParameterTree | None = None,
    known_at: dt.datetime | None = None,
    pseudonym_key: bytes,
) -> ExportResult:
    """Write what is new since the last export into ``out`` (created if needed). With the parameter
    tree, also the steering datasets (contribution months, registrations, regions) as known at ``known_at``.
    Persons are keyed by the keyed hash of their NIK under ``pseudonym_key`` (one key per warehouse)."""
    out.mkdir(parents=True, exist_ok=True)
    state = _load_state(out, pseudonym_key)
    people = Pseudonyms(session, pseudonym_key)
    written: dict[str, int] = {}
    for name, chunk_of in _facts().items():
        mark = int(state["watermarks"].get(name, 0))
        total = 0
        while True:
            chunk = chunk_of(session, after=mark, limit=batch)
            if chunk.num_rows == 0:
                break
            first = chunk.column(0)[0].as_py()
            mark = int(pc.max(chunk.column(0)).as_py())
            if "period" in chunk.column_names:
                chunk = _periods_as_text(chunk, ("period",))
            _write(people.replace(chunk), out / name / f"part-{first:012d}.parquet")
            total += chunk.num_rows
            state["watermarks"][name] = mark
        written[name] = total
    written["contribution_lines"] = _export_lines(session, out, state, people)
    written["offices"] = _export_offices(session, out)
    if tree is not None:
        written.update(_export_steering(session, out, tree, known_at or dt.datetime.now(dt.UTC), people))
    _save_state(out, state)
    return ExportResult(str(out), written)


def _export_lines(session: Session, out: Path, state: dict[str, Any], people: Pseudonyms) -> int:
    done = set(state.get("runs", []))
    runs = [(run_id, p) for run_id, p in ledger.approved_runs(session) if run_id not in done]
    members = None
    total = 0
    for run_id, period in runs:
        lines = ledger.run_lines(session, run_id)
        if lines.num_rows:
            if members is None:
                members = registry.membership_segments(session)
            lines = lines.join(members, keys="membership_id", join_type="left outer").sort_by("line_id")
            seg = lines.schema.get_field_index("segment")
            lines = lines.set_column(seg, "segment", pc.fill_null(lines["segment"], "jakon"))
            lines = _label(lines)
            lines = _periods_as_text(lines.drop_columns(["period"]), ("cover_from", "cover_to"))
            lines = people.replace(lines)
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
    offices = registry.offices(session)
    _write(offices, out / "offices" / "offices.parquet")
    return int(offices.num_rows)


SEGMENT_PRIORITY = {"pu": 0, "jakon": 1, "pmi": 2, "bpu": 3}


def _month_text(day: Any) -> str | None:
    return None if day is None else f"{day.year:04d}-{day.month:02d}"


def _export_steering(
    session: Session, out: Path, tree: ParameterTree, known_at: dt.datetime, people: Pseudonyms
) -> dict[str, int]:
    """The steering datasets derived from the ledger: one contribution month per person and month
    billed (rewritten at each export: later payments change what counts), and the registrations."""
    runs = ledger.approved_runs(session)
    written = {"contribution_months": 0}
    if runs:
        first, last = min(p for _, p in runs), max(p for _, p in runs)
        tables = {
            ordinal: pa.Table.from_pylist(
                _person_months(session, Period.from_ordinal(ordinal), tree, known_at, people), schema=_MONTH_SCHEMA
            )
            for ordinal in range(first, last + 1)
        }
        for ordinal, table in tables.items():
            linked = link(table, {side: tables.get(ordinal - back) for side, back in SIDES.items()})
            _write(linked, out / "contribution_months" / f"period={Period.from_ordinal(ordinal)}" / "ops.parquet")
            written["contribution_months"] += table.num_rows
    regs = registry.registrations(session, known_at=known_at).to_pylist()
    for r, key in zip(regs, people.of([r["person_id"] for r in regs]), strict=True):
        r["person_id"] = key
        r["registered"] = _month_text(r["registered"])
        r["ended"] = _month_text(r["ended"])
        r["ecosystem"] = r["ecosystem"] or ""
    _write(pa.Table.from_pylist(regs, schema=STEERING["registrations"].schema), out / "registrations" / "ops.parquet")
    written["registrations"] = len(regs)
    regions = default_regions()
    _write(regions, out / "regions" / "default.parquet")
    written["regions"] = regions.num_rows
    return written


_MONTH_SCHEMA = pa.schema(
    [f for f in STEERING["contribution_months"].schema if f.name != "period" and f.name not in LINK_COLUMNS]
)


def _person_months(
    session: Session, month: Period, tree: ParameterTree, known_at: dt.datetime, people: Pseudonyms
) -> list[dict[str, Any]]:
    status = ledger.active_status(session, period=month, tree=tree, known_at=known_at).to_pylist()
    attrs = {
        r["membership_id"]: r for r in registry.steering_attributes(session, month=month, known_at=known_at).to_pylist()
    }
    money = ledger.month_contributions(session, period=month, known_at=known_at)
    per_person: dict[int, list[dict[str, Any]]] = {}
    for s in status:
        mask = sum(c.BIT[p] for p in c.PROGRAMS if s[p])
        a = attrs.get(s["membership_id"])
        if not mask or a is None:
            continue
        amount, paid_on = money.get(s["membership_id"], (0, None))
        per_person.setdefault(int(s["worker_id"]), []).append(
            {**a, "programs": mask, "amount": amount, "paid_on": paid_on}
        )
    rows = []
    keys = {w: int(k or 0) for w, k in zip(per_person, people.of(list(per_person)), strict=True)}
    for worker, items in sorted(per_person.items(), key=lambda kv: keys[kv[0]]):
        items.sort(key=lambda r: (SEGMENT_PRIORITY[r["segment"]], r["membership_id"]))
        main = items[0]
        programs = 0
        for r in items:
            programs |= r["programs"]
        paid = [r["paid_on"] for r in items if r["paid_on"] is not None]
        rows.append(
            {
                "person_id": keys[worker],
                "membership_id": main["membership_id"],
                "employer_id": main["employer_id"],
                "segment": main["segment"],
                "regency_code": main["regency_code"],
                "ecosystem": main["ecosystem"] or "",
                "channel": main["channel"],
                "payer_source": main["payer_source"],
                "programs": programs,
                "wage": int(main["wage"] or 0),
                "amount": sum(int(r["amount"]) for r in items),
                "paid_on": max(paid) if paid else None,
                "person_since": _month_text(main["person_since"]),
                "employer_since": _month_text(main["employer_since"]),
            }
        )
    return rows

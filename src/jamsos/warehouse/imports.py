"""Import of extracts from another core system into the warehouse's steering datasets.

A file is validated whole (every bad cell named by row and column) and checked against what the
warehouse already holds; only then is it written: first into a staging directory, then moved into
place, then recorded in ``_jamsos_imports.json``. The file's SHA-256 names what it writes, so a
repeated import changes nothing and a re-run after a crash finishes the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput, Problems
from jamsos.kernel.period import Period
from jamsos.warehouse.links import LINK_COLUMNS, SIDES, relink
from jamsos.warehouse.schema import STEERING, Dataset, conform, encode

LEDGER = "_jamsos_imports.json"
IMPORTABLE = ("contribution_months", "registrations", "regions", "offices")
REPLACED = ("offices",)  # a snapshot: an import replaces it


class UnknownDataset(DomainError):
    code = "unknown_dataset"


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    file: str
    sha256: str
    rows: int
    already_imported: bool
    partitions: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "file": self.file,
            "sha256": self.sha256,
            "rows": self.rows,
            "already_imported": self.already_imported,
            "partitions": self.partitions,
        }


def _ledger(directory: Path) -> dict[str, Any]:
    path = directory / LEDGER
    loaded: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"imports": {}}
    return loaded


def _save_ledger(directory: Path, ledger: dict[str, Any]) -> None:
    tmp = directory / (LEDGER + ".tmp")
    tmp.write_text(json.dumps(ledger, indent=2, sort_keys=True))
    os.replace(tmp, directory / LEDGER)


def read_extract(file: Path, dataset: Dataset) -> tuple[pa.Table, int]:
    """The file as a table (CSV: every column as text) and the number of its first data row."""
    if file.suffix.lower() == ".parquet":
        try:
            return pq.read_table(file), 1
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput([FieldProblem("file", f"not a readable Parquet file: {exc}")]) from None
    try:
        table = pacsv.read_csv(
            file,
            read_options=pacsv.ReadOptions(encoding="utf8"),
            convert_options=pacsv.ConvertOptions(
                column_types={c.name: pa.string() for c in dataset.columns}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InvalidInput([FieldProblem("file", f"not a readable CSV file: {exc}")]) from None
    return table, 2


def import_extract(directory: Path, *, dataset: str, file: Path) -> ImportResult:
    """Add ``file`` to ``dataset`` of the warehouse at ``directory`` — all of it, or nothing."""
    if dataset not in IMPORTABLE:
        raise UnknownDataset(f"cannot import {dataset!r}; importable: {', '.join(IMPORTABLE)}")
    spec = STEERING[dataset]
    data = file.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    ledger = _ledger(directory)
    done = ledger["imports"].get(sha)
    if done is not None:
        return ImportResult(dataset, str(file), sha, int(done["rows"]), True, list(done["partitions"]))
    raw, first_row = read_extract(file, spec)
    table, problems = conform(spec, raw, first_row=first_row)
    if problems:
        raise InvalidInput(problems)
    table = table.drop_columns([c for c in LINK_COLUMNS if c in table.column_names])  # derived: relinked below
    name = f"import-{sha[:16]}.parquet"
    if dataset not in REPLACED:
        conflicts = _conflicts(directory, spec, table, first_row, skip=name)
        if conflicts:
            raise InvalidInput(conflicts)
    staging = directory / f".import-{sha[:16]}"
    parts = _stage(staging, spec, table, name)
    for relative in parts:
        target = directory / dataset / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if dataset in REPLACED:
            for old in target.parent.glob("*.parquet"):
                if old.name != name:
                    old.unlink()
        os.replace(staging / relative, target)
    shutil.rmtree(staging, ignore_errors=True)
    partitions = sorted({str(Path(p).parent) for p in parts if str(Path(p).parent) != "."})
    if dataset == "contribution_months":
        months = {Period.parse(p.split("=", 1)[1]) for p in partitions}
        affected = months | {m + back for m in months for back in SIDES.values()}
        relink(directory, affected, lambda t: encode(spec, t))
    ledger["imports"][sha] = {"dataset": dataset, "file": file.name, "rows": table.num_rows, "partitions": partitions}
    _save_ledger(directory, ledger)
    return ImportResult(dataset, str(file), sha, table.num_rows, False, partitions)


def _stage(staging: Path, spec: Dataset, table: pa.Table, name: str) -> list[str]:
    if staging.exists():
        shutil.rmtree(staging)
    written: list[str] = []
    if spec.partition:
        values = pc.unique(table[spec.partition]).to_pylist()
        for value in sorted(values):
            part = table.filter(pc.equal(table[spec.partition], value)).drop_columns([spec.partition])
            relative = f"{spec.partition}={value}/{name}"
            _write(staging / relative, encode(spec, part))
            written.append(relative)
    else:
        _write(staging / name, encode(spec, table))
        written.append(name)
    return written


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def _conflicts(directory: Path, spec: Dataset, table: pa.Table, first_row: int, skip: str) -> list[FieldProblem]:
    """Rows whose key the warehouse already holds (from another file)."""
    base = directory / spec.name
    if not base.exists():
        return []
    problems: list[FieldProblem] = Problems()
    values: list[Any] = pc.unique(table[spec.partition]).to_pylist() if spec.partition else [None]
    key = [k for k in spec.key if k != spec.partition]
    for value in values:
        folder = base / f"{spec.partition}={value}" if spec.partition else base
        files = [str(f) for f in folder.glob("*.parquet") if f.name != skip] if folder.exists() else []
        if not files:
            continue
        existing = ds.dataset(files, format="parquet").to_table(columns=key)
        rows = table if value is None else table.filter(pc.equal(table[spec.partition], value))
        index = pc.indices_nonzero(pc.equal(table[spec.partition], value)) if value is not None else None
        mask = _key_in(rows, existing, key)
        for i in pc.indices_nonzero(mask).to_pylist()[:1000]:
            row = int(index[i].as_py()) if index is not None else i
            problems.append(
                FieldProblem(
                    ",".join(spec.key),
                    "the warehouse already holds this key (from another file)",
                    row=row + first_row,
                    value="/".join(str(table[k][row].as_py()) for k in spec.key),
                )
            )
    return problems


def _key_in(rows: pa.Table, existing: pa.Table, key: list[str]) -> pa.Array:
    if len(key) == 1:
        return pc.is_in(rows[key[0]], value_set=existing[key[0]].combine_chunks())
    joined = (
        rows.select(key)
        .append_column("_i", pa.array(range(rows.num_rows)))
        .join(existing.select(key).group_by(key).aggregate([]), keys=key, join_type="inner")
    )
    return pc.is_in(pa.array(range(rows.num_rows)), value_set=joined["_i"].combine_chunks())

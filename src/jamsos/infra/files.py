"""Reading uploaded tables (CSV or XLSX) as text rows with their 1-based row numbers."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jamsos.kernel.errors import FieldProblem, InvalidInput


@dataclass(frozen=True)
class TableFile:
    """A table read whole: the header, data rows (row 1 is the header) and the file's hash."""

    name: str
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]
    sha256: str

    def require(self, columns: tuple[str, ...]) -> None:
        missing = [c for c in columns if c not in self.header]
        if missing:
            raise InvalidInput([FieldProblem(c, "column missing from the header", row=1) for c in missing])


def read_table(data: bytes, name: str) -> TableFile:
    """Parse CSV (UTF-8, comma or semicolon) or XLSX bytes. Header names are lower-cased and trimmed."""
    digest = hashlib.sha256(data).hexdigest()
    if name.lower().endswith(".xlsx"):
        rows = list(_xlsx_rows(data))
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput([FieldProblem("file", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]) from None
        sample = text[:4096]
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as exc:  # e.g. a NUL byte, or a bare carriage return (found by the parser fuzz test)
            raise InvalidInput([FieldProblem("file", f"not a readable CSV file: {exc}")]) from None
    if not rows:
        raise InvalidInput([FieldProblem("file", "the file is empty")])
    header = tuple(h.strip().lower() for h in rows[0])
    if len(set(header)) != len(header):
        raise InvalidInput([FieldProblem("header", "a column name appears twice", row=1, value=",".join(header))])
    out: list[tuple[int, dict[str, str]]] = []
    problems: list[FieldProblem] = []
    for number, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            problems.append(FieldProblem("row", f"has {len(values)} values for {len(header)} columns", row=number))
            continue
        out.append((number, {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)}))
    if problems:
        raise InvalidInput(problems)
    return TableFile(name, header, out, digest)


def read_path(path: Path) -> TableFile:
    return read_table(path.read_bytes(), path.name)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a broken file
        raise InvalidInput([FieldProblem("file", f"not a readable XLSX workbook: {exc}")]) from None
    sheet = book.worksheets[0]
    for row in sheet.iter_rows(values_only=True):
        yield ["" if v is None else _cell_text(v) for v in row]


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "date") and hasattr(value, "hour"):
        return str(value.date().isoformat())
    return str(value)

"""Reading uploaded tables (CSV or XLSX) as text rows with their 1-based row numbers."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from jamsos.kernel.errors import MAX_PROBLEMS, FieldProblem, InvalidInput

# What one uploaded table may hold: a national employer's wage list or a day's bank file fits; a sheet that
# declares the whole grid (A1:XFD1048576) to make a reader fill empty cells does not.
MAX_ROWS = 1_000_000
MAX_COLUMNS = 64
MAX_XLSX_XML_BYTES = 512 * 2**20  # the workbook's parts as unpacked (a zip bomb is refused before parsing)


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


NUL = "a NUL character is not accepted"


def read_table(data: bytes, name: str) -> TableFile:
    """Parse CSV (UTF-8, comma or semicolon) or XLSX bytes. Header names are lower-cased and trimmed."""
    digest = hashlib.sha256(data).hexdigest()
    name = Path(name).name[-200:] or "upload"  # a file name is a label: no folders, bounded
    if name.lower().endswith(".xlsx"):
        rows = _xlsx_rows(data)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput([FieldProblem("file", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]) from None
        sample = text[:4096]
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        rows = []
        try:
            for values in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
                if len(rows) > MAX_ROWS:
                    raise InvalidInput([FieldProblem("file", f"has more than {MAX_ROWS:,} rows; split it")])
                rows.append(values)
        except csv.Error as exc:  # e.g. a NUL byte, or a bare carriage return (found by the parser fuzz test)
            raise InvalidInput([FieldProblem("file", f"not a readable CSV file: {exc}")]) from None
    if not rows:
        raise InvalidInput([FieldProblem("file", "the file is empty")])
    if len(rows[0]) > MAX_COLUMNS:
        raise InvalidInput([FieldProblem("header", f"has {len(rows[0])} columns; at most {MAX_COLUMNS}", row=1)])
    header = tuple(h.strip().lower() for h in rows[0])
    if any("\x00" in h for h in header):
        raise InvalidInput([FieldProblem("header", NUL, row=1)])
    if len(set(header)) != len(header):
        raise InvalidInput([FieldProblem("header", "a column name appears twice", row=1, value=",".join(header))])
    out: list[tuple[int, dict[str, str]]] = []
    problems: list[FieldProblem] = []
    bad = 0
    for number, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            bad += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(FieldProblem("row", f"has {len(values)} values for {len(header)} columns", row=number))
            continue
        nul = [header[i] for i, v in enumerate(values) if "\x00" in v]
        if nul:  # no code, name or amount has one, and PostgreSQL refuses it in text: say where it is
            bad += 1
            problems.extend(FieldProblem(c, NUL, row=number) for c in nul[: max(0, MAX_PROBLEMS - len(problems))])
            continue
        out.append((number, {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)}))
    if problems:
        raise InvalidInput(problems, total=bad)
    return TableFile(name, header, out, digest)


def read_path(path: Path) -> TableFile:
    return read_table(path.read_bytes(), path.name)


def _xlsx_rows(data: bytes) -> list[list[str]]:
    """The first sheet's rows as text, read no wider than its header and no longer than ``MAX_ROWS``: a sheet
    declaring more rows or columns than that is refused before any cell is read, and so is a workbook whose parts
    unpack to more than ``MAX_XLSX_XML_BYTES``."""
    from openpyxl import load_workbook

    try:
        unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidInput([FieldProblem("file", f"not a readable XLSX workbook: {exc}")]) from None
    if unpacked > MAX_XLSX_XML_BYTES:
        raise InvalidInput([FieldProblem("file", f"unpacks to {unpacked:,} bytes; at most {MAX_XLSX_XML_BYTES:,}")])
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        declared_rows, declared_cols = sheet.max_row, sheet.max_column
    except Exception as exc:  # openpyxl raises several unrelated types for a broken file
        raise InvalidInput([FieldProblem("file", f"not a readable XLSX workbook: {exc}")]) from None
    if declared_rows is not None and declared_rows > MAX_ROWS + 1:
        raise InvalidInput(
            [FieldProblem("file", f"the sheet declares {declared_rows:,} rows; at most {MAX_ROWS:,} are read")]
        )
    if declared_cols is not None and declared_cols > 16_384:
        raise InvalidInput([FieldProblem("file", f"the sheet declares {declared_cols:,} columns")])
    try:
        header = next(sheet.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS + 1, values_only=True), ())
        named = [i for i, v in enumerate(header) if v is not None and str(v).strip()]
        width = named[-1] + 1 if named else 0
        if width > MAX_COLUMNS:
            raise InvalidInput([FieldProblem("header", f"has more than {MAX_COLUMNS} columns", row=1)])
        rows: list[list[str]] = []
        for row in sheet.iter_rows(max_col=max(width, 1), max_row=MAX_ROWS + 2, values_only=True):
            rows.append(["" if v is None else _cell_text(v) for v in row])
            if len(rows) > MAX_ROWS + 1:
                raise InvalidInput([FieldProblem("file", f"has more than {MAX_ROWS:,} rows; split it")])
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput([FieldProblem("file", f"not a readable XLSX workbook: {exc}")]) from None
    finally:
        book.close()
    return rows


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "date") and hasattr(value, "hour"):
        return str(value.date().isoformat())
    return str(value)

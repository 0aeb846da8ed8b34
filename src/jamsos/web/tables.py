"""Tables shown on a page, and the same tables as CSV or XLSX downloads (the page URL plus ``format``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from jamsos.edge.spreadsheet import csv_cell, is_formula_like
from jamsos.web.labels import fmt, t


@dataclass(frozen=True)
class Column:
    key: str
    kind: str = "text"  # text, int, pct, float, idr, trillion, bool, prob
    label: str = ""  # a label key; the column key when empty
    link: str = ""  # a URL pattern filled from the row, e.g. "/cabang/{branch}"


@dataclass
class Table:
    id: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    downloadable: bool = True  # False for a form's error list, which exists only in the answer to a POST

    def header(self, lang: str) -> list[str]:
        return [t(lang, c.label or c.key) for c in self.columns]

    def cells(self, row: dict[str, Any], lang: str) -> list[tuple[str, str, str]]:
        """(text, kind, link) per column."""
        return [
            (fmt(row.get(c.key), c.kind, lang), c.kind, c.link.format(**row) if c.link else "") for c in self.columns
        ]

    def to_csv(self, lang: str) -> bytes:
        """Raw values (not formatted), a header of labels; UTF-8 with BOM so spreadsheets read it."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180: a field holding CR or LF is quoted
        w.writerow(self.header(lang))
        for r in self.rows:
            w.writerow(["" if r.get(c.key) is None else csv_cell(r.get(c.key)) for c in self.columns])
        return ("\ufeff" + buf.getvalue()).encode("utf-8")

    def to_xlsx(self, lang: str) -> bytes:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(self.id[:31])
        ws.append(self.header(lang))
        for r in self.rows:
            ws.append([_cell(ws, r.get(c.key)) for c in self.columns])
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()


def _cell(ws: Any, value: Any) -> Any:
    """An XLSX cell; text is always a text cell (openpyxl would store "=..." as a formula), and formula-like text
    is also marked to stay text when someone edits it (the quote prefix, ``edge.spreadsheet``)."""
    if value is None or isinstance(value, int | float | bool):
        return value
    text = str(value)
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"
    if is_formula_like(text):
        cell.quotePrefix = True
    return cell

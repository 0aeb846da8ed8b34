"""Cells that a spreadsheet will not run: text beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel and LibreOffice (OWASP "CSV injection"), so every text cell jamsos writes to a CSV
or XLSX file for people goes through here. Numbers stay numbers."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> Any:
    """A CSV cell: formula-like text gets a leading apostrophe, which spreadsheets show as text."""
    return "'" + value if is_formula_like(value) else value

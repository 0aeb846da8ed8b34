"""Do a publication's figures agree with each other? Levels, increments and growth rates checked
against one another, allowing for the rounding of the quoted digits."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from itertools import product

from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period

KINDS = ("level", "increment", "growth")


@dataclass(frozen=True)
class Quoted:
    """A figure as published: a level in a month, or an increment or growth rate (percent) between two."""

    kind: str
    period: str
    value: Decimal
    base_period: str = ""
    label: str = ""
    source: str = ""

    @property
    def half_unit(self) -> Decimal:
        """Half a unit in the last quoted digit: how far rounding can have moved the figure."""
        exponent = self.value.as_tuple().exponent
        return Decimal(5) * Decimal(10) ** (int(exponent) - 1) if isinstance(exponent, int) else Decimal(0)

    def name(self) -> str:
        span = f"{self.base_period}→{self.period}" if self.base_period else self.period
        unit = " %" if self.kind == "growth" else ""
        text = f"{self.kind} {span} = {self.value}{unit}"
        return f"{text} ({self.label})" if self.label else text


@dataclass(frozen=True)
class Check:
    relation: str
    quoted: Quoted
    derived: Decimal
    tolerance: Decimal
    uses: tuple[Quoted, ...]

    @property
    def difference(self) -> Decimal:
        return self.quoted.value - self.derived

    @property
    def reconciles(self) -> bool:
        return abs(self.difference) <= self.tolerance

    def to_json(self) -> dict[str, object]:
        return {
            "relation": self.relation,
            "quoted": self.quoted.name(),
            "quoted_value": float(self.quoted.value),
            "derived": float(round(self.derived, 4)),
            "difference": float(round(self.difference, 4)),
            "tolerance": float(round(self.tolerance, 4)),
            "reconciles": self.reconciles,
            "from": [q.name() for q in self.uses],
        }


def _growth(base: Decimal, level: Decimal) -> Decimal:
    return (level - base) / base * 100


def reconcile(figures: list[Quoted]) -> list[Check]:
    """Every relation the figures allow: growth from two levels, growth from an increment and its
    base, increment from two levels. Each derived value carries the rounding of its inputs."""
    levels: dict[str, list[Quoted]] = {}
    for f in figures:
        if f.kind == "level":
            levels.setdefault(f.period, []).append(f)
    checks: list[Check] = []
    for f in figures:
        if f.kind == "level":
            continue
        for base, end in product(levels.get(f.base_period, []), levels.get(f.period, [])):
            if f.kind == "growth":
                derived = _growth(base.value, end.value)
                # the growth rate moves at most this much within the levels' rounding
                spread = max(
                    abs(_growth(base.value + db * base.half_unit, end.value + de * end.half_unit) - derived)
                    for db, de in product((-1, 1), (-1, 1))
                )
                checks.append(Check("growth from levels", f, derived, f.half_unit + spread, (base, end)))
            else:
                derived = end.value - base.value
                checks.append(
                    Check(
                        "increment from levels", f, derived, f.half_unit + base.half_unit + end.half_unit, (base, end)
                    )
                )
        if f.kind == "growth":
            for inc, base in product(
                [
                    g
                    for g in figures
                    if g.kind == "increment" and (g.base_period, g.period) == (f.base_period, f.period)
                ],
                levels.get(f.base_period, []),
            ):
                derived = inc.value / base.value * 100
                spread = abs((inc.value + inc.half_unit) / (base.value - base.half_unit) * 100 - derived)
                checks.append(Check("growth from increment", f, derived, f.half_unit + spread, (inc, base)))
    return checks


def implied_levels(figures: list[Quoted]) -> list[tuple[Quoted, Decimal]]:
    """For each growth rate: the level it implies at its end month from each quoted base level."""
    out = []
    for f in figures:
        if f.kind == "growth":
            for base in (g for g in figures if g.kind == "level" and g.period == f.base_period):
                out.append((f, base.value * (1 + f.value / 100)))
    return out


def parse_figures(rows: list[dict[str, str]], first_row: int = 2) -> list[Quoted]:
    """Figures from rows with ``kind, base_period, period, value[, label, source]``; every bad cell is reported."""
    problems: list[FieldProblem] = []
    out: list[Quoted] = []
    for number, row in enumerate(rows, start=first_row):
        kind = (row.get("kind") or "").strip()
        if kind not in KINDS:
            problems.append(FieldProblem("kind", f"must be one of {', '.join(KINDS)}", row=number, value=kind))
            continue
        periods = {}
        for col in ("period", "base_period"):
            text = (row.get(col) or "").strip()
            if col == "base_period" and kind == "level":
                periods[col] = ""
                continue
            try:
                periods[col] = str(Period.parse(text))
            except ValueError:
                problems.append(FieldProblem(col, "must be a month YYYY-MM", row=number, value=text))
        try:
            value = Decimal((row.get("value") or "").strip())
            if not value.is_finite():
                raise ValueError
        except (ValueError, ArithmeticError):
            problems.append(FieldProblem("value", "must be a number", row=number, value=row.get("value")))
            continue
        if kind == "level" and value <= 0:
            problems.append(FieldProblem("value", "a level must be positive", row=number, value=str(value)))
            continue
        if len(periods) == 2:
            out.append(
                Quoted(
                    kind,
                    periods["period"],
                    value,
                    periods["base_period"],
                    row.get("label") or "",
                    row.get("source") or "",
                )
            )
    if problems:
        raise InvalidInput(problems)
    return out


def article_case() -> list[Quoted]:
    """The figures of the source article (ANTARA Ambon 2024), with the audited 2023 level beside them."""
    text = resources.files("jamsos.coverage").joinpath("data", "antara_ambon_2024.csv").read_text(encoding="utf-8")
    return parse_figures(list(csv.DictReader(text.splitlines())))

"""Benefit calculators (JKM, JKK death, JKP, JP, JHT) over the same dated, cited parameters.

Functions take NumPy arrays where a population is natural (wages, months), so the fund projection
can use them for millions of cases; scalars work as 0-d inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules.formulas import apply_rate, rate_units
from jamsos.rules.tree import ParameterTree

I64 = npt.NDArray[np.int64]


def _ints(name: str, value: Any) -> I64:
    arr = np.asarray(value, dtype=np.int64)
    if (arr < 0).any():
        raise InvalidInput([FieldProblem(name, "must not be negative")])
    return arr


@dataclass(frozen=True)
class Benefit:
    """Components of a benefit in rupiah with the references used."""

    components: dict[str, Any]
    total: Any
    references: tuple[str, ...]
    unverified: bool


def jkm(period: Period, membership_months: Any, children: Any, tree: ParameterTree) -> Benefit:
    """JKM death benefit: lump sum + periodic + funeral, plus scholarship after the minimum membership."""
    amounts = tree["benefits.jkm.amounts"].require(period)
    scholarship = tree["benefits.jkm.scholarship"].require(period)
    months, kids = _ints("membership_months", membership_months), _ints("children", children)
    s = scholarship.value
    eligible = (months >= s["min_membership_months"]) & (kids > 0)
    school = np.where(eligible, s["max_total"], 0).astype(np.int64)
    base = amounts.value["lump_sum"] + amounts.value["periodic"] + amounts.value["funeral"]
    comps = dict(amounts.value) | {
        "scholarship_max": school,
        "scholarship_children": np.minimum(kids, s["max_children"]),
    }
    return Benefit(
        comps,
        base + school,
        (amounts.reference, scholarship.reference),
        not (amounts.verified and scholarship.verified),
    )


def jkk_death(period: Period, wage: Any, tree: ParameterTree) -> Benefit:
    """JKK death by work accident: multiple x monthly wage + periodic + funeral; no minimum period."""
    p = tree["benefits.jkk.death"].require(period)
    w = _ints("wage", wage)
    lump = w * p.value["wage_multiple"]
    total = lump + p.value["periodic"] + p.value["funeral"]
    return Benefit(
        {"lump_sum": lump, "periodic": p.value["periodic"], "funeral": p.value["funeral"]},
        total,
        (p.reference,),
        not p.verified,
    )


def jkp_schedule(period: Period, wage: Any, tree: ParameterTree) -> Benefit:
    """JKP cash benefit month by month under the regime in force when the job was lost."""
    rates = tree["benefits.jkp.replacement_rates"].require(period)
    cap = tree["benefits.jkp.wage_cap"].require(period)
    basis = np.minimum(_ints("wage", wage), cap.value)
    months: dict[str, Any] = {}
    total = np.zeros_like(basis)
    for row in rates.value:
        units = rate_units(row["rate"])
        for m in range(row["from_month"], row["to_month"] + 1):
            months[f"month_{m}"] = apply_rate(basis, units)
            total = total + months[f"month_{m}"]
    return Benefit(months, total, (rates.reference, cap.reference), not (rates.verified and cap.verified))


@dataclass(frozen=True)
class Pension:
    """JP outcome: a monthly pension (``kind == "pension"``) or a lump sum."""

    kind: str
    monthly: int
    lump_sum: int
    references: tuple[str, ...]
    unverified: bool


def jp(
    period: Period, months_contributed: int, average_indexed_wage: int, accumulated_balance: int, tree: ParameterTree
) -> Pension:
    """JP at pension age: 1 % x years x average indexed wage (bounded) after 180 months, else the balance."""
    months = int(_ints("months_contributed", months_contributed))
    wage = int(_ints("average_indexed_wage", average_indexed_wage))
    balance = int(_ints("accumulated_balance", accumulated_balance))
    minimum = tree["benefits.jp.minimum_months"].require(period)
    if months < minimum.value:
        return Pension("lump_sum", 0, balance, (minimum.reference,), not minimum.verified)
    accrual = tree["benefits.jp.accrual_rate"].require(period)
    bounds = tree["benefits.jp.benefit_bounds"].require(period)
    raw = Decimal(accrual.value) * Decimal(months) / 12 * wage
    monthly = int(raw.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    monthly = min(max(monthly, bounds.value["minimum"]), bounds.value["maximum"])
    refs = (minimum.reference, accrual.reference, bounds.reference)
    return Pension("pension", monthly, 0, refs, not (minimum.verified and accrual.verified and bounds.verified))

"""Due dates of contributions and the late-payment fine (denda), on Indonesian working days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import holidays

from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules.formulas import apply_rate, rate_units
from jamsos.rules.tree import ParameterTree

_DUE_PARAMS = {c.PU: "deadlines.pu_due", c.BPU: "deadlines.bpu_due"}


@lru_cache(maxsize=64)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("ID", years=year)


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not an Indonesian public holiday."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_working_day(day: dt.date) -> dt.date:
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


@lru_cache(maxsize=4096)
def due_date(segment: str, period: Period, tree: ParameterTree) -> dt.date:
    """When the contribution for ``period`` is due (PU: 15th of the next month; BPU: 15th of the same month)."""
    seg = c.code_of("segment", segment, c.SEGMENTS)
    path = _DUE_PARAMS.get(seg)
    if path is None:
        raise InvalidInput(
            [
                FieldProblem(
                    "segment", "Jakon and PMI are paid upfront per project or placement, not monthly", value=segment
                )
            ]
        )
    rule = tree.value(path, period)
    day = (period + int(rule["months_after"])).day(int(rule["day"]))
    if tree.value("deadlines.next_working_day", period):
        day = next_working_day(day)
    return day


def months_late(due: dt.date, paid_on: dt.date, *, part_month_counts: bool = True) -> int:
    """Whole months of lateness; a started month counts as one when ``part_month_counts``."""
    if paid_on <= due:
        return 0
    months = (paid_on.year - due.year) * 12 + paid_on.month - due.month
    if paid_on.day > due.day:
        months += 1 if part_month_counts else 0
    return max(months, 1 if part_month_counts else 0)


@dataclass(frozen=True)
class Fine:
    """A late-payment fine and how it was computed."""

    due: dt.date
    paid_on: dt.date
    months_late: int
    rate_per_month: str
    amount: int
    reference: str
    status: str


def fine(segment: str, period: Period, unpaid: int, paid_on: dt.date, tree: ParameterTree) -> Fine:
    """2 % of the unpaid contribution per month late, simple, for segments that incur fines."""
    if unpaid < 0:
        raise InvalidInput([FieldProblem("amount", "must not be negative", value=unpaid)])
    due = due_date(segment, period, tree)
    param = tree["deadlines.fine_rate_per_month"].require(period)
    seg = c.SEGMENTS[c.code_of("segment", segment, c.SEGMENTS)]
    applies = seg in tree.value("deadlines.fine_segments", period)
    late = months_late(due, paid_on, part_month_counts=bool(tree.value("deadlines.fine_part_month", period)))
    units = rate_units(param.value)
    amount = int(apply_rate(unpaid * late, units)) if applies else 0
    return Fine(due, paid_on, late, str(param.value), amount, param.reference, param.status)


def paid_cutoff(period: Period, tree: ParameterTree) -> dt.date:
    """The day by which a month's contribution must be paid for the month to count in its figures: the last day of
    the month ``coverage.paid_by_months_after`` after it. The operational status and the KPIs share it."""
    return (period + int(tree.value("coverage.paid_by_months_after", period))).last_day

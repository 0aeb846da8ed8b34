"""Membership status as the agency counts it (issue 16, step 1), as one Ibis expression over facts.

For the KPI month ``t`` a contribution month counts as paid when it was paid by the cut-off ``paid_by``
(``rules.deadlines.paid_cutoff``: the last day of the month ``coverage.paid_by_months_after`` after ``t``). A
membership is *open* in ``t`` from its start month to its end month. Then, per segment (BPJS Ketenagakerjaan,
artikel 18884, 2025; Perdir 22/PERDIR.02/072022):
- **PU** is *aktif* while open, unless its last ``coverage.status_pu_unpaid_months`` months (those since its start)
  are all unpaid: a membership younger than that is aktif;
- **BPU** is *aktif* while open and one of ``t − coverage.status_bpu_grace_months`` … ``t`` (since its start) is
  paid; its first paid month, and a month paid after a longer gap, is a *new acquisition* (not a reactivation);
- **Jakon** and **PMI** are *aktif* while open and ``t`` is paid (the project or placement is paid);
- any membership is *protected* in ``t`` when it is open and ``t`` is paid.

Engine-agnostic (DuckDB, PySpark): months are ordinals (``Period.ordinal``), one aggregation of the paid months
and one join per month, no per-membership Python. ``tests/coverage/test_status.py`` checks it against a plain
reference, membership by membership. Not yet wired into the operational active status or the warehouse: that is
the rest of issue 16.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from jamsos.kernel.period import Period


@dataclass(frozen=True)
class StatusRule:
    """The rule's numbers for one month, read from the parameter tree by the caller."""

    pu_unpaid_months: int
    bpu_grace_months: int


def status(
    memberships: ir.Table, contributions: ir.Table, *, period: Period, paid_by: dt.date, rule: StatusRule
) -> ir.Table:
    """One row per membership open in ``period``: ``membership_id``, ``segment``, ``aktif``, ``protected`` and
    ``new_acquisition`` (BPU: paid in ``period`` for the first time, or after more than the grace months unpaid).

    ``memberships``: ``membership_id``, ``segment`` (pu|bpu|jakon|pmi), ``start`` and ``end`` (month ordinals;
    ``end`` null while open). ``contributions``: ``membership_id``, ``period`` (month ordinal), ``paid_on`` (a
    date; null when billed and unpaid)."""
    t = period.ordinal
    pu_from = t - rule.pu_unpaid_months + 1
    bpu_from = t - rule.bpu_grace_months
    c = contributions
    paid = c.filter(c.paid_on.notnull() & (c.paid_on <= paid_by) & (c.period <= t))
    starts = memberships.select("membership_id", "start")
    paid = paid.join(starts, "membership_id")
    paid = paid.filter(paid.period >= paid.start)  # a month before the start is not the membership's
    stats = paid.group_by("membership_id").aggregate(
        paid_t=(paid.period == t).any(),
        paid_pu_window=(paid.period >= pu_from).any(),
        paid_bpu_window=(paid.period >= bpu_from).any(),
        last_before=paid.period.max(where=paid.period < t),
    )
    m = memberships.filter((memberships.start <= t) & (memberships.end.isnull() | (memberships.end >= t)))
    j = m.left_join(stats, m.membership_id == stats.membership_id)
    paid_t = j.paid_t.fill_null(False)
    young = (t - j.start + 1) < rule.pu_unpaid_months  # fewer months since its start than make it nonaktif
    aktif = ibis.cases(
        (j.segment == "pu", young | j.paid_pu_window.fill_null(False)),
        (j.segment == "bpu", j.paid_bpu_window.fill_null(False)),
        else_=paid_t,
    )
    lapsed_before = j.last_before.isnull() | ((t - j.last_before - 1) > rule.bpu_grace_months)
    new = (j.segment == "bpu") & paid_t & lapsed_before
    return j.select(
        membership_id=m.membership_id,
        segment=j.segment,
        aktif=aktif,
        protected=paid_t,
        new_acquisition=new.fill_null(False),
    )

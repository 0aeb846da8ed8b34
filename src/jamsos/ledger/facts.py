"""The ledger's read models for the warehouse: approved runs, their lines, the bills of a month and the
contributions of a month, as queries or Arrow tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jamsos.infra.bulk import fetch_arrow
from jamsos.kernel.period import Period
from jamsos.ledger import tables as lt
from jamsos.ledger.repository import approved_run_ids, bill_balances, bill_balances_of, in_accounts
from jamsos.registry import service as registry
from jamsos.rules import codes as c


# ---- warehouse facts -------------------------------------------------------------------------
def _fact_queries() -> dict[str, tuple[Any, Any]]:
    """Warehouse facts of the ledger: name → (id column for the watermark, select)."""
    p, a, f, b = lt.payment, lt.allocation, lt.fine, lt.bill
    return {
        "bills": (
            b.c.id,
            select(b.c.id.label("bill_id"), b.c.account_id, b.c.period, b.c.segment, b.c.due_date, b.c.recorded_at),
        ),
        "payments": (
            p.c.id,
            select(
                p.c.id.label("payment_id"), p.c.reference, p.c.account_id, p.c.amount, p.c.paid_on, p.c.channel,
                p.c.reverses_id, p.c.recorded_at,
            ),
        ),
        "allocations": (
            a.c.id,
            select(
                a.c.id.label("allocation_id"), a.c.payment_id, a.c.bill_id, a.c.target, a.c.amount, a.c.effective_on,
                a.c.reverses_id, a.c.recorded_at,
            ),
        ),
        "fines": (
            f.c.id,
            select(
                f.c.id.label("fine_id"), f.c.bill_id, f.c.payment_id, f.c.amount, f.c.late_amount, f.c.months_late,
                f.c.reverses_id, f.c.recorded_at,
            ),
        ),
    }  # fmt: skip


def approved_runs(session: Session) -> list[tuple[int, int]]:
    """(run id, period ordinal) of approved billing runs, oldest first."""
    run = lt.billing_run
    rows = session.execute(select(run.c.id, run.c.period).where(run.c.status == "approved").order_by(run.c.id))
    return [(int(r.id), int(r.period)) for r in rows]


def run_lines(session: Session, run_id: int) -> pa.Table:
    """The contribution lines of one run, as Arrow (codes as integers; see rules.codes)."""
    bl = lt.bill_line
    return fetch_arrow(
        session,
        select(
            bl.c.id.label("line_id"), bl.c.run_id, bl.c.bill_id, bl.c.period, bl.c.cover_from, bl.c.cover_to,
            bl.c.membership_id, bl.c.project_id, lt.bill.c.account_id, bl.c.program, bl.c.payer, bl.c.kind,
            bl.c.seq, bl.c.entry, bl.c.amount, bl.c.rate, bl.c.basis, bl.c.citation_id,
        )
        .outerjoin(lt.bill, lt.bill.c.id == bl.c.bill_id)
        .where(bl.c.run_id == run_id)
        .order_by(bl.c.id),
    )  # fmt: skip


def bills_for_period(session: Session, *, period: Period) -> list[dict[str, Any]]:
    """Every unpaid bill of a month: virtual account, what it still asks, due date, and what the
    account owes in all (this and older bills, fines included) — what a statement would ask."""
    rows = bill_balances_of(session, bill_balances(session, None))
    account_owed: dict[int, int] = {}
    for r in rows:
        account_owed[r.account_id] = account_owed.get(r.account_id, 0) + max(r.outstanding, 0)
    current = [r for r in rows if r.period == period.ordinal and r.contribution_open > 0]
    holders = registry.account_holders(session, {r.account_id for r in current}) if current else {}
    return [
        {
            "bill_id": r.id,
            "va_number": holders[r.account_id]["va_number"],
            "owed": r.outstanding,
            "account_owed": account_owed[r.account_id],
            "due": r.due_date,
        }
        for r in current
    ]


def month_contributions(
    session: Session, *, period: Period, known_at: dt.datetime
) -> dict[int, tuple[int, dt.date | None]]:
    """Per membership: the net contribution billed for ``period`` (lines covering it, approved runs),
    and the last day money was allocated to the bills carrying it."""
    bl, al = lt.bill_line, lt.allocation
    p_ord = period.ordinal
    approved = approved_run_ids(known_at=known_at)
    nets = session.execute(
        select(bl.c.membership_id, func.sum(bl.c.amount).label("net"), func.max(bl.c.bill_id).label("bill_id"))
        .where(
            bl.c.run_id.in_(approved),
            bl.c.membership_id.is_not(None),
            bl.c.kind == c.CONTRIBUTION,
            bl.c.cover_from <= p_ord,
            bl.c.cover_to >= p_ord,
        )
        .group_by(bl.c.membership_id)
    ).all()
    bills = {int(r.bill_id) for r in nets if r.bill_id is not None}
    paid_on = (
        dict(
            session.execute(
                select(al.c.bill_id, func.max(al.c.effective_on))
                .where(al.c.target == "contribution", al.c.recorded_at <= known_at, in_accounts(al.c.bill_id, bills))
                .group_by(al.c.bill_id)
            ).all()
        )
        if bills
        else {}
    )
    return {
        int(r.membership_id): (max(int(r.net), 0), paid_on.get(int(r.bill_id)) if r.bill_id is not None else None)
        for r in nets
    }


FACTS: tuple[str, ...] = ("bills", "payments", "allocations", "fines")


def fact_chunk(session: Session, *, name: str, after: int, limit: int) -> pa.Table:
    """Up to ``limit`` rows of the ledger fact ``name`` (one of ``FACTS``) whose id is above ``after``, in id
    order: the exporter's watermark."""
    id_col, query = _fact_queries()[name]
    return fetch_arrow(session, query.where(id_col > after).order_by(id_col).limit(limit))

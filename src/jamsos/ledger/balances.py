"""What an account owes: its balance, the arrears by age and an account statement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jamsos.kernel.errors import NotFound
from jamsos.kernel.period import Period
from jamsos.ledger import domain as ld
from jamsos.ledger import tables as lt
from jamsos.ledger.repository import approved_run_ids, bill_balances, bill_balances_of, payment_balances
from jamsos.registry import service as registry
from jamsos.registry.domain import Scope
from jamsos.rules import deadlines


# ---- balances, arrears, statements -----------------------------------------------------------
def account_balance(session: Session, *, account_id: int) -> dict[str, int]:
    """Owed and credit of one account, derived two ways: from bills and from raw entries."""
    bills = bill_balances_of(session, bill_balances(session, {account_id}))
    owed = sum(b.owed for b in bills)
    over = sum(b.overpaid for b in bills)
    pays = session.execute(payment_balances(session, {account_id})).all()
    credit = sum(int(r.remaining) for r in pays)
    bl, fn, p = lt.bill_line, lt.fine, lt.payment
    billed = session.scalar(
        select(func.coalesce(func.sum(bl.c.amount), 0))
        .join(lt.bill, lt.bill.c.id == bl.c.bill_id)
        .where(lt.bill.c.account_id == account_id, bl.c.run_id.in_(approved_run_ids()))
    )
    fined = session.scalar(
        select(func.coalesce(func.sum(fn.c.amount), 0))
        .join(lt.bill, lt.bill.c.id == fn.c.bill_id)
        .where(lt.bill.c.account_id == account_id)
    )
    paid = session.scalar(select(func.coalesce(func.sum(p.c.amount), 0)).where(p.c.account_id == account_id))
    return {
        "owed": owed,
        "credit": credit + over,
        "net_from_bills": owed - credit - over,
        "net_from_entries": int(billed or 0) + int(fined or 0) - int(paid or 0),
    }


def arrears(
    session: Session, *, as_of: dt.date, scope: Scope, known_at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Unpaid contributions and fines past their due date, per account, aged in buckets of months overdue.

    One row per employer, BPU participant or sponsor in arrears: 0-1, 2-3, 4-6 and >6 months; only the
    accounts whose holders are within ``scope``.
    """
    rows = bill_balances_of(session, bill_balances(session, None, known_at).where(lt.bill.c.due_date < as_of))
    per: dict[int, dict[str, Any]] = {}
    for r in rows:
        owed = r.outstanding
        if owed <= 0:
            continue
        months = deadlines.months_late(r.due_date, as_of)
        entry = per.setdefault(
            int(r.account_id), {**dict.fromkeys(ld.BUCKETS, 0), "fines": 0, "total": 0, "bills": 0, "oldest": r.period}
        )
        entry[ld.bucket_of(months)] += owed
        entry["fines"] += r.fine_open
        entry["total"] += owed
        entry["bills"] += 1
        entry["oldest"] = min(entry["oldest"], r.period)
    if not scope.everything:
        at = known_at or dt.datetime.combine(as_of, dt.time.max)
        per = {
            k: v for k, v in per.items() if registry.account_in_scope(session, account_id=k, scope=scope, known_at=at)
        }
    if not per:
        return []
    who = registry.account_holders(session, set(per))
    out = []
    for account_id, entry in sorted(per.items(), key=lambda kv: -kv[1]["total"]):
        entry["oldest"] = str(Period.from_ordinal(entry["oldest"]))
        out.append({**who[account_id], **entry})
    return out


def statement(session: Session, *, va_number: str, scope: Scope, known_at: dt.datetime | None = None) -> dict[str, Any]:
    """An account's bills with what each asks and has received, its payments and its balance. An account
    whose holder is outside ``scope`` is not found (as if absent)."""
    account_id = registry.account_of_va(session, va_number)
    if not scope.everything and not registry.account_in_scope(
        session, account_id=account_id, scope=scope, known_at=known_at or dt.datetime.max
    ):
        raise NotFound(f"no account with virtual-account number {va_number}", va_number=va_number)
    bills = [
        {
            "bill_id": r.id,
            "period": str(Period.from_ordinal(r.period)),
            "segment": r.segment,
            "due_date": r.due_date.isoformat(),
            "contribution": r.contribution_due,
            "paid": r.contribution_paid,
            "fine": r.fine_due,
            "fine_paid": r.fine_paid,
            "outstanding": r.outstanding,
        }
        for r in bill_balances_of(session, bill_balances(session, {account_id}).order_by(lt.bill.c.period))
    ]
    p = lt.payment
    payments = [
        {"reference": r.reference, "amount": int(r.amount), "paid_on": r.paid_on.isoformat(), "channel": r.channel}
        for r in session.execute(select(p).where(p.c.account_id == account_id).order_by(p.c.paid_on, p.c.id))
    ]
    return {
        "va_number": va_number,
        "bills": bills,
        "payments": payments,
        **account_balance(session, account_id=account_id),
    }

"""The ledger's SQL: the queries and writes the use cases share (approved runs, balances per bill and per payment,
known payments, bills and citations written), and the Arrow-to-NumPy conversions of their columns."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import case, func, insert, literal, select
from sqlalchemy.orm import Session

from jamsos.infra.bulk import fetch_arrow, temporary_keys
from jamsos.kernel.errors import NotFound
from jamsos.kernel.period import Period
from jamsos.ledger import domain as ld
from jamsos.ledger import tables as lt
from jamsos.rules import codes as c


def approved_run_ids(period_ordinal: int | None = None, known_at: dt.datetime | None = None) -> Any:
    """Ids of approved runs (of one month; approved by ``known_at``, for as-of questions)."""
    q = select(lt.billing_run.c.id).where(lt.billing_run.c.status == "approved")
    if period_ordinal is not None:
        q = q.where(lt.billing_run.c.period == period_ordinal)
    if known_at is not None:
        q = q.where(lt.billing_run.c.decided_at <= known_at)
    return q


def codes_of(column: pa.ChunkedArray, choices: tuple[str, ...]) -> Any:
    idx = pc.index_in(column.cast(pa.string()), value_set=pa.array(choices))
    return pc.fill_null(idx, c.MISSING).to_numpy(zero_copy_only=False).astype(np.int8)


def ints_of(column: pa.ChunkedArray, dtype: Any = np.int64) -> Any:
    return pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False).astype(dtype)


def bools_of(column: pa.ChunkedArray) -> Any:
    return pc.fill_null(column.cast(pa.bool_()), False).to_numpy(zero_copy_only=False)


def subjects_billed_elsewhere(session: Session, period: Period, column: Any) -> set[int]:
    return set(
        session.scalars(
            select(column)
            .distinct()
            .where(
                column.is_not(None),
                lt.bill_line.c.period != period.ordinal,
                lt.bill_line.c.cover_to > lt.bill_line.c.period,  # upfront lines only
                lt.bill_line.c.run_id.in_(approved_run_ids()),
            )
        )
    )


def citation_ids(session: Session, citations: list[Any]) -> np.ndarray:
    rc = lt.rule_citation
    ids = []
    for cit in citations:
        key = dict(parameter=cit.parameter, start=str(cit.start), reference=cit.reference[:400], status=cit.status)
        found = session.scalar(select(rc.c.id).where(*(rc.c[k] == v for k, v in key.items())))
        if found is None:
            found = session.execute(insert(rc).values(**key).returning(rc.c.id)).scalar_one()
        ids.append(int(found))
    return np.array(ids or [0], dtype=np.int64)


def billed_net(session: Session, period: Period) -> pa.Table:
    """What approved runs billed for ``period``, net per (subject, program, payer, kind, seq)."""
    bl = lt.bill_line
    subject = func.coalesce(bl.c.membership_id, -bl.c.project_id)
    return fetch_arrow(
        session,
        select(
            subject.label("subject"),
            bl.c.program,
            bl.c.payer,
            bl.c.kind,
            bl.c.seq,
            func.sum(bl.c.amount).label("net"),
            func.max(bl.c.bill_id).label("bill_id"),
            func.max(bl.c.cover_to).label("cover_to"),
            func.max(bl.c.rate).label("rate"),
            func.max(bl.c.basis).label("basis"),
            func.max(bl.c.citation_id).label("citation_id"),
        )
        .where(bl.c.period == period.ordinal, bl.c.run_id.in_(approved_run_ids(period.ordinal)))
        .group_by(subject, bl.c.program, bl.c.payer, bl.c.kind, bl.c.seq),
    )


def masked_ints(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=np.asarray(mask, dtype=bool))


def run_row(session: Session, run_id: int) -> Any:
    row = session.execute(select(lt.billing_run).where(lt.billing_run.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no billing run {run_id}", run_id=run_id)
    return row


def known_payments(session: Session, refs: list[str]) -> dict[str, tuple[int, int, dt.date]]:
    """Payments already posted under any of ``refs``: reference → (account, amount, paid_on)."""
    p = lt.payment
    out: dict[str, tuple[int, int, dt.date]] = {}
    if len(refs) <= 5000:
        query = select(p.c.reference, p.c.account_id, p.c.amount, p.c.paid_on).where(p.c.reference.in_(refs))
    else:  # one join against the file's references, loaded set-based into a temporary table
        incoming = temporary_keys(session, "incoming_reference", refs)
        query = select(p.c.reference, p.c.account_id, p.c.amount, p.c.paid_on).join(
            incoming, incoming.c.key == p.c.reference
        )
    for r in session.execute(query):
        out[r.reference] = (int(r.account_id), int(r.amount), r.paid_on)
    return out


def in_accounts(column: Any, account_ids: set[int] | None) -> Any:
    if account_ids is None or len(account_ids) > 20000:
        return literal(True)
    return column.in_(sorted(account_ids))


def bill_balances(session: Session, account_ids: set[int] | None, known_at: dt.datetime | None = None) -> Any:
    """Per bill: contribution due (approved lines), contribution and fine paid, fines charged."""
    bl, al, fn, b = lt.bill_line, lt.allocation, lt.fine, lt.bill
    approved = approved_run_ids()
    due = (
        select(bl.c.bill_id, func.sum(bl.c.amount).label("due"))
        .where(bl.c.bill_id.is_not(None), bl.c.run_id.in_(approved))
        .group_by(bl.c.bill_id)
        .subquery()
    )
    alloc_q = select(
        al.c.bill_id,
        func.sum(case((al.c.target == "contribution", al.c.amount), else_=0)).label("paid"),
        func.sum(case((al.c.target == "fine", al.c.amount), else_=0)).label("fine_paid"),
    )
    fine_q = select(fn.c.bill_id, func.sum(fn.c.amount).label("fine_due"))
    if known_at is not None:
        alloc_q = alloc_q.where(al.c.recorded_at <= known_at)
        fine_q = fine_q.where(fn.c.recorded_at <= known_at)
    paid = alloc_q.group_by(al.c.bill_id).subquery()
    fines = fine_q.group_by(fn.c.bill_id).subquery()
    return (
        select(
            b.c.id,
            b.c.account_id,
            b.c.period,
            b.c.segment,
            b.c.due_date,
            b.c.fines,
            func.coalesce(due.c.due, 0).label("due"),
            func.coalesce(paid.c.paid, 0).label("paid"),
            func.coalesce(fines.c.fine_due, 0).label("fine_due"),
            func.coalesce(paid.c.fine_paid, 0).label("fine_paid"),
        )
        .join(due, due.c.bill_id == b.c.id, isouter=True)
        .join(paid, paid.c.bill_id == b.c.id, isouter=True)
        .join(fines, fines.c.bill_id == b.c.id, isouter=True)
        .where(in_accounts(b.c.account_id, account_ids))
    )


def payment_balances(session: Session, account_ids: set[int] | None) -> Any:
    p, al = lt.payment, lt.allocation
    used = select(al.c.payment_id, func.sum(al.c.amount).label("used")).group_by(al.c.payment_id).subquery()
    reversed_ = select(p.c.reverses_id).where(p.c.reverses_id.is_not(None))
    return (
        select(p.c.id, p.c.account_id, p.c.paid_on, (p.c.amount - func.coalesce(used.c.used, 0)).label("remaining"))
        .join(used, used.c.payment_id == p.c.id, isouter=True)
        .where(p.c.reverses_id.is_(None), p.c.id.not_in(reversed_), in_accounts(p.c.account_id, account_ids))
    )


def bill_balances_of(session: Session, query: Any, scope: set[int] | None = None) -> list[ld.BillBalance]:
    """The rows of a ``bill_balances`` query (filtered or ordered further by the caller) as bill balances; only
    the accounts in ``scope`` when given (the query's own filter skips a long list of accounts). Fetched as Arrow
    columns: a row at a time through SQLAlchemy costs several times more at a national month's bills."""
    table = fetch_arrow(session, query)
    names = ("id", "account_id", "period", "segment", "due_date", "fines", "due", "paid", "fine_due", "fine_paid")
    return [
        ld.BillBalance(i, a, p, sg, dd, bool(f), du, pd, fd, fp)
        for i, a, p, sg, dd, f, du, pd, fd, fp in zip(*(table[n].to_pylist() for n in names), strict=True)
        if scope is None or a in scope
    ]

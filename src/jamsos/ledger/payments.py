"""Payments: bank files posted idempotently (a repeated file changes nothing), money allocated to the oldest open
bills with the fines of late payment, overpayments released as credit, and reversals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jamsos.infra.bulk import bulk_insert, fetch_arrow
from jamsos.infra.files import TableFile
from jamsos.kernel import limits
from jamsos.kernel.errors import FieldProblem, InvalidInput, NotFound, Problems
from jamsos.kernel.period import Period
from jamsos.ledger import domain as ld
from jamsos.ledger import tables as lt
from jamsos.ledger.errors import PaymentConflict
from jamsos.ledger.repository import bill_balances, bill_balances_of, citation_ids, known_payments, payment_balances
from jamsos.registry import service as registry
from jamsos.registry.domain import Scope
from jamsos.rules import deadlines
from jamsos.rules.formulas import Citation
from jamsos.rules.tree import ParameterTree


# ---- payments and allocation -----------------------------------------------------------------
@dataclass
class ImportSummary:
    file: str
    rows: int
    posted: int
    already_posted: int
    amount: int
    allocations: int
    fines: int
    fine_amount: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


PAYMENT_COLUMNS = ("reference", "va_number", "amount", "paid_on")


def import_payments(
    session: Session,
    *,
    table: TableFile,
    tree: ParameterTree,
    recorded_at: dt.datetime,
    recorded_by: str,
    scope: Scope,
) -> ImportSummary:
    """Post a bank / virtual-account file (reference, va_number, amount, paid_on[, channel]) and allocate it.

    Validated whole; each reference is posted once, so importing a file again changes nothing;
    a known reference with a different account, amount or date is a conflict, not a silent skip.
    """
    registry.require_everything(scope, "a payment file")
    table.require(PAYMENT_COLUMNS)
    problems: list[FieldProblem] = Problems()
    refs: list[str] = []
    vas: list[str] = []
    amounts: list[int] = []
    dates: list[dt.date] = []
    channels: list[str] = []
    rownums: list[int] = []
    seen: dict[str, int] = {}
    accounts = registry.account_ids_by_va(session, sorted({row["va_number"] for _, row in table.rows}))
    for number, row in table.rows:
        ref = row["reference"]
        ok = True
        if row["va_number"] not in accounts:
            problems.append(
                FieldProblem(
                    "va_number", "no account has this virtual-account number", row=number, value=row["va_number"]
                )
            )
            ok = False
        if not ref or len(ref) > 64:
            problems.append(FieldProblem("reference", "must be 1 to 64 characters", row=number, value=ref))
            ok = False
        elif ref.upper().startswith(REVERSAL_PREFIX):
            problems.append(
                FieldProblem("reference", f"{REVERSAL_PREFIX} is reserved for reversals", row=number, value=ref)
            )
            ok = False
        elif ref in seen:
            problems.append(
                FieldProblem("reference", f"appears twice (first on row {seen[ref]})", row=number, value=ref)
            )
            ok = False
        seen.setdefault(ref, number)
        amount_text = row["amount"]
        if not limits.is_ascii_number(amount_text, 13) or not 0 < int(amount_text) <= limits.MAX_PAYMENT:
            problems.append(
                FieldProblem(
                    "amount",
                    f"must be a whole number of rupiah from 1 to {limits.MAX_PAYMENT:,}",
                    row=number,
                    value=amount_text,
                )
            )
            ok = False
        if len(row.get("channel") or "") > 40:
            problems.append(FieldProblem("channel", "at most 40 characters", row=number))
            ok = False
        try:
            paid_on = dt.date.fromisoformat(row["paid_on"])
            if paid_on > recorded_at.date():
                problems.append(FieldProblem("paid_on", "is in the future", row=number, value=row["paid_on"]))
                ok = False
            elif paid_on < limits.EARLIEST_RECORD:
                problems.append(
                    FieldProblem("paid_on", f"is before {limits.EARLIEST_RECORD}", row=number, value=row["paid_on"])
                )
                ok = False
        except ValueError:
            problems.append(FieldProblem("paid_on", "must be a date YYYY-MM-DD", row=number, value=row["paid_on"]))
            ok = False
        if ok:
            refs.append(ref)
            vas.append(row["va_number"])
            amounts.append(int(amount_text))
            dates.append(paid_on)
            channels.append(row.get("channel") or "va")
            rownums.append(number)
    account_ids = [accounts[va] for va in vas]
    known = known_payments(session, refs)
    fresh = []
    for i, ref in enumerate(refs):
        old = known.get(ref)
        if old is None:
            fresh.append(i)
        elif (old[0], old[1], old[2]) != (account_ids[i], amounts[i], dates[i]):
            problems.append(
                FieldProblem(
                    "reference", "already posted with a different account, amount or date", row=rownums[i], value=ref
                )
            )
    if problems:
        raise InvalidInput(problems)
    import_id = session.execute(
        insert(lt.payment_import)
        .values(
            filename=table.name,
            sha256=table.sha256,
            rows=len(table.rows),
            posted=len(fresh),
            recorded_at=recorded_at,
            recorded_by=recorded_by,
        )
        .returning(lt.payment_import.c.id)
    ).scalar_one()
    if fresh:
        bulk_insert(
            session,
            lt.payment,
            {
                "reference": [refs[i] for i in fresh],
                "account_id": [account_ids[i] for i in fresh],
                "amount": [amounts[i] for i in fresh],
                "paid_on": [dates[i] for i in fresh],
                "channel": [channels[i][:40] for i in fresh],
                "import_id": [import_id] * len(fresh),
                "recorded_at": [recorded_at] * len(fresh),
            },
        )
    touched = {int(account_ids[i] or 0) for i in fresh}
    result = allocate(session, tree=tree, recorded_at=recorded_at, account_ids=touched) if touched else _empty_alloc()
    return ImportSummary(
        table.name,
        len(table.rows),
        len(fresh),
        len(refs) - len(fresh),
        sum(amounts[i] for i in fresh),
        result["allocations"],
        result["fines"],
        result["fine_amount"],
    )


def _empty_alloc() -> dict[str, int]:
    return {"allocations": 0, "fines": 0, "fine_amount": 0, "released": 0}


def allocate(
    session: Session, *, tree: ParameterTree, recorded_at: dt.datetime, account_ids: Iterable[int] | None = None
) -> dict[str, int]:
    """Allocate unallocated money of the accounts (all when None) to their oldest open bills.

    First releases money allocated beyond what a corrected bill now asks, so that it becomes credit.
    """
    scope = set(account_ids) if account_ids is not None else None
    balances = bill_balances_of(session, bill_balances(session, scope), scope)
    over = [(b.id, b.overpaid) for b in balances if b.overpaid]
    released = _release_overpaid(session, over, recorded_at)
    if released:
        balances = bill_balances_of(session, bill_balances(session, scope), scope)
    bills = [b for b in balances if b.outstanding > 0]
    if not bills:
        return {**_empty_alloc(), "released": released}
    open_accounts = {b.account_id for b in bills}
    pays = fetch_arrow(session, payment_balances(session, scope))
    payments = [
        ld.OpenPayment(pid, acct, paid_on, remaining)
        for pid, acct, paid_on, remaining in zip(*(pays[c].to_pylist() for c in pays.column_names), strict=True)
        if remaining > 0 and acct in open_accounts
    ]
    fine_param = tree["deadlines.fine_rate_per_month"]
    citation_cache: dict[tuple[str, str], int] = {}

    def fine_for(b: ld.BillBalance, amount: int, paid_on: dt.date) -> tuple[int, int]:
        f = deadlines.fine(b.segment, Period.from_ordinal(b.period), amount, paid_on, tree)
        return f.amount, f.months_late

    result = ld.allocate(bills, payments, fine_for)
    if result.fines:
        period_of = {b.id: b.period for b in bills}
        cites = []
        for f in result.fines:
            pv = fine_param.require(Period.from_ordinal(period_of[f.bill_id]))
            key = (pv.start.isoformat(), pv.reference)
            if key not in citation_cache:
                citation_cache[key] = int(
                    citation_ids(session, [Citation(fine_param.path, pv.start.isoformat(), pv.reference, pv.status)])[0]
                )
            cites.append(citation_cache[key])
        bulk_insert(
            session,
            lt.fine,
            {
                "bill_id": [f.bill_id for f in result.fines],
                "payment_id": [f.payment_id for f in result.fines],
                "amount": [f.amount for f in result.fines],
                "late_amount": [f.late_amount for f in result.fines],
                "months_late": [f.months_late for f in result.fines],
                "citation_id": cites,
                "recorded_at": [recorded_at] * len(result.fines),
            },
        )
    a = result.allocations
    if a:
        bulk_insert(
            session,
            lt.allocation,
            {
                "payment_id": [x.payment_id for x in a],
                "bill_id": [x.bill_id for x in a],
                "target": [x.target for x in a],
                "amount": [x.amount for x in a],
                "effective_on": [x.effective_on for x in a],
                "recorded_at": [recorded_at] * len(a),
            },
        )
    return {
        "allocations": len(a),
        "fines": len(result.fines),
        "fine_amount": sum(f.amount for f in result.fines),
        "released": released,
    }


def _release_overpaid(session: Session, over: list[tuple[int, int]], recorded_at: dt.datetime) -> int:
    """Reverse the latest contribution allocations of bills paid beyond what they now ask
    (``over``: bill id and excess)."""
    if not over:
        return 0
    al = lt.allocation
    reversed_ids = select(al.c.reverses_id).where(al.c.reverses_id.is_not(None))
    rows: dict[str, list[Any]] = {
        k: [] for k in ("payment_id", "bill_id", "target", "amount", "effective_on", "reverses_id", "recorded_at")
    }
    total = 0
    for bill_id, excess in over:
        allocs = session.execute(
            select(al.c.id, al.c.payment_id, al.c.amount, al.c.effective_on)
            .where(
                al.c.bill_id == bill_id, al.c.target == "contribution", al.c.amount > 0, al.c.id.not_in(reversed_ids)
            )
            .order_by(al.c.id.desc())
        ).all()
        for a in allocs:
            if excess <= 0:
                break
            take = min(excess, int(a.amount))
            for k, v in (
                ("payment_id", a.payment_id),
                ("bill_id", bill_id),
                ("target", "contribution"),
                ("amount", -take),
                ("effective_on", a.effective_on),
                ("reverses_id", a.id),
                ("recorded_at", recorded_at),
            ):
                rows[k].append(v)
            excess -= take
            total += take
    bulk_insert(session, al, rows)
    return total


def reverse_payment(
    session: Session, *, reference: str, reason: str, tree: ParameterTree, recorded_at: dt.datetime, scope: Scope
) -> dict[str, Any]:
    """Reverse a posted payment (a bank recall): the payment, its allocations and the fines it caused
    are each negated by a new entry; the account is then re-allocated."""
    registry.require_everything(scope, "a payment reversal")
    p, al, fn = lt.payment, lt.allocation, lt.fine
    # The payment's row is locked first: a second reversal of it waits here, then finds the first one.
    row = session.execute(select(p).where(p.c.reference == reference).with_for_update()).first()
    if row is None:
        raise NotFound(f"no payment with reference {reference}", reference=reference)
    if row.reverses_id is not None or session.scalar(select(p.c.id).where(p.c.reverses_id == row.id)) is not None:
        raise PaymentConflict(f"payment {reference} is a reversal or already reversed", reference=reference)
    rev_id = session.execute(
        insert(p)
        .values(
            reference=reversal_reference(int(row.id)),
            account_id=row.account_id,
            amount=-row.amount,
            paid_on=recorded_at.date(),
            channel=f"reversal: {reason}"[:40],
            reverses_id=row.id,
            recorded_at=recorded_at,
        )
        .returning(p.c.id)
    ).scalar_one()
    reversed_allocs = select(al.c.reverses_id).where(al.c.reverses_id.is_not(None))
    allocs = session.execute(
        select(al).where(al.c.payment_id == row.id, al.c.amount > 0, al.c.id.not_in(reversed_allocs))
    ).all()
    partial = {
        r.reverses_id: -int(r.amount)
        for r in session.execute(
            select(al.c.reverses_id, al.c.amount).where(al.c.payment_id == row.id, al.c.amount < 0)
        )
    }
    for a in allocs:
        left = int(a.amount) - partial.get(a.id, 0)
        if left > 0:
            session.execute(
                insert(al).values(
                    payment_id=row.id,
                    bill_id=a.bill_id,
                    target=a.target,
                    amount=-left,
                    effective_on=recorded_at.date(),
                    reverses_id=a.id,
                    recorded_at=recorded_at,
                )
            )
    for f in session.execute(select(fn).where(fn.c.payment_id == row.id, fn.c.reverses_id.is_(None))).all():
        session.execute(
            insert(fn).values(
                bill_id=f.bill_id,
                payment_id=rev_id,
                amount=-f.amount,
                late_amount=-f.late_amount,
                months_late=f.months_late,
                citation_id=f.citation_id,
                reverses_id=f.id,
                recorded_at=recorded_at,
            )
        )
    result = allocate(session, tree=tree, recorded_at=recorded_at, account_ids={int(row.account_id)})
    return {"reference": reference, "reversal": reversal_reference(int(row.id)), "amount": -int(row.amount), **result}


REVERSAL_PREFIX = "REV:"


def reversal_reference(payment_id: int) -> str:
    """A reversal's own reference, from the payment it reverses (each is reversed at most once); bank files may
    not use the prefix, so it never collides with a posted reference, however long or odd that one is."""
    return f"{REVERSAL_PREFIX}{payment_id}"

"""The checker's side of a billing run: approve (four eyes, then allocation), reject, the run's report and the list
of runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jamsos.kernel.names import person_key, same_person
from jamsos.kernel.period import Period
from jamsos.ledger import tables as lt
from jamsos.ledger.errors import FourEyes, RunNotPending
from jamsos.ledger.payments import allocate
from jamsos.ledger.repository import run_row
from jamsos.registry import service as registry
from jamsos.registry.domain import Scope
from jamsos.rules.tree import ParameterTree


def approve_run(
    session: Session, *, run_id: int, checker: str, tree: ParameterTree, decided_at: dt.datetime, scope: Scope
) -> dict[str, Any]:
    """The second person's approval (maker–checker): the run's lines become final and are allocated."""
    registry.require_everything(scope, "deciding on a billing run")
    run = run_row(session, run_id)
    if run.status != "draft":
        raise RunNotPending(f"billing run {run_id} is {run.status}, not a draft awaiting approval", run_id=run_id)
    if not same_person_possible(checker) or same_person(checker, run.maker):
        raise FourEyes(f"billing run {run_id} was made by {run.maker}; another person must approve it", run_id=run_id)
    _decide(session, run_id, status="approved", checker=checker, decided_at=decided_at)
    accounts = set(
        session.scalars(
            select(lt.bill.c.account_id)
            .distinct()
            .join(lt.bill_line, lt.bill_line.c.bill_id == lt.bill.c.id)
            .where(lt.bill_line.c.run_id == run_id)
        )
    )
    allocated = allocate(session, tree=tree, recorded_at=decided_at, account_ids=accounts)
    return {"run_id": run_id, "status": "approved", "checker": checker, **allocated}


def reject_run(session: Session, *, run_id: int, checker: str, decided_at: dt.datetime, scope: Scope) -> dict[str, Any]:
    registry.require_everything(scope, "deciding on a billing run")
    run = run_row(session, run_id)
    if run.status != "draft":
        raise RunNotPending(f"billing run {run_id} is {run.status}, not a draft awaiting approval", run_id=run_id)
    if not same_person_possible(checker) or same_person(checker, run.maker):
        raise FourEyes(f"billing run {run_id} was made by {run.maker}; another person must decide on it", run_id=run_id)
    _decide(session, run_id, status="rejected", checker=checker, decided_at=decided_at)
    return {"run_id": run_id, "status": "rejected", "checker": checker}


def same_person_possible(name: str) -> bool:
    """A checker must be named (and by letters a person can tell apart: see the command line's --user)."""
    return bool(person_key(name))


def _decide(session: Session, run_id: int, *, status: str, checker: str, decided_at: dt.datetime) -> None:
    """Move a draft to ``status``, atomically: of two checkers deciding at once, the second finds no draft (on
    PostgreSQL its UPDATE waits for the first to commit and then matches nothing) and is told so."""
    done = session.execute(
        update(lt.billing_run)
        .where(lt.billing_run.c.id == run_id, lt.billing_run.c.status == "draft")
        .values(status=status, checker=checker, decided_at=decided_at)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RunNotPending(f"billing run {run_id} was decided by someone else just now", run_id=run_id)


def run_report(
    session: Session, *, run_id: int, scope: Scope, limit: int = 1000, known_at: dt.datetime | None = None
) -> dict[str, Any]:
    """A run and its exception list; exceptions about memberships outside ``scope`` are left out."""
    run = run_row(session, run_id)
    ex = lt.billing_exception
    rows = [
        dict(r)
        for r in session.execute(
            select(ex.c.membership_id, ex.c.project_id, ex.c.code, ex.c.message)
            .where(ex.c.run_id == run_id)
            .order_by(ex.c.id)
            .limit(limit)
        ).mappings()
    ]
    if not scope.everything:
        at = known_at or dt.datetime.max
        rows = [
            r
            for r in rows
            if r["membership_id"]
            and registry.membership_in_scope(session, membership_id=r["membership_id"], scope=scope, known_at=at)
        ]
    labels = registry.membership_labels(session, [r["membership_id"] for r in rows if r["membership_id"]])
    for r in rows:
        r |= labels.get(r["membership_id"], {"nik": None, "npp": None})
    info = dict(run._mapping)
    info["period"] = str(Period.from_ordinal(info["period"]))
    return {**info, "exception_list": rows}


def list_runs(session: Session, *, period: Period | None = None) -> list[dict[str, Any]]:
    q = select(lt.billing_run).order_by(lt.billing_run.c.id)
    if period is not None:
        q = q.where(lt.billing_run.c.period == period.ordinal)
    out = []
    for r in session.execute(q).mappings():
        row = dict(r)
        row["period"] = str(Period.from_ordinal(row["period"]))
        out.append(row)
    return out

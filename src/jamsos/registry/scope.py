"""Row scope, decided here once for every edge: which workers, employers, memberships, accounts and regencies an
actor's scope reaches. Absent and out of scope answer the same NotFound; a regency outside it answers Forbidden."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, false, or_, select, true
from sqlalchemy.orm import Session

from jamsos.kernel.errors import Forbidden, NotFound
from jamsos.registry import domain as d
from jamsos.registry import tables as t
from jamsos.registry.repository import version_of, versions_as_of


def worker_condition(scope: d.Scope, known_at: dt.datetime) -> Any:
    """A condition on ``worker`` rows: the worker is within ``scope`` (lives in, or works for an employer of,
    one of its branches; works for its employer; is its worker)."""
    w, m, e = t.worker, t.membership, t.employer
    if scope.everything:
        return true()
    if scope.nik is not None:
        return w.c.nik == scope.nik
    if scope.npp is not None:
        return exists(
            select(m.c.id).join(e, e.c.id == m.c.employer_id).where(m.c.worker_id == w.c.id, e.c.npp == scope.npp)
        )
    branches = sorted(scope.branches or ())
    wv = versions_as_of(t.worker_version, "worker_id", known_at.date(), known_at)
    ev = versions_as_of(t.employer_version, "employer_id", known_at.date(), known_at)
    br = t.branch_regency
    lives = exists(
        select(wv.c.worker_id)
        .join(br, br.c.regency_code == wv.c.regency_code)
        .where(wv.c.worker_id == w.c.id, br.c.branch_code.in_(branches))
    )
    works = exists(
        select(m.c.id)
        .join(ev, ev.c.employer_id == m.c.employer_id)
        .where(m.c.worker_id == w.c.id, ev.c.branch_code.in_(branches))
    )
    return or_(lives, works)


def employer_condition(scope: d.Scope, known_at: dt.datetime) -> Any:
    """A condition on ``employer`` rows: the employer is within ``scope``."""
    e = t.employer
    if scope.everything:
        return true()
    if scope.npp is not None:
        return e.c.npp == scope.npp
    if scope.nik is not None:
        return false()
    ev = versions_as_of(t.employer_version, "employer_id", known_at.date(), known_at)
    return exists(
        select(ev.c.employer_id).where(ev.c.employer_id == e.c.id, ev.c.branch_code.in_(sorted(scope.branches or ())))
    )


def visible_row(session: Session, table: Any, row_id: int, condition: Any) -> bool:
    return bool(session.scalar(select(exists().where(table.c.id == row_id, condition))))


def worker_seen(session: Session, worker_id: int, scope: d.Scope, known_at: dt.datetime) -> bool:
    """``worker_condition`` for one worker, as direct lookups by the worker's id (each filter is on the
    key the version subqueries are partitioned by, so the database reads only this worker's rows)."""
    if scope.everything:
        return True
    if scope.branches is None:
        return visible_row(session, t.worker, worker_id, worker_condition(scope, known_at))
    version = version_of(session, t.worker_version, "worker_id", worker_id, known_at.date(), known_at)
    regency = version.regency_code if version is not None else None
    br = t.branch_regency
    if (
        regency is not None
        and session.scalar(select(br.c.branch_code).where(br.c.regency_code == regency)) in scope.branches
    ):
        return True
    employers = session.scalars(
        select(t.membership.c.employer_id).where(
            t.membership.c.worker_id == worker_id, t.membership.c.employer_id.is_not(None)
        )
    ).all()
    return any(employer_seen(session, int(e), scope, known_at) for e in set(employers))


def employer_seen(session: Session, employer_id: int, scope: d.Scope, known_at: dt.datetime) -> bool:
    if scope.everything:
        return True
    if scope.branches is None:
        return visible_row(session, t.employer, employer_id, employer_condition(scope, known_at))
    version = version_of(session, t.employer_version, "employer_id", employer_id, known_at.date(), known_at)
    return version is not None and version.branch_code in scope.branches


def regency_in_scope(session: Session, *, regency_code: str, scope: d.Scope) -> bool:
    """Whether a regency belongs to one of the scope's branches (always, for an unlimited scope)."""
    if scope.everything:
        return True
    if scope.branches is None:
        return False
    branch = session.scalar(
        select(t.branch_regency.c.branch_code).where(t.branch_regency.c.regency_code == regency_code)
    )
    return branch in scope.branches


def require_regency(session: Session, *, regency_code: str, scope: d.Scope) -> None:
    """A registration or move into ``regency_code`` needs it among the scope's regencies (reference data is
    public, so this is Forbidden, not NotFound)."""
    if not regency_in_scope(session, regency_code=regency_code, scope=scope):
        raise Forbidden(f"regency {regency_code} is outside your branch", regency=regency_code)


def require_everything(scope: d.Scope, what: str) -> None:
    """An action on the whole store (billing runs, payment files, bulk imports) needs an unlimited scope."""
    if not scope.everything:
        raise Forbidden(f"{what} is for head office and administrators")


def visible_worker(session: Session, *, nik: str, scope: d.Scope, known_at: dt.datetime) -> tuple[int, str]:
    """(worker id, KPJ) of a NIK within ``scope``; absent and out of scope answer the same ``NotFound``."""
    row = session.execute(select(t.worker.c.id, t.worker.c.kpj).where(t.worker.c.nik == nik)).first()
    if row is None or not worker_seen(session, int(row[0]), scope, known_at):
        raise NotFound(f"no worker with NIK {nik}", nik=nik)
    return int(row[0]), str(row[1])


def visible_employer(session: Session, *, npp: str, scope: d.Scope, known_at: dt.datetime) -> int:
    """The id of an employer within ``scope``; absent and out of scope answer the same ``NotFound``."""
    found = session.scalar(select(t.employer.c.id).where(t.employer.c.npp == npp))
    if found is None or not employer_seen(session, int(found), scope, known_at):
        raise NotFound(f"no employer with NPP {npp}", npp=npp)
    return int(found)


def visible_membership(session: Session, *, membership_id: int, scope: d.Scope, known_at: dt.datetime) -> None:
    """A membership within ``scope``; absent and out of scope answer the same ``NotFound``."""
    if not membership_in_scope(session, membership_id=membership_id, scope=scope, known_at=known_at):
        raise NotFound(f"no membership {membership_id}", membership_id=membership_id)


def worker_visible(session: Session, *, nik: str, scope: d.Scope, known_at: dt.datetime) -> bool:
    found = session.scalar(select(t.worker.c.id).where(t.worker.c.nik == nik))
    return found is not None and worker_seen(session, int(found), scope, known_at)


def employer_visible(session: Session, *, npp: str, scope: d.Scope, known_at: dt.datetime) -> bool:
    found = session.scalar(select(t.employer.c.id).where(t.employer.c.npp == npp))
    return found is not None and employer_seen(session, int(found), scope, known_at)


def account_in_scope(session: Session, *, account_id: int, scope: d.Scope, known_at: dt.datetime) -> bool:
    """Whether the holder of an account (employer, participant or sponsor) is within ``scope``."""
    if scope.everything:
        return True
    w, e, sp = t.worker, t.employer, t.sponsor
    worker_id = session.scalar(select(w.c.id).where(w.c.account_id == account_id))
    if worker_id is not None:
        return worker_seen(session, int(worker_id), scope, known_at)
    employer = session.scalar(select(e.c.id).where(e.c.account_id == account_id))
    if employer is not None:
        return employer_seen(session, int(employer), scope, known_at)
    regency = session.scalar(select(sp.c.regency_code).where(sp.c.account_id == account_id))
    if scope.branches is None or regency is None:
        return False
    branch = session.scalar(select(t.branch_regency.c.branch_code).where(t.branch_regency.c.regency_code == regency))
    return branch in scope.branches


def membership_in_scope(session: Session, *, membership_id: int, scope: d.Scope, known_at: dt.datetime) -> bool:
    """An employer sees the memberships at its own NPP; other scopes see the memberships of the workers
    they see."""
    m, e = t.membership, t.employer
    if scope.everything:
        return session.scalar(select(m.c.id).where(m.c.id == membership_id)) is not None
    row = session.execute(
        select(m.c.worker_id, e.c.npp).outerjoin(e, e.c.id == m.c.employer_id).where(m.c.id == membership_id)
    ).first()
    if row is None:
        return False
    if scope.npp is not None:
        return bool(row.npp == scope.npp)
    return worker_seen(session, int(row.worker_id), scope, known_at)

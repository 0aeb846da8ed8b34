"""Reference lookups (sectors' risk classes, branches, Kanwil, regencies, minimum wages) and the lookups other
contexts use: they never read registry tables themselves."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jamsos.infra.bulk import temporary_keys
from jamsos.kernel.errors import FieldProblem, InvalidInput, NotFound
from jamsos.kernel.period import Period
from jamsos.registry import tables as t
from jamsos.registry.errors import ReferenceMissing


# ---- reference lookups -----------------------------------------------------------------------
@lru_cache(maxsize=1)
def sector_risk_classes() -> dict[str, str]:
    """KBLI section → JKK risk class (bundled, illustrative grouping of PP 82/2019 Lampiran I; unverified)."""
    text = resources.files("jamsos.registry").joinpath("data", "sector_risk_class.csv").read_text("utf-8")
    return {row["sector"]: row["risk_class"] for row in csv.DictReader(io.StringIO(text))}


def branch_of(session: Session, regency_code: str) -> str:
    branch = session.scalar(
        select(t.branch_regency.c.branch_code).where(t.branch_regency.c.regency_code == regency_code)
    )
    if branch is None:
        if not session.scalar(select(func.count()).select_from(t.branch_regency)):
            raise ReferenceMissing("reference data is not loaded: run `jamsos reference load`")
        raise InvalidInput([FieldProblem("regency_code", "unknown regency (no branch serves it)", value=regency_code)])
    return str(branch)


def known_provinces(session: Session) -> set[str]:
    return set(session.scalars(select(t.province.c.code)))


def known_regencies(session: Session) -> set[str]:
    return set(session.scalars(select(t.regency.c.code)))


def branch_kanwil(session: Session, branch_code: str) -> str:
    """The Kanwil of a branch (NotFound when the office map has no such branch)."""
    found = session.scalar(select(t.branch.c.kanwil_code).where(t.branch.c.code == branch_code))
    if found is None:
        raise NotFound(f"no branch {branch_code} in the office map", branch=branch_code)
    return str(found)


def branches_of_kanwil(session: Session, kanwil_code: str) -> frozenset[str]:
    rows = session.scalars(select(t.branch.c.code).where(t.branch.c.kanwil_code == kanwil_code)).all()
    if not rows:
        raise NotFound(f"no Kanwil {kanwil_code} in the office map", kanwil=kanwil_code)
    return frozenset(rows)


def minimum_wages(session: Session, *, month: Period) -> dict[str, int]:
    """Provincial minimum wage in force on the first day of ``month``, per province code."""
    mw = t.minimum_wage
    rows = session.execute(
        select(mw.c.province_code, mw.c.amount).where(mw.c.valid_from <= month.first_day).order_by(mw.c.valid_from)
    )
    return {r.province_code: int(r.amount) for r in rows}


def account_ids_by_va(session: Session, va_numbers: list[str]) -> dict[str, int]:
    """Account id of each known virtual-account number among ``va_numbers``."""
    a = t.account
    if len(va_numbers) <= 5000:
        query = select(a.c.va_number, a.c.id).where(a.c.va_number.in_(va_numbers))
    else:
        wanted = temporary_keys(session, "incoming_va", va_numbers)
        query = select(a.c.va_number, a.c.id).join(wanted, wanted.c.key == a.c.va_number)
    return {va: int(i) for va, i in session.execute(query)}


def account_of_va(session: Session, va_number: str) -> int:
    found = session.scalar(select(t.account.c.id).where(t.account.c.va_number == va_number))
    if found is None:
        raise NotFound(f"no account with virtual-account number {va_number}", va_number=va_number)
    return int(found)


def account_holders(session: Session, account_ids: set[int]) -> dict[int, dict[str, Any]]:
    """Who holds each account: virtual account, kind, and NPP, KPJ or sponsor code."""
    a, e, w, s = t.account, t.employer, t.worker, t.sponsor
    query = (
        select(a.c.id, a.c.va_number, a.c.kind, e.c.npp, w.c.kpj, s.c.code.label("sponsor"))
        .outerjoin(e, e.c.account_id == a.c.id)
        .outerjoin(w, w.c.account_id == a.c.id)
        .outerjoin(s, s.c.account_id == a.c.id)
    )
    if len(account_ids) <= 20000:
        query = query.where(a.c.id.in_(sorted(account_ids)))
    return {
        int(r.id): {"va_number": r.va_number, "kind": r.kind, "holder": r.npp or r.kpj or r.sponsor}
        for r in session.execute(query)
        if int(r.id) in account_ids
    }


def membership_labels(session: Session, membership_ids: list[int]) -> dict[int, dict[str, Any]]:
    """NIK and NPP of memberships, for exception lists."""
    m, w, e = t.membership, t.worker, t.employer
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(membership_ids), 5000):
        chunk = membership_ids[start : start + 5000]
        for r in session.execute(
            select(m.c.id, w.c.nik, e.c.npp)
            .join(w, w.c.id == m.c.worker_id)
            .outerjoin(e, e.c.id == m.c.employer_id)
            .where(m.c.id.in_(chunk))
        ):
            out[int(r.id)] = {"nik": r.nik, "npp": r.npp}
    return out


def worker_niks(session: Session, worker_ids: Iterable[int]) -> dict[int, str]:
    """The NIK of each worker id (ids with no worker are left out)."""
    ids = sorted(set(worker_ids))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        out.update(
            (int(r.id), str(r.nik))
            for r in session.execute(select(t.worker.c.id, t.worker.c.nik).where(t.worker.c.id.in_(chunk)))
        )
    return out

"""Workers: registration by NIK (one person, one record), the worker's profile and condition on a day, and likely
duplicates (the same person under two NIKs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jamsos.kernel.errors import FieldProblem, InvalidInput, NotFound
from jamsos.registry import domain as d
from jamsos.registry import tables as t
from jamsos.registry.employers import Registered
from jamsos.registry.errors import DuplicateNik
from jamsos.registry.lookups import known_provinces, known_regencies
from jamsos.registry.repository import SYSTEM, new_account, plausible, reserve_numbers, version_of, versions_as_of
from jamsos.registry.scope import require_everything, require_regency, visible_worker


# ---- workers ---------------------------------------------------------------------------------
def register_worker(
    session: Session,
    *,
    nik: str,
    name: str,
    valid_from: dt.date,
    recorded_at: dt.datetime,
    scope: d.Scope,
    recorded_by: str = SYSTEM,
    birth_date: dt.date | None = None,
    sex: str | None = None,
    regency_code: str | None = None,
) -> Registered:
    """Register a person once per NIK (checked with python-stdnum) and give them an 11-digit KPJ. The regency
    of residence (by default the NIK's) must be within ``scope``.

    A second registration of the same NIK is a ``DuplicateNik`` conflict, also when two arrive at
    the same moment: the database's unique index decides, inside a savepoint.
    """
    nik = nik.strip()
    problems = d.nik_problems(nik, birth_date, sex, known_provinces(session))
    if not name.strip():
        problems.append(FieldProblem("name", "must not be empty"))
    problems += plausible(
        t.worker_version,
        {"name": name.strip(), "regency_code": regency_code},
        today=recorded_at.date(),
        dates={"valid_from": valid_from, "birth_date": birth_date},
    )
    if problems:
        raise InvalidInput(problems)
    birth_date = birth_date or d.birth_date_from_nik(nik, recorded_at.date())
    sex = sex or d.sex_from_nik(nik)
    regency_code = regency_code or nik[:4]
    if regency_code not in known_regencies(session):
        raise InvalidInput(
            [FieldProblem("regency_code", "unknown regency; give the regency of residence", value=regency_code)]
        )
    require_regency(session, regency_code=regency_code, scope=scope)
    existing = session.scalar(select(t.worker.c.kpj).where(t.worker.c.nik == nik))
    if existing is not None:
        raise DuplicateNik(f"NIK {nik} is already registered (KPJ {existing})", nik=nik, kpj=existing)
    try:
        with session.begin_nested():
            kpj = d.make_kpj(reserve_numbers(session, "kpj", 1))
            account_id, va = new_account(session, "participant", recorded_at)
            worker_id = session.execute(
                insert(t.worker)
                .values(nik=nik, kpj=kpj, account_id=account_id, recorded_at=recorded_at)
                .returning(t.worker.c.id)
            ).scalar_one()
    except IntegrityError as exc:
        if "nik" in str(exc.orig).lower():
            raise DuplicateNik(f"NIK {nik} is already registered", nik=nik) from None
        raise
    session.execute(
        insert(t.worker_version).values(
            worker_id=worker_id,
            valid_from=valid_from,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            name=name.strip(),
            name_key=d.name_key(name),
            birth_date=birth_date,
            sex=sex,
            regency_code=regency_code,
        )
    )
    return Registered(worker_id, kpj, va)


def worker_of(session: Session, nik: str) -> tuple[int, str, int]:
    """(worker id, KPJ, account id) of a NIK."""
    row = session.execute(
        select(t.worker.c.id, t.worker.c.kpj, t.worker.c.account_id).where(t.worker.c.nik == nik)
    ).first()
    if row is None:
        raise NotFound(f"no worker with NIK {nik}", nik=nik)
    return int(row[0]), str(row[1]), int(row[2])


def nik_of(session: Session, kpj: str) -> str:
    """The NIK of a participant number (KPJ)."""
    found = session.scalar(select(t.worker.c.nik).where(t.worker.c.kpj == kpj))
    if found is None:
        raise NotFound(f"no worker with KPJ {kpj}", kpj=kpj)
    return str(found)


def worker_profile(session: Session, *, nik: str, known_at: dt.datetime, scope: d.Scope) -> dict[str, Any]:
    """A worker's record and memberships; a worker outside ``scope`` is not found (as if absent). An employer
    sees only the memberships at itself."""
    worker_id, kpj = visible_worker(session, nik=nik, scope=scope, known_at=known_at)
    row = version_of(session, t.worker_version, "worker_id", worker_id, known_at.date(), known_at)
    state = dict(row._mapping) if row is not None else None
    va = session.scalar(select(t.account.c.va_number).join(t.worker).where(t.worker.c.id == worker_id))
    memberships = [
        dict(r)
        for r in session.execute(
            select(t.membership.c.id, t.membership.c.segment, t.employer.c.npp, t.project.c.code.label("project"))
            .outerjoin(t.employer, t.employer.c.id == t.membership.c.employer_id)
            .outerjoin(t.project, t.project.c.id == t.membership.c.project_id)
            .where(t.membership.c.worker_id == worker_id, t.employer.c.npp == scope.npp if scope.npp else true())
            .order_by(t.membership.c.id)
        ).mappings()
    ]
    return {"nik": nik, "kpj": kpj, "va_number": va, **(dict(state) if state else {}), "memberships": memberships}


def likely_duplicates(
    session: Session, *, known_at: dt.datetime, scope: d.Scope, limit: int = 1000
) -> list[d.LikelyDuplicate]:
    """Pairs of workers that may be one person: same name and birth date, or NIKs one transposition apart
    (the whole register: for an unlimited scope only)."""
    require_everything(scope, "the national duplicate review")
    v = versions_as_of(t.worker_version, "worker_id", known_at.date(), known_at)
    rows = session.execute(
        select(t.worker.c.nik, v.c.name, v.c.name_key, v.c.birth_date).join(v, v.c.worker_id == t.worker.c.id)
    ).all()
    by_key: dict[tuple[str, dt.date], list[Any]] = {}
    by_nik = {r.nik: r for r in rows}
    for r in rows:
        by_key.setdefault((r.name_key, r.birth_date), []).append(r)
    out: list[d.LikelyDuplicate] = []
    for group in by_key.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                out.append(
                    d.LikelyDuplicate(
                        "same name and birth date", a.nik, b.nik, a.name, b.name, a.birth_date, b.birth_date
                    )
                )
    seen = set()
    for r in rows:
        for other in d.transpositions(r.nik):
            o = by_nik.get(other)
            if o is not None and (other, r.nik) not in seen:
                seen.add((r.nik, other))
                out.append(
                    d.LikelyDuplicate("NIK digits transposed", r.nik, o.nik, r.name, o.name, r.birth_date, o.birth_date)
                )
    return out[:limit]

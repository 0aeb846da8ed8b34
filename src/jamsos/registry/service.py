"""Registry use cases: register employers, workers, sponsors and projects; enrol, correct and end memberships.

Every change is a new version row (valid time + recorded time); nothing is updated in place.
Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, case, exists, false, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jamsos.infra.bulk import temporary_keys
from jamsos.infra.db import field_problems
from jamsos.kernel import limits
from jamsos.kernel.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from jamsos.kernel.period import Period
from jamsos.registry import domain as d
from jamsos.registry import tables as t
from jamsos.registry.errors import DuplicateMembership, DuplicateNik, ReferenceMissing
from jamsos.rules import codes as c

SYSTEM = "system"


# ---- generated numbers -----------------------------------------------------------------------
def reserve_numbers(session: Session, name: str, count: int) -> int:
    """Reserve ``count`` consecutive numbers of a counter; returns the first one."""
    seq = t.number_sequence
    end = session.execute(
        update(seq).where(seq.c.name == name).values(next_value=seq.c.next_value + count).returning(seq.c.next_value)
    ).scalar()
    if end is None:
        session.execute(insert(seq).values(name=name, next_value=1 + count))
        return 1
    return int(end) - count


def _insert_id(session: Session, table: Any, **values: Any) -> int:
    """Insert one row and return its id."""
    return int(session.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


def _new_account(session: Session, kind: str, recorded_at: dt.datetime) -> tuple[int, str]:
    va = d.make_va(kind, reserve_numbers(session, f"va_{kind}", 1))
    account_id = session.execute(
        insert(t.account).values(va_number=va, kind=kind, recorded_at=recorded_at).returning(t.account.c.id)
    ).scalar_one()
    return account_id, va


# ---- reference lookups -----------------------------------------------------------------------
@lru_cache(maxsize=1)
def sector_risk_classes() -> dict[str, str]:
    """KBLI section → JKK risk class (bundled, illustrative grouping of PP 82/2019 Lampiran I; unverified)."""
    text = resources.files("jamsos.registry").joinpath("data", "sector_risk_class.csv").read_text("utf-8")
    return {row["sector"]: row["risk_class"] for row in csv.DictReader(io.StringIO(text))}


def _branch_of(session: Session, regency_code: str) -> str:
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


def _known_regencies(session: Session) -> set[str]:
    return set(session.scalars(select(t.regency.c.code)))


# ---- bitemporal resolution -------------------------------------------------------------------
def versions_as_of(versions: Any, key: str, on: dt.date, known_at: dt.datetime) -> Any:
    """Subquery: per ``key``, the version in force on ``on`` as jamsos knew it at ``known_at``.

    The latest recorded version whose valid interval contains the day wins (assertion semantics:
    a correction recorded later overrides what was known before, for the interval it states).
    """
    rn = (
        func.row_number()
        .over(partition_by=versions.c[key], order_by=(versions.c.recorded_at.desc(), versions.c.id.desc()))
        .label("rn")
    )
    inner = (
        select(versions, rn)
        .where(
            versions.c.recorded_at <= known_at,
            versions.c.valid_from <= on,
            or_(versions.c.valid_to.is_(None), versions.c.valid_to >= on),
        )
        .subquery()
    )
    return select(*[col for col in inner.c if col.name != "rn"]).where(inner.c.rn == 1).subquery()


@cache
def _one_version(versions: Any, key: str) -> Any:
    """The statement of ``version_of``, built once per table: bound parameters, so every call reuses its
    compiled form (building the window subquery of ``versions_as_of`` per call cost more than the query)."""
    return (
        select(versions)
        .where(
            versions.c[key] == bindparam("as_of_key"),
            versions.c.recorded_at <= bindparam("as_of_known"),
            versions.c.valid_from <= bindparam("as_of_on"),
            or_(versions.c.valid_to.is_(None), versions.c.valid_to >= bindparam("as_of_on")),
        )
        .order_by(versions.c.recorded_at.desc(), versions.c.id.desc())
        .limit(1)
    )


def version_of(session: Session, versions: Any, key: str, key_value: int, on: dt.date, known_at: dt.datetime) -> Any:
    """One ``key``'s row of ``versions_as_of`` (None when no version is in force): the same rule, read by the
    key's index alone."""
    stmt = _one_version(versions, key)
    return session.execute(stmt, {"as_of_key": key_value, "as_of_known": known_at, "as_of_on": on}).first()


# ---- employers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Registered:
    """What a registration returns: the identifiers a user needs next."""

    id: int
    number: str
    va_number: str
    branch_code: str | None = None


def _choice(field: str, value: Any, choices: tuple[str, ...], *, optional: bool = False) -> list[FieldProblem]:
    """A problem when ``value`` is not one of ``choices`` (None is fine when ``optional``)."""
    if (optional and value is None) or value in choices:
        return []
    return [FieldProblem(field, f"expected one of {', '.join(choices)}", value=value)]


def _plausible(
    table: Any,
    values: dict[str, Any],
    *,
    today: dt.date,
    dates: dict[str, dt.date | None] | None = None,
    amounts: dict[str, int] = {},  # noqa: B006  (read only)
) -> list[FieldProblem]:
    """What the store's columns cannot hold, and amounts and dates past ``kernel.limits``' plausibility bounds."""
    problems = field_problems(table, values)
    for name, ceiling in amounts.items():
        why = limits.amount_problem(values.get(name), ceiling)
        if why:
            problems.append(FieldProblem(name, why, value=values.get(name)))
    for name, day in (dates or {}).items():
        why = limits.date_problem(
            day, today=today, earliest=limits.EARLIEST_BIRTH if name == "birth_date" else limits.EARLIEST_RECORD
        )
        if why:
            problems.append(FieldProblem(name, why, value=day.isoformat() if day else None))
    return problems


MEMBERSHIP_AMOUNTS = {
    "wage": limits.MAX_MONTHLY_AMOUNT,
    "income": limits.MAX_MONTHLY_AMOUNT,
    "jht_amount": limits.MAX_MONTHLY_AMOUNT,
    "contract_months": limits.MAX_CONTRACT_MONTHS,
}


def _employer_problems(fields: dict[str, Any]) -> list[FieldProblem]:
    problems = []
    if not str(fields.get("name") or "").strip():
        problems.append(FieldProblem("name", "must not be empty"))
    problems += _choice("legal_form", fields.get("legal_form"), d.LEGAL_FORMS)
    problems += _choice("size_class", fields.get("size_class"), c.EMPLOYER_SIZES)
    problems += _choice("risk_class", fields.get("risk_class"), c.RISK_CLASSES, optional=True)
    for eco in fields.get("ecosystems") or ():
        problems += _choice("ecosystems", eco, d.ECOSYSTEMS)
    return problems


def register_employer(
    session: Session,
    *,
    name: str,
    legal_form: str,
    sector: str,
    size_class: str,
    regency_code: str,
    valid_from: dt.date,
    recorded_at: dt.datetime,
    scope: d.Scope,
    recorded_by: str = SYSTEM,
    risk_class: str | None = None,
    labour_intensive: bool = False,
    ecosystems: Sequence[str] = (),
    npp: str | None = None,
) -> Registered:
    """Register an employer in one of ``scope``'s regencies; the JKK risk class follows the business sector
    unless given."""
    fields = dict(name=name, legal_form=legal_form, size_class=size_class, risk_class=risk_class, ecosystems=ecosystems)
    problems = _employer_problems(fields)
    problems += _plausible(
        t.employer_version,
        {"name": name.strip(), "sector": sector.strip(), "legal_form": legal_form, "size_class": size_class},
        today=recorded_at.date(),
        dates={"valid_from": valid_from},
    )
    if npp is not None and not (4 <= len(npp) <= 20 and npp.isascii() and npp.isalnum()):
        problems.append(FieldProblem("npp", "must be 4 to 20 letters or digits", value=npp))
    if problems:
        raise InvalidInput(problems)
    branch = _branch_of(session, regency_code)
    require_regency(session, regency_code=regency_code, scope=scope)
    if risk_class is None:
        risk_class = sector_risk_classes().get(sector.strip().upper()[:1])
    if npp is None:
        npp = d.make_npp(reserve_numbers(session, "npp", 1))
    elif session.scalar(select(t.employer.c.id).where(t.employer.c.npp == npp)) is not None:
        raise InvalidInput([FieldProblem("npp", "already registered", value=npp)])
    account_id, va = _new_account(session, "employer", recorded_at)
    employer_id = session.execute(
        insert(t.employer).values(npp=npp, account_id=account_id, recorded_at=recorded_at).returning(t.employer.c.id)
    ).scalar_one()
    session.execute(
        insert(t.employer_version).values(
            employer_id=employer_id,
            valid_from=valid_from,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            name=name.strip(),
            legal_form=legal_form,
            sector=sector.strip(),
            risk_class=risk_class,
            size_class=size_class,
            labour_intensive=labour_intensive,
            regency_code=regency_code,
            branch_code=branch,
            ecosystems=",".join(ecosystems),
        )
    )
    return Registered(employer_id, npp, va, branch)


def employer_id_of(session: Session, npp: str) -> int:
    found = session.scalar(select(t.employer.c.id).where(t.employer.c.npp == npp))
    if found is None:
        raise NotFound(f"no employer with NPP {npp}", npp=npp)
    return int(found)


def employer_state(session: Session, *, npp: str, on: dt.date, known_at: dt.datetime, scope: d.Scope) -> dict[str, Any]:
    """An employer's state on ``on``; an employer outside ``scope`` is not found (as if absent)."""
    employer_id = employer_id_of(session, npp)
    if not _employer_seen(session, employer_id, scope, known_at):
        raise NotFound(f"no employer with NPP {npp}", npp=npp)
    v = versions_as_of(t.employer_version, "employer_id", on, known_at)
    row = session.execute(select(v).where(v.c.employer_id == employer_id)).mappings().first()
    if row is None:
        raise NotFound(f"employer {npp} has no state on {on} as known at {known_at:%Y-%m-%d %H:%M}", npp=npp)
    return {"npp": npp, **dict(row)}


def change_employer(
    session: Session,
    *,
    npp: str,
    valid_from: dt.date,
    recorded_at: dt.datetime,
    scope: d.Scope,
    recorded_by: str = SYSTEM,
    valid_to: dt.date | None = None,
    **changes: Any,
) -> int:
    """Record a change (risk class, size, region, ...) valid from a date; returns the version id. The employer
    must be within ``scope``, and so must a new regency."""
    state = employer_state(session, npp=npp, on=valid_from, known_at=recorded_at, scope=scope)
    allowed = {
        "name",
        "legal_form",
        "sector",
        "risk_class",
        "size_class",
        "labour_intensive",
        "regency_code",
        "ecosystems",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput([FieldProblem(k, "cannot be changed here") for k in sorted(unknown)])
    if "ecosystems" in changes and not isinstance(changes["ecosystems"], str):
        changes["ecosystems"] = ",".join(changes["ecosystems"])
    new = {k: state[k] for k in allowed} | changes
    problems = _employer_problems(new | {"ecosystems": [e for e in str(new["ecosystems"]).split(",") if e]})
    problems += _plausible(
        t.employer_version, new, today=recorded_at.date(), dates={"valid_from": valid_from, "valid_to": valid_to}
    )
    if problems:
        raise InvalidInput(problems)
    new["branch_code"] = _branch_of(session, new["regency_code"])
    if "regency_code" in changes:
        require_regency(session, regency_code=new["regency_code"], scope=scope)
    return int(
        _insert_id(
            session,
            t.employer_version,
            employer_id=state["employer_id"],
            valid_from=valid_from,
            valid_to=valid_to,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            **new,
        )
    )


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
    problems += _plausible(
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
    if regency_code not in _known_regencies(session):
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
            account_id, va = _new_account(session, "participant", recorded_at)
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


def _visible(session: Session, table: Any, row_id: int, condition: Any) -> bool:
    return bool(session.scalar(select(exists().where(table.c.id == row_id, condition))))


def _worker_seen(session: Session, worker_id: int, scope: d.Scope, known_at: dt.datetime) -> bool:
    """``worker_condition`` for one worker, as direct lookups by the worker's id (each filter is on the
    key the version subqueries are partitioned by, so the database reads only this worker's rows)."""
    if scope.everything:
        return True
    if scope.branches is None:
        return _visible(session, t.worker, worker_id, worker_condition(scope, known_at))
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
    return any(_employer_seen(session, int(e), scope, known_at) for e in set(employers))


def _employer_seen(session: Session, employer_id: int, scope: d.Scope, known_at: dt.datetime) -> bool:
    if scope.everything:
        return True
    if scope.branches is None:
        return _visible(session, t.employer, employer_id, employer_condition(scope, known_at))
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
    if row is None or not _worker_seen(session, int(row[0]), scope, known_at):
        raise NotFound(f"no worker with NIK {nik}", nik=nik)
    return int(row[0]), str(row[1])


def visible_employer(session: Session, *, npp: str, scope: d.Scope, known_at: dt.datetime) -> int:
    """The id of an employer within ``scope``; absent and out of scope answer the same ``NotFound``."""
    found = session.scalar(select(t.employer.c.id).where(t.employer.c.npp == npp))
    if found is None or not _employer_seen(session, int(found), scope, known_at):
        raise NotFound(f"no employer with NPP {npp}", npp=npp)
    return int(found)


def visible_membership(session: Session, *, membership_id: int, scope: d.Scope, known_at: dt.datetime) -> None:
    """A membership within ``scope``; absent and out of scope answer the same ``NotFound``."""
    if not membership_in_scope(session, membership_id=membership_id, scope=scope, known_at=known_at):
        raise NotFound(f"no membership {membership_id}", membership_id=membership_id)


def worker_visible(session: Session, *, nik: str, scope: d.Scope, known_at: dt.datetime) -> bool:
    found = session.scalar(select(t.worker.c.id).where(t.worker.c.nik == nik))
    return found is not None and _worker_seen(session, int(found), scope, known_at)


def employer_visible(session: Session, *, npp: str, scope: d.Scope, known_at: dt.datetime) -> bool:
    found = session.scalar(select(t.employer.c.id).where(t.employer.c.npp == npp))
    return found is not None and _employer_seen(session, int(found), scope, known_at)


def account_in_scope(session: Session, *, account_id: int, scope: d.Scope, known_at: dt.datetime) -> bool:
    """Whether the holder of an account (employer, participant or sponsor) is within ``scope``."""
    if scope.everything:
        return True
    w, e, sp = t.worker, t.employer, t.sponsor
    worker_id = session.scalar(select(w.c.id).where(w.c.account_id == account_id))
    if worker_id is not None:
        return _worker_seen(session, int(worker_id), scope, known_at)
    employer = session.scalar(select(e.c.id).where(e.c.account_id == account_id))
    if employer is not None:
        return _employer_seen(session, int(employer), scope, known_at)
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
    return _worker_seen(session, int(row.worker_id), scope, known_at)


def search(
    session: Session, *, text: str, known_at: dt.datetime, scope: d.Scope, limit: int = 20
) -> list[dict[str, Any]]:
    """Workers and employers within ``scope`` matching ``text``: a NIK (16 digits) or KPJ (11 digits) exactly,
    an NPP exactly, or a part of a name (as known at ``known_at``)."""
    q = text.strip()
    if not q:
        return []
    wv = versions_as_of(t.worker_version, "worker_id", known_at.date(), known_at)
    ev = versions_as_of(t.employer_version, "employer_id", known_at.date(), known_at)
    workers = select(t.worker.c.nik, t.worker.c.kpj, wv.c.name, wv.c.regency_code).join(
        wv, wv.c.worker_id == t.worker.c.id
    )
    employers = select(t.employer.c.npp, ev.c.name, ev.c.regency_code).join(ev, ev.c.employer_id == t.employer.c.id)
    workers = workers.where(worker_condition(scope, known_at))
    employers = employers.where(employer_condition(scope, known_at))
    if q.isdigit() and len(q) in (11, 16):
        workers = workers.where((t.worker.c.nik == q) | (t.worker.c.kpj == q))
        employers = employers.where(false())
    else:
        # The text is matched literally: % and _ typed by a user are not wildcards.
        literal = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{literal}%"
        workers = workers.where(func.lower(wv.c.name).like(pattern, escape="\\"))
        employers = employers.where((t.employer.c.npp == q) | func.lower(ev.c.name).like(pattern, escape="\\"))
    out: list[dict[str, Any]] = [
        {"kind": "employer", "npp": r.npp, "name": r.name, "regency_code": r.regency_code}
        for r in session.execute(employers.order_by(ev.c.name).limit(limit))
    ]
    out += [
        {"kind": "worker", "nik": r.nik, "kpj": r.kpj, "name": r.name, "regency_code": r.regency_code}
        for r in session.execute(workers.order_by(wv.c.name).limit(limit))
    ]
    return out[:limit]


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


# ---- sponsors and projects -------------------------------------------------------------------
def register_sponsor(
    session: Session,
    *,
    code: str,
    name: str,
    payer_source: str,
    recorded_at: dt.datetime,
    scope: d.Scope,
    regency_code: str | None = None,
) -> Registered:
    """A third party paying for vulnerable workers (APBD, APBDes, CSR, donor), in one of ``scope``'s regencies
    (a national sponsor, without a regency, by an unlimited scope only)."""
    problems = _choice("payer_source", payer_source, d.SPONSOR_SOURCES)
    if not code.strip():
        problems.append(FieldProblem("code", "must not be empty"))
    problems += _plausible(
        t.sponsor, {"code": code, "name": name, "regency_code": regency_code}, today=recorded_at.date()
    )
    if problems:
        raise InvalidInput(problems)
    if session.scalar(select(t.sponsor.c.id).where(t.sponsor.c.code == code)) is not None:
        problems.append(FieldProblem("code", "already registered", value=code))
    if regency_code is not None and regency_code not in _known_regencies(session):
        problems.append(FieldProblem("regency_code", "unknown regency", value=regency_code))
    if problems:
        raise InvalidInput(problems)
    if regency_code is None:
        require_everything(scope, "a sponsor without a regency")
    else:
        require_regency(session, regency_code=regency_code, scope=scope)
    account_id, va = _new_account(session, "sponsor", recorded_at)
    sponsor_id = _insert_id(
        session,
        t.sponsor,
        code=code,
        name=name,
        payer_source=payer_source,
        regency_code=regency_code,
        account_id=account_id,
        recorded_at=recorded_at,
    )
    return Registered(sponsor_id, code, va)


def register_project(
    session: Session,
    *,
    code: str,
    npp: str,
    name: str,
    contract_value: int,
    spk_date: dt.date,
    start_date: dt.date,
    end_date: dt.date,
    regency_code: str,
    recorded_at: dt.datetime,
    scope: d.Scope,
) -> Registered:
    """A construction project (Jakon) of an employer within ``scope``, billed upfront on its contract value."""
    employer_id = visible_employer(session, npp=npp, scope=scope, known_at=recorded_at)
    problems = _plausible(
        t.project,
        {"code": code, "name": name, "contract_value": contract_value, "regency_code": regency_code},
        today=recorded_at.date(),
        dates={"spk_date": spk_date, "start_date": start_date, "end_date": end_date},
        amounts={"contract_value": limits.MAX_CONTRACT_VALUE},
    )
    if contract_value <= 0:
        problems.append(FieldProblem("contract_value", "must be positive", value=contract_value))
    if end_date < start_date:
        problems.append(FieldProblem("end_date", "is before the start date", value=end_date.isoformat()))
    if session.scalar(select(t.project.c.id).where(t.project.c.code == code)) is not None:
        problems.append(FieldProblem("code", "already registered", value=code))
    if regency_code not in _known_regencies(session):
        problems.append(FieldProblem("regency_code", "unknown regency", value=regency_code))
    if problems:
        raise InvalidInput(problems)
    project_id = _insert_id(
        session,
        t.project,
        code=code,
        employer_id=employer_id,
        name=name,
        contract_value=contract_value,
        spk_date=spk_date,
        start_date=start_date,
        end_date=end_date,
        regency_code=regency_code,
        recorded_at=recorded_at,
    )
    va = session.scalar(select(t.account.c.va_number).join(t.employer).where(t.employer.c.id == employer_id))
    return Registered(project_id, code, str(va))


# ---- memberships -----------------------------------------------------------------------------
MEMBERSHIP_FIELDS = (
    "wage",
    "income",
    "programs",
    "payer_source",
    "sponsor_id",
    "ecosystem",
    "channel",
    "agent",
    "transport",
    "contract_months",
    "jht_amount",
)


def _membership_problems(segment: str, fields: dict[str, Any]) -> list[FieldProblem]:
    source = fields["payer_source"]
    problems = _choice("payer_source", source, c.PAYER_SOURCES)
    for name in ("wage", "income", "contract_months", "jht_amount"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            problems.append(FieldProblem(name, "must be a whole number, not negative", value=value))
    if segment == "pu":
        if not fields.get("wage"):
            problems.append(FieldProblem("wage", "a PU membership needs the monthly wage"))
        if source != "employer":
            problems.append(
                FieldProblem("payer_source", "PU contributions are paid through the employer", value=source)
            )
    elif segment == "bpu":
        if not fields.get("income"):
            problems.append(FieldProblem("income", "a BPU membership needs the declared monthly income"))
        if source == "employer":
            problems.append(FieldProblem("payer_source", "a BPU participant has no employer", value=source))
    elif segment == "pmi" and not fields.get("contract_months"):
        problems.append(FieldProblem("contract_months", "a PMI membership needs the placement contract length"))
    return problems + _choice("ecosystem", fields.get("ecosystem"), d.ECOSYSTEMS, optional=True)


def check_enrolment(
    segment: str,
    given: dict[str, Any],
    *,
    today: dt.date,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
) -> dict[str, Any]:
    """An enrolment's fields checked without looking anything up (so that a refusal is the same whoever the worker
    is); returns the membership version's fields (the sponsor's still to be resolved)."""
    if segment not in c.SEGMENTS:
        raise InvalidInput(_choice("segment", segment, c.SEGMENTS))
    npp, project_code, payer_source = given.get("npp"), given.get("project_code"), given.get("payer_source")
    problems: list[FieldProblem] = []
    if segment == "pu" and not npp:
        problems.append(FieldProblem("npp", "a PU membership needs the employer's NPP"))
    if segment == "jakon" and not project_code:
        problems.append(FieldProblem("project_code", "a Jakon membership needs the project"))
    try:
        mask = c.program_mask("programs", given.get("programs") or ())
    except InvalidInput as exc:
        problems += exc.problems
        mask = 0
    default_payer = "employer" if segment in ("pu", "jakon") else "self"
    fields: dict[str, Any] = {
        "wage": given.get("wage"),
        "income": given.get("income"),
        "programs": mask,
        "payer_source": payer_source or default_payer,
        "sponsor_id": None,
        "ecosystem": given.get("ecosystem"),
        "channel": given.get("channel"),
        "agent": given.get("agent"),
        "transport": bool(given.get("transport")),
        "contract_months": given.get("contract_months"),
        "jht_amount": given.get("jht_amount"),
    }
    problems += _membership_problems(segment, fields)
    problems += _plausible(
        t.membership_version,
        fields,
        today=today,
        dates={"valid_from": valid_from, "valid_to": valid_to},
        amounts=MEMBERSHIP_AMOUNTS,
    )
    problems += field_problems(t.project, {"code": project_code}) + field_problems(t.employer, {"npp": npp})
    if payer_source in d.SPONSOR_SOURCES and not given.get("sponsor_code"):
        problems.append(FieldProblem("sponsor_code", f"a membership paid from {payer_source} needs its sponsor"))
    if problems:
        raise InvalidInput(problems)
    return fields


def enrol(
    session: Session,
    *,
    nik: str,
    segment: str,
    valid_from: dt.date,
    recorded_at: dt.datetime,
    recorded_by: str = SYSTEM,
    npp: str | None = None,
    project_code: str | None = None,
    wage: int | None = None,
    income: int | None = None,
    programs: Iterable[str] = (),
    payer_source: str | None = None,
    sponsor_code: str | None = None,
    ecosystem: str | None = None,
    channel: str | None = None,
    agent: str | None = None,
    transport: bool = False,
    contract_months: int | None = None,
    jht_amount: int | None = None,
    valid_to: dt.date | None = None,
    scope: d.Scope,
) -> int:
    """Enrol a registered worker within ``scope`` in a segment (at an employer within ``scope``); returns the
    membership id. The request is checked before any record is looked up, and a worker or employer outside the
    scope answers as an absent one, so a refusal tells nothing about who is registered elsewhere."""
    fields = check_enrolment(
        segment,
        dict(
            npp=npp, project_code=project_code, wage=wage, income=income, programs=programs,
            payer_source=payer_source, sponsor_code=sponsor_code, ecosystem=ecosystem, channel=channel, agent=agent,
            transport=transport, contract_months=contract_months, jht_amount=jht_amount,
        ),
        today=recorded_at.date(),
        valid_from=valid_from,
        valid_to=valid_to,
    )  # fmt: skip
    problems: list[FieldProblem] = []
    worker_id, _ = visible_worker(session, nik=nik, scope=scope, known_at=recorded_at)
    employer_id = visible_employer(session, npp=npp, scope=scope, known_at=recorded_at) if npp else None
    project_id = None
    if project_code:
        project_id = session.scalar(select(t.project.c.id).where(t.project.c.code == project_code))
        if project_id is None:
            problems.append(FieldProblem("project_code", "unknown project", value=project_code))
    if sponsor_code:
        sponsor = session.execute(
            select(t.sponsor.c.id, t.sponsor.c.payer_source).where(t.sponsor.c.code == sponsor_code)
        ).first()
        if sponsor is None:
            problems.append(FieldProblem("sponsor_code", "unknown sponsor", value=sponsor_code))
        else:
            fields["sponsor_id"] = sponsor[0]
            fields["payer_source"] = payer_source or sponsor[1]
            problems += _membership_problems(segment, fields)
    if problems:
        raise InvalidInput(problems)
    clash = session.scalar(
        select(t.membership.c.id).where(
            t.membership.c.worker_id == worker_id,
            t.membership.c.segment == segment,
            _same(t.membership.c.employer_id, employer_id),
            _same(t.membership.c.project_id, project_id),
        )
    )
    if clash is not None:
        raise DuplicateMembership(
            f"worker {nik} already has membership {clash} in this segment there; record a correction instead",
            membership_id=clash,
        )
    membership_id = _insert_id(
        session,
        t.membership,
        worker_id=worker_id,
        segment=segment,
        employer_id=employer_id,
        project_id=project_id,
        recorded_at=recorded_at,
    )
    session.execute(
        insert(t.membership_version).values(
            membership_id=membership_id,
            valid_from=valid_from,
            valid_to=valid_to,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            **fields,
        )
    )
    return int(membership_id)


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def membership_state(
    session: Session, *, membership_id: int, month: Period, known_at: dt.datetime, scope: d.Scope
) -> dict[str, Any] | None:
    """The membership (within ``scope``) as jamsos knew it at ``known_at``, for ``month`` (its state on the
    month's last day)."""
    visible_membership(session, membership_id=membership_id, scope=scope, known_at=known_at)
    v = versions_as_of(t.membership_version, "membership_id", month.last_day, known_at)
    row = session.execute(select(v).where(v.c.membership_id == membership_id)).mappings().first()
    if row is None or row["exit_reason"] is not None:
        return None
    return dict(row)


def membership_history(
    session: Session, *, membership_id: int, scope: d.Scope, known_at: dt.datetime
) -> list[dict[str, Any]]:
    """Every version of a membership within ``scope``, in the order recorded."""
    visible_membership(session, membership_id=membership_id, scope=scope, known_at=known_at)
    mv = t.membership_version
    rows = session.execute(select(mv).where(mv.c.membership_id == membership_id).order_by(mv.c.recorded_at, mv.c.id))
    out = [dict(r) for r in rows.mappings()]
    if not out:
        raise NotFound(f"no membership {membership_id}", membership_id=membership_id)
    return out


def _latest_state_on(session: Session, membership_id: int, on: dt.date, known_at: dt.datetime) -> dict[str, Any]:
    v = versions_as_of(t.membership_version, "membership_id", on, known_at)
    row = session.execute(select(v).where(v.c.membership_id == membership_id)).mappings().first()
    if row is None:
        raise InvalidInput([FieldProblem("valid_from", f"membership {membership_id} is not in force on {on}")])
    return dict(row)


def correct_membership(
    session: Session,
    *,
    membership_id: int,
    valid_from: dt.date,
    recorded_at: dt.datetime,
    scope: d.Scope,
    recorded_by: str = SYSTEM,
    valid_to: dt.date | None = None,
    **changes: Any,
) -> int:
    """Record a correction (a retroactive wage, income, programs, payer...) of a membership within ``scope``,
    for a valid interval."""
    unknown = set(changes) - set(MEMBERSHIP_FIELDS) - {"sponsor_code"}
    if unknown:
        raise InvalidInput([FieldProblem(k, "cannot be corrected here") for k in sorted(unknown)])
    visible_membership(session, membership_id=membership_id, scope=scope, known_at=recorded_at)
    state = _latest_state_on(session, membership_id, valid_from, recorded_at)
    if "programs" in changes and not isinstance(changes["programs"], int):
        changes["programs"] = c.program_mask("programs", changes["programs"])
    if "sponsor_code" in changes:
        code = changes.pop("sponsor_code")
        sponsor_id = session.scalar(select(t.sponsor.c.id).where(t.sponsor.c.code == code))
        if sponsor_id is None:
            raise InvalidInput([FieldProblem("sponsor_code", "unknown sponsor", value=code)])
        changes["sponsor_id"] = sponsor_id
    new = {k: state[k] for k in MEMBERSHIP_FIELDS} | changes
    segment = session.scalar(select(t.membership.c.segment).where(t.membership.c.id == membership_id))
    problems = _membership_problems(str(segment), new)
    problems += _plausible(
        t.membership_version,
        new,
        today=recorded_at.date(),
        dates={"valid_from": valid_from, "valid_to": valid_to},
        amounts=MEMBERSHIP_AMOUNTS,
    )
    if problems:
        raise InvalidInput(problems)
    return int(
        _insert_id(
            session,
            t.membership_version,
            membership_id=membership_id,
            valid_from=valid_from,
            valid_to=valid_to,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            exit_reason=state["exit_reason"],
            exit_date=state["exit_date"],
            **new,
        )
    )


def exit_membership(
    session: Session,
    *,
    membership_id: int,
    exit_date: dt.date,
    reason: str,
    recorded_at: dt.datetime,
    scope: d.Scope,
    recorded_by: str = SYSTEM,
) -> int:
    """End a membership (resignation, dismissal, death, end of project or placement), possibly back-dated.

    The month in which the exit happens is still covered; from the next month the membership is ended.
    """
    if reason not in d.EXIT_REASONS:
        raise InvalidInput(_choice("reason", reason, d.EXIT_REASONS))
    visible_membership(session, membership_id=membership_id, scope=scope, known_at=recorded_at)
    state = _latest_state_on(session, membership_id, exit_date, recorded_at)
    return int(
        _insert_id(
            session,
            t.membership_version,
            membership_id=membership_id,
            valid_from=d.month_covered_on(exit_date),
            valid_to=None,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            exit_reason=reason,
            exit_date=exit_date,
            **{k: state[k] for k in MEMBERSHIP_FIELDS},
        )
    )


def memberships_in_force(month: Period, known_at: dt.datetime) -> Select[Any]:
    """Select of every membership in force in ``month`` as known at ``known_at``, with employer state.

    Columns: membership and worker ids, segment, employer/project ids, the version's fields, the
    employer's risk class, size, labour-intensive flag and province, and the payer account.
    """
    on = month.last_day
    mv = versions_as_of(t.membership_version, "membership_id", on, known_at)
    ev = versions_as_of(t.employer_version, "employer_id", on, known_at)
    m, w, e, s = t.membership, t.worker, t.employer, t.sponsor
    account = func.coalesce(s.c.account_id, e.c.account_id, w.c.account_id)
    return (
        select(
            m.c.id.label("membership_id"),
            m.c.worker_id,
            m.c.segment,
            m.c.employer_id,
            m.c.project_id,
            mv.c.wage,
            mv.c.income,
            mv.c.programs,
            mv.c.payer_source,
            mv.c.transport,
            mv.c.contract_months,
            mv.c.jht_amount,
            mv.c.valid_from,
            ev.c.risk_class,
            ev.c.size_class,
            ev.c.labour_intensive,
            func.substr(ev.c.regency_code, 1, 2, type_=String).label("province_code"),
            account.label("account_id"),
        )
        .join(mv, mv.c.membership_id == m.c.id)
        .join(w, w.c.id == m.c.worker_id)
        .outerjoin(ev, ev.c.employer_id == m.c.employer_id)
        .outerjoin(e, and_(e.c.id == m.c.employer_id, mv.c.payer_source == "employer"))
        .outerjoin(s, s.c.id == mv.c.sponsor_id)
        .where(mv.c.exit_reason.is_(None))
    )


# ---- lookups other contexts use (they never read registry tables themselves) -------------------
def pu_members(session: Session, *, employer_id: int, month: Period, known_at: dt.datetime) -> dict[str, int]:
    """NIK → worker id of the employer's PU members in force in ``month``."""
    in_force = memberships_in_force(month, known_at).subquery()
    rows = session.execute(
        select(t.worker.c.nik, in_force.c.worker_id)
        .join(t.worker, t.worker.c.id == in_force.c.worker_id)
        .where(in_force.c.employer_id == employer_id, in_force.c.segment == "pu")
    )
    return {r.nik: int(r.worker_id) for r in rows}


def minimum_wages(session: Session, *, month: Period) -> dict[str, int]:
    """Provincial minimum wage in force on the first day of ``month``, per province code."""
    mw = t.minimum_wage
    rows = session.execute(
        select(mw.c.province_code, mw.c.amount).where(mw.c.valid_from <= month.first_day).order_by(mw.c.valid_from)
    )
    return {r.province_code: int(r.amount) for r in rows}


def projects_started_by(session: Session, *, month: Period) -> list[Any]:
    """Construction projects started by the end of ``month``: id, contract value, dates, payer account."""
    p, e = t.project, t.employer
    return list(
        session.execute(
            select(p.c.id, p.c.contract_value, p.c.start_date, p.c.end_date, e.c.account_id)
            .join(e, e.c.id == p.c.employer_id)
            .where(p.c.start_date <= month.last_day)
            .order_by(p.c.id)
        ).all()
    )


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


def fact_queries() -> dict[str, tuple[Any, Any]]:
    """Warehouse facts of the registry: name → (id column for the watermark, select). No NIK, name or
    KPJ: the export replaces ``worker_id`` by the person's pseudonymous key."""
    w, wv, e, ev, m, mv = t.worker, t.worker_version, t.employer, t.employer_version, t.membership, t.membership_version
    return {
        "persons": (
            wv.c.id,
            select(
                wv.c.id.label("version_id"), w.c.id.label("worker_id"), wv.c.birth_date, wv.c.sex, wv.c.regency_code,
                wv.c.valid_from, wv.c.valid_to, wv.c.recorded_at,
            ).join(w, w.c.id == wv.c.worker_id),
        ),
        "employers": (
            ev.c.id,
            select(
                ev.c.id.label("version_id"), e.c.id.label("employer_id"), e.c.npp, e.c.account_id, ev.c.name,
                ev.c.legal_form, ev.c.sector, ev.c.risk_class, ev.c.size_class, ev.c.regency_code, ev.c.branch_code,
                ev.c.ecosystems, ev.c.valid_from, ev.c.valid_to, ev.c.recorded_at,
            ).join(e, e.c.id == ev.c.employer_id),
        ),
        "memberships": (
            mv.c.id,
            select(
                mv.c.id.label("version_id"), m.c.id.label("membership_id"), m.c.worker_id, m.c.segment,
                m.c.employer_id, m.c.project_id, mv.c.wage, mv.c.income, mv.c.programs, mv.c.payer_source,
                mv.c.sponsor_id, mv.c.ecosystem, mv.c.channel, mv.c.agent, mv.c.exit_reason, mv.c.exit_date,
                mv.c.valid_from, mv.c.valid_to, mv.c.recorded_at,
            ).join(m, m.c.id == mv.c.membership_id),
        ),
        "sponsors": (
            t.sponsor.c.id,
            select(
                t.sponsor.c.id.label("sponsor_id"), t.sponsor.c.code, t.sponsor.c.name, t.sponsor.c.payer_source,
                t.sponsor.c.regency_code, t.sponsor.c.account_id, t.sponsor.c.recorded_at,
            ),
        ),
        "projects": (
            t.project.c.id,
            select(
                t.project.c.id.label("project_id"), t.project.c.code, t.project.c.employer_id, t.project.c.name,
                t.project.c.contract_value, t.project.c.spk_date, t.project.c.start_date, t.project.c.end_date,
                t.project.c.regency_code, t.project.c.recorded_at,
            ),
        ),
    }  # fmt: skip


def offices_query() -> Any:
    """Every regency with its province, branch office and Kanwil."""
    r, p, br, b, kp, k = t.regency, t.province, t.branch_regency, t.branch, t.kanwil_province, t.kanwil
    return (
        select(
            r.c.code.label("regency_code"), r.c.name.label("regency_name"), p.c.code.label("province_code"),
            p.c.name.label("province_name"), b.c.code.label("branch_code"), b.c.name.label("branch_name"),
            k.c.code.label("kanwil_code"), k.c.name.label("kanwil_name"),
        )
        .join(p, p.c.code == r.c.province_code)
        .join(br, br.c.regency_code == r.c.code)
        .join(b, b.c.code == br.c.branch_code)
        .join(kp, kp.c.province_code == p.c.code)
        .join(k, k.c.code == kp.c.kanwil_code)
        .order_by(r.c.code)
    )  # fmt: skip


def membership_segments() -> Any:
    """Select of membership id → worker id, segment, employer id (for the warehouse's line facts)."""
    m = t.membership
    return select(m.c.id.label("membership_id"), m.c.worker_id, m.c.segment, m.c.employer_id)


def steering_attributes(month: Period, known_at: dt.datetime) -> Select[Any]:
    """Select of every membership in force in ``month`` with what the steering warehouse groups by:
    the regency where it is served (the employer's for PU, the project's for Jakon, the person's
    otherwise), ecosystem, channel, payer, the wage or income, and when the person and the employer
    first registered (``person_since``, ``employer_since`` as dates)."""
    on = month.last_day
    mv = versions_as_of(t.membership_version, "membership_id", on, known_at)
    ev = versions_as_of(t.employer_version, "employer_id", on, known_at)
    wv = versions_as_of(t.worker_version, "worker_id", on, known_at)
    m, p = t.membership, t.project
    person_since = (
        select(t.membership.c.worker_id, func.min(t.membership_version.c.valid_from).label("since"))
        .join(t.membership_version, t.membership_version.c.membership_id == t.membership.c.id)
        .where(t.membership_version.c.recorded_at <= known_at)
        .group_by(t.membership.c.worker_id)
        .subquery()
    )
    employer_since = (
        select(t.employer_version.c.employer_id, func.min(t.employer_version.c.valid_from).label("since"))
        .where(t.employer_version.c.recorded_at <= known_at)
        .group_by(t.employer_version.c.employer_id)
        .subquery()
    )
    return (
        select(
            m.c.id.label("membership_id"),
            m.c.worker_id,
            m.c.segment,
            m.c.employer_id,
            func.coalesce(ev.c.regency_code, p.c.regency_code, wv.c.regency_code).label("regency_code"),
            mv.c.ecosystem,
            mv.c.channel,
            mv.c.payer_source,
            func.coalesce(mv.c.wage, mv.c.income, 0).label("wage"),
            person_since.c.since.label("person_since"),
            employer_since.c.since.label("employer_since"),
        )
        .join(mv, mv.c.membership_id == m.c.id)
        .join(wv, wv.c.worker_id == m.c.worker_id)
        .outerjoin(ev, ev.c.employer_id == m.c.employer_id)
        .outerjoin(p, p.c.id == m.c.project_id)
        .outerjoin(person_since, person_since.c.worker_id == m.c.worker_id)
        .outerjoin(employer_since, employer_since.c.employer_id == m.c.employer_id)
        .where(mv.c.exit_reason.is_(None))
    )


def registrations_query(known_at: dt.datetime) -> Select[Any]:
    """Select of every membership with its person, segment, serving regency, ecosystem, channel, the
    day it started and the day it ended (an exit version), as known at ``known_at``, and whether it is
    the person's first (lowest id): registered persons are counted on that one."""
    m, mv, p = t.membership, t.membership_version, t.project
    first = (
        select(
            mv.c.membership_id,
            func.min(mv.c.valid_from).label("registered"),
            func.min(case((mv.c.exit_reason.is_not(None), mv.c.valid_from))).label("ended"),
            func.max(mv.c.id).label("latest"),
        )
        .where(mv.c.recorded_at <= known_at)
        .group_by(mv.c.membership_id)
        .subquery()
    )
    latest = mv.alias("latest_version")
    ev = versions_as_of(t.employer_version, "employer_id", known_at.date(), known_at)
    wv = versions_as_of(t.worker_version, "worker_id", known_at.date(), known_at)
    return (
        select(
            m.c.worker_id.label("person_id"),
            m.c.id.label("membership_id"),
            m.c.segment,
            func.coalesce(ev.c.regency_code, p.c.regency_code, wv.c.regency_code).label("regency_code"),
            latest.c.ecosystem,
            latest.c.channel,
            first.c.registered,
            first.c.ended,
            (func.min(m.c.id).over(partition_by=m.c.worker_id) == m.c.id).label("first_of_person"),
        )
        .join(first, first.c.membership_id == m.c.id)
        .join(latest, latest.c.id == first.c.latest)
        .join(wv, wv.c.worker_id == m.c.worker_id)
        .outerjoin(ev, ev.c.employer_id == m.c.employer_id)
        .outerjoin(p, p.c.id == m.c.project_id)
    )

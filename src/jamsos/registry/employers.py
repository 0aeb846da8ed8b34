"""Employers: registration (with its branch, sector risk class and virtual account), changes as new versions, and an
employer's state on a day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jamsos.kernel.errors import FieldProblem, InvalidInput, NotFound
from jamsos.registry import domain as d
from jamsos.registry import tables as t
from jamsos.registry.domain import employer_problems
from jamsos.registry.lookups import branch_of, sector_risk_classes
from jamsos.registry.repository import SYSTEM, insert_id, new_account, plausible, reserve_numbers, versions_as_of
from jamsos.registry.scope import employer_seen, require_regency


# ---- employers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Registered:
    """What a registration returns: the identifiers a user needs next."""

    id: int
    number: str
    va_number: str
    branch_code: str | None = None


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
    problems = employer_problems(fields)
    problems += plausible(
        t.employer_version,
        {"name": name.strip(), "sector": sector.strip(), "legal_form": legal_form, "size_class": size_class},
        today=recorded_at.date(),
        dates={"valid_from": valid_from},
    )
    if npp is not None and not (4 <= len(npp) <= 20 and npp.isascii() and npp.isalnum()):
        problems.append(FieldProblem("npp", "must be 4 to 20 letters or digits", value=npp))
    if problems:
        raise InvalidInput(problems)
    branch = branch_of(session, regency_code)
    require_regency(session, regency_code=regency_code, scope=scope)
    if risk_class is None:
        risk_class = sector_risk_classes().get(sector.strip().upper()[:1])
    if npp is None:
        npp = d.make_npp(reserve_numbers(session, "npp", 1))
    elif session.scalar(select(t.employer.c.id).where(t.employer.c.npp == npp)) is not None:
        raise InvalidInput([FieldProblem("npp", "already registered", value=npp)])
    account_id, va = new_account(session, "employer", recorded_at)
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
    if not employer_seen(session, employer_id, scope, known_at):
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
    problems = employer_problems(new | {"ecosystems": [e for e in str(new["ecosystems"]).split(",") if e]})
    problems += plausible(
        t.employer_version, new, today=recorded_at.date(), dates={"valid_from": valid_from, "valid_to": valid_to}
    )
    if problems:
        raise InvalidInput(problems)
    new["branch_code"] = branch_of(session, new["regency_code"])
    if "regency_code" in changes:
        require_regency(session, regency_code=new["regency_code"], scope=scope)
    return int(
        insert_id(
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

"""Sponsors (local budgets, CSR, donors that pay for vulnerable workers) and construction projects (Jakon)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jamsos.kernel import limits
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.registry import domain as d
from jamsos.registry import tables as t
from jamsos.registry.domain import choice_problems
from jamsos.registry.employers import Registered
from jamsos.registry.lookups import known_regencies
from jamsos.registry.repository import insert_id, new_account, plausible
from jamsos.registry.scope import require_everything, require_regency, visible_employer
from jamsos.rules import codes as c


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
    problems = choice_problems("payer_source", payer_source, c.SPONSOR_SOURCES)
    if not code.strip():
        problems.append(FieldProblem("code", "must not be empty"))
    problems += plausible(
        t.sponsor, {"code": code, "name": name, "regency_code": regency_code}, today=recorded_at.date()
    )
    if problems:
        raise InvalidInput(problems)
    if session.scalar(select(t.sponsor.c.id).where(t.sponsor.c.code == code)) is not None:
        problems.append(FieldProblem("code", "already registered", value=code))
    if regency_code is not None and regency_code not in known_regencies(session):
        problems.append(FieldProblem("regency_code", "unknown regency", value=regency_code))
    if problems:
        raise InvalidInput(problems)
    if regency_code is None:
        require_everything(scope, "a sponsor without a regency")
    else:
        require_regency(session, regency_code=regency_code, scope=scope)
    account_id, va = new_account(session, "sponsor", recorded_at)
    sponsor_id = insert_id(
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
    problems = plausible(
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
    if regency_code not in known_regencies(session):
        problems.append(FieldProblem("regency_code", "unknown regency", value=regency_code))
    if problems:
        raise InvalidInput(problems)
    project_id = insert_id(
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

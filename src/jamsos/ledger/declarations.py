"""Wage declarations: an employer's wages for a month, replacing what it declared before (bitemporal: the old rows
stay, superseded)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from jamsos.infra.bulk import bulk_insert, fetch_arrow
from jamsos.infra.files import TableFile
from jamsos.kernel import limits
from jamsos.kernel.errors import FieldProblem, InvalidInput, Problems
from jamsos.kernel.period import Period
from jamsos.ledger import tables as lt
from jamsos.registry import service as registry
from jamsos.registry.domain import Scope


# ---- wage declarations -----------------------------------------------------------------------
@dataclass(frozen=True)
class DeclarationResult:
    npp: str
    period: str
    version: int
    rows: int
    unchanged: bool


def declare_wages(
    session: Session,
    *,
    npp: str,
    period: Period,
    table: TableFile,
    recorded_at: dt.datetime,
    recorded_by: str,
    scope: Scope,
) -> DeclarationResult:
    """Store the monthly wage list (columns ``nik``, ``wage``) of an employer within ``scope`` as a new version.

    The file is validated whole: every problem is returned with its row and column, and nothing
    is stored if any row is rejected. The same file uploaded again is recognised and adds nothing.
    """
    employer_id = registry.visible_employer(session, npp=npp, scope=scope, known_at=recorded_at)
    table.require(("nik", "wage"))
    latest = session.execute(
        select(lt.declaration.c.version, lt.declaration.c.sha256)
        .where(lt.declaration.c.employer_id == employer_id, lt.declaration.c.period == period.ordinal)
        .order_by(lt.declaration.c.version.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.sha256 == table.sha256:
        return DeclarationResult(npp, str(period), int(latest.version), len(table.rows), True)
    members = registry.pu_members(session, employer_id=employer_id, month=period, known_at=recorded_at)
    problems: list[FieldProblem] = Problems()
    lines: dict[int, int] = {}
    seen: dict[str, int] = {}
    for number, row in table.rows:
        nik, wage_text = row["nik"], row["wage"].replace(".", "").replace(",", "")
        if nik in seen:
            problems.append(FieldProblem("nik", f"listed twice (first on row {seen[nik]})", row=number, value=nik))
            continue
        seen[nik] = number
        worker_id = members.get(nik)
        if worker_id is None:
            problems.append(
                FieldProblem("nik", f"not a PU member of employer {npp} in {period}", row=number, value=nik)
            )
        if not limits.is_ascii_number(wage_text, 12) or not 0 < int(wage_text) <= limits.MAX_MONTHLY_AMOUNT:
            problems.append(
                FieldProblem(
                    "wage",
                    f"must be a whole number of rupiah from 1 to {limits.MAX_MONTHLY_AMOUNT:,}",
                    row=number,
                    value=row["wage"],
                )
            )
        elif worker_id is not None:
            lines[worker_id] = int(wage_text)
    if problems:
        raise InvalidInput(problems)
    version = (int(latest.version) if latest else 0) + 1
    declaration_id = session.execute(
        insert(lt.declaration)
        .values(
            employer_id=employer_id,
            period=period.ordinal,
            version=version,
            filename=table.name,
            sha256=table.sha256,
            rows=len(lines),
            recorded_at=recorded_at,
            recorded_by=recorded_by,
        )
        .returning(lt.declaration.c.id)
    ).scalar_one()
    bulk_insert(
        session,
        lt.declaration_line,
        {"declaration_id": [declaration_id] * len(lines), "worker_id": list(lines), "wage": list(lines.values())},
    )
    return DeclarationResult(npp, str(period), version, len(lines), False)


def declared_wages(session: Session, period: Period, known_at: dt.datetime) -> pa.Table:
    d, dl = lt.declaration, lt.declaration_line
    latest = (
        select(d.c.employer_id, func.max(d.c.version).label("version"))
        .where(d.c.period == period.ordinal, d.c.recorded_at <= known_at)
        .group_by(d.c.employer_id)
        .subquery()
    )
    query = (
        select(dl.c.worker_id, d.c.employer_id, dl.c.wage.label("declared_wage"))
        .join(d, d.c.id == dl.c.declaration_id)
        .join(latest, and_(latest.c.employer_id == d.c.employer_id, latest.c.version == d.c.version))
        .where(d.c.period == period.ordinal)
    )
    return fetch_arrow(session, query)

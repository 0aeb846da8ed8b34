"""Memberships: enrolment checked before any lookup, corrections on both time axes, exits with a reason, a
membership's state and history, and the memberships in force in a month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
from sqlalchemy import Select, String, and_, func, insert, select
from sqlalchemy.orm import Session

from jamsos.infra.bulk import fetch_arrow
from jamsos.infra.db import field_problems
from jamsos.kernel.errors import FieldProblem, InvalidInput, NotFound
from jamsos.kernel.period import Period
from jamsos.registry import domain as d
from jamsos.registry import tables as t
from jamsos.registry.domain import MEMBERSHIP_AMOUNTS, MEMBERSHIP_FIELDS, choice_problems, membership_problems
from jamsos.registry.errors import DuplicateMembership
from jamsos.registry.repository import SYSTEM, insert_id, latest_state_on, plausible, same_values, versions_as_of
from jamsos.registry.scope import visible_employer, visible_membership, visible_worker
from jamsos.rules import codes as c


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
        raise InvalidInput(choice_problems("segment", segment, c.SEGMENTS))
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
    problems += membership_problems(segment, fields)
    problems += plausible(
        t.membership_version,
        fields,
        today=today,
        dates={"valid_from": valid_from, "valid_to": valid_to},
        amounts=MEMBERSHIP_AMOUNTS,
    )
    problems += field_problems(t.project, {"code": project_code}) + field_problems(t.employer, {"npp": npp})
    if payer_source in c.SPONSOR_SOURCES and not given.get("sponsor_code"):
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
            problems += membership_problems(segment, fields)
    if problems:
        raise InvalidInput(problems)
    clash = session.scalar(
        select(t.membership.c.id).where(
            t.membership.c.worker_id == worker_id,
            t.membership.c.segment == segment,
            same_values(t.membership.c.employer_id, employer_id),
            same_values(t.membership.c.project_id, project_id),
        )
    )
    if clash is not None:
        raise DuplicateMembership(
            f"worker {nik} already has membership {clash} in this segment there; record a correction instead",
            membership_id=clash,
        )
    membership_id = insert_id(
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
    state = latest_state_on(session, membership_id, valid_from, recorded_at)
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
    problems = membership_problems(str(segment), new)
    problems += plausible(
        t.membership_version,
        new,
        today=recorded_at.date(),
        dates={"valid_from": valid_from, "valid_to": valid_to},
        amounts=MEMBERSHIP_AMOUNTS,
    )
    if problems:
        raise InvalidInput(problems)
    return int(
        insert_id(
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
    if reason not in c.EXIT_REASONS:
        raise InvalidInput(choice_problems("reason", reason, c.EXIT_REASONS))
    visible_membership(session, membership_id=membership_id, scope=scope, known_at=recorded_at)
    state = latest_state_on(session, membership_id, exit_date, recorded_at)
    return int(
        insert_id(
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


def _in_force(month: Period, known_at: dt.datetime) -> Select[Any]:
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
    in_force = _in_force(month, known_at).subquery()
    rows = session.execute(
        select(t.worker.c.nik, in_force.c.worker_id)
        .join(t.worker, t.worker.c.id == in_force.c.worker_id)
        .where(in_force.c.employer_id == employer_id, in_force.c.segment == "pu")
    )
    return {r.nik: int(r.worker_id) for r in rows}


def memberships_in_force(session: Session, *, month: Period, known_at: dt.datetime) -> pa.Table:
    """The memberships in force in ``month`` as known at ``known_at``, with what billing needs of each (one row
    per membership, as Arrow columns)."""
    return fetch_arrow(session, _in_force(month, known_at))

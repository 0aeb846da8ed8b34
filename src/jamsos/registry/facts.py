"""The registry's read models for the warehouse: the facts of workers, employers and memberships, the offices, the
segments of memberships, the steering attributes and the registrations of a period."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from jamsos.infra.bulk import fetch_arrow
from jamsos.kernel.period import Period
from jamsos.registry import tables as t
from jamsos.registry.repository import versions_as_of


def _fact_queries() -> dict[str, tuple[Any, Any]]:
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


def _offices() -> Any:
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


def _membership_segments() -> Any:
    """Select of membership id → worker id, segment, employer id (for the warehouse's line facts)."""
    m = t.membership
    return select(m.c.id.label("membership_id"), m.c.worker_id, m.c.segment, m.c.employer_id)


def _steering_attributes(month: Period, known_at: dt.datetime) -> Select[Any]:
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


def _registrations(known_at: dt.datetime) -> Select[Any]:
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


# ---- what other contexts call: data, not queries to run ------------------------------------------
FACTS: tuple[str, ...] = ("persons", "employers", "memberships", "sponsors", "projects")


def fact_chunk(session: Session, *, name: str, after: int, limit: int) -> pa.Table:
    """Up to ``limit`` rows of the registry fact ``name`` (one of ``FACTS``) whose version id is above ``after``,
    in id order: the exporter's watermark. No NIK, name or KPJ: the export replaces ``worker_id`` by the person's
    pseudonymous key."""
    id_col, query = _fact_queries()[name]
    return fetch_arrow(session, query.where(id_col > after).order_by(id_col).limit(limit))


def offices(session: Session) -> pa.Table:
    """Every regency with its province, branch office and Kanwil."""
    return fetch_arrow(session, _offices())


def membership_segments(session: Session) -> pa.Table:
    """Membership id → worker id, segment, employer id (for the warehouse's line facts)."""
    return fetch_arrow(session, _membership_segments())


def steering_attributes(session: Session, *, month: Period, known_at: dt.datetime) -> pa.Table:
    """Every membership in force in ``month`` with what the steering warehouse groups by (see
    ``_steering_attributes``)."""
    return fetch_arrow(session, _steering_attributes(month, known_at))


def registrations(session: Session, *, known_at: dt.datetime) -> pa.Table:
    """Every membership with its person, segment, serving regency, ecosystem, channel, start and end, and
    whether it is the person's first (see ``_registrations``)."""
    return fetch_arrow(session, _registrations(known_at))

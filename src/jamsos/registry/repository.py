"""The registry's SQL helpers the use cases share: generated numbers (NPP, KPJ, virtual accounts), the bitemporal
resolution of versions (valid time and recorded time), and what the store's columns can hold."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from jamsos.infra.db import field_problems
from jamsos.kernel import limits
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.registry import domain as d
from jamsos.registry import tables as t

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


def insert_id(session: Session, table: Any, **values: Any) -> int:
    """Insert one row and return its id."""
    return int(session.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


def new_account(session: Session, kind: str, recorded_at: dt.datetime) -> tuple[int, str]:
    va = d.make_va(kind, reserve_numbers(session, f"va_{kind}", 1))
    account_id = session.execute(
        insert(t.account).values(va_number=va, kind=kind, recorded_at=recorded_at).returning(t.account.c.id)
    ).scalar_one()
    return account_id, va


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
def one_version(versions: Any, key: str) -> Any:
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
    stmt = one_version(versions, key)
    return session.execute(stmt, {"as_of_key": key_value, "as_of_known": known_at, "as_of_on": on}).first()


def plausible(
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


def same_values(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def latest_state_on(session: Session, membership_id: int, on: dt.date, known_at: dt.datetime) -> dict[str, Any]:
    v = versions_as_of(t.membership_version, "membership_id", on, known_at)
    row = session.execute(select(v).where(v.c.membership_id == membership_id)).mappings().first()
    if row is None:
        raise InvalidInput([FieldProblem("valid_from", f"membership {membership_id} is not in force on {on}")])
    return dict(row)

"""Search of workers and employers by name, NIK, KPJ or NPP within the actor's scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from jamsos.registry import domain as d
from jamsos.registry import tables as t
from jamsos.registry.repository import versions_as_of
from jamsos.registry.scope import employer_condition, worker_condition


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

"""Transfers between branches: a branch asks to enrol, at one of its employers, a worker registered elsewhere, and
the worker's own branch decides. An officer cannot enrol (and thereby come to read) a person outside their scope;
this is how such a person joins a new employer.

The request names the worker by NIK as given. Asking for a NIK nobody has answers exactly as asking for one
registered elsewhere (the request waits), so a request tells nothing about who is registered. Services never
commit: the caller owns the transaction."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from jamsos.kernel.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from jamsos.kernel.names import same_person
from jamsos.registry import domain as d
from jamsos.registry import service as svc
from jamsos.registry import tables as t
from jamsos.registry.errors import RequestDecided

# The enrolment fields a request carries (``svc.enrol``'s, less the worker, the dates the decision sets and scope).
FIELDS = (
    "segment", "npp", "wage", "income", "programs", "payer_source", "sponsor_code", "ecosystem", "channel",
    "agent", "contract_months", "jht_amount", "valid_from",
)  # fmt: skip


def request_transfer(
    session: Session,
    *,
    nik: str,
    segment: str,
    npp: str,
    valid_from: dt.date,
    requested_at: dt.datetime,
    requested_by: str,
    scope: d.Scope,
    **fields: Any,
) -> int:
    """A request to enrol the worker ``nik`` at ``npp`` (an employer within ``scope``), from ``valid_from``.
    The request is checked as an enrolment would be before anything is looked up; the worker is not."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise InvalidInput([FieldProblem(k, "is not a field of an enrolment") for k in sorted(unknown)])
    problems = d.nik_problems(nik.strip(), None, None, svc.known_provinces(session))
    if segment != "pu":
        problems.append(FieldProblem("segment", "a transfer is to an employer: pu", value=segment))
    if problems:
        raise InvalidInput(problems)
    svc.check_enrolment(segment, dict(fields, npp=npp), today=requested_at.date(), valid_from=valid_from)
    svc.visible_employer(session, npp=npp, scope=scope, known_at=requested_at)
    body = {**fields, "segment": segment, "npp": npp, "valid_from": valid_from.isoformat()}
    return int(
        session.execute(
            insert(t.transfer_request)
            .values(
                nik=nik.strip(),
                npp=npp,
                request=json.dumps(body, sort_keys=True),
                requested_by=requested_by,
                requested_at=requested_at,
                status="pending",
            )
            .returning(t.transfer_request.c.id)
        ).scalar_one()
    )


def pending(session: Session, *, scope: d.Scope, known_at: dt.datetime) -> list[dict[str, Any]]:
    """The requests waiting for a decision of ``scope``: those whose worker is within it (the worker's own
    branch, or an administrator), oldest first."""
    tr = t.transfer_request
    rows = session.execute(select(tr).where(tr.c.status == "pending").order_by(tr.c.id)).mappings().all()
    out = []
    for r in rows:
        if svc.worker_visible(session, nik=r["nik"], scope=scope, known_at=known_at):
            out.append({**{k: r[k] for k in ("id", "nik", "npp", "requested_by", "requested_at")},
                        "request": json.loads(r["request"])})  # fmt: skip
    return out


def decide(
    session: Session,
    *,
    request_id: int,
    approve: bool,
    decided_by: str,
    decided_at: dt.datetime,
    scope: d.Scope,
) -> dict[str, Any]:
    """Approve (the enrolment is made, recorded by the requester) or reject a pending request. Only a scope that
    reaches the worker may decide, and never the requester; two deciding at once get one decision."""
    tr = t.transfer_request
    row = session.execute(select(tr).where(tr.c.id == request_id)).mappings().first()
    if row is None or not svc.worker_visible(session, nik=row["nik"], scope=scope, known_at=decided_at):
        raise NotFound(f"no transfer request {request_id}", request_id=request_id)
    if same_person(row["requested_by"], decided_by):
        raise Forbidden("the branch that asked cannot decide its own request", request_id=request_id)
    done = session.execute(
        update(tr)
        .where(tr.c.id == request_id, tr.c.status == "pending")
        .values(status="approved" if approve else "rejected", decided_by=decided_by, decided_at=decided_at)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RequestDecided(f"transfer request {request_id} is already decided", request_id=request_id)
    membership_id = None
    if approve:
        body = json.loads(row["request"])
        start = dt.date.fromisoformat(body.pop("valid_from"))
        membership_id = svc.enrol(
            session,
            nik=row["nik"],
            valid_from=start,
            recorded_at=decided_at,
            recorded_by=row["requested_by"],
            scope=d.EVERYTHING,  # the decider reaches the worker, the requester the employer: both were checked
            **body,
        )
        session.execute(update(tr).where(tr.c.id == request_id).values(membership_id=membership_id))
    return {"request_id": request_id, "status": "approved" if approve else "rejected", "membership_id": membership_id}

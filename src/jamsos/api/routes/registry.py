"""Registry operations: employers, workers, sponsors, projects, memberships (enrol, correct, exit, transfer),
duplicates and bulk registration files."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from starlette.datastructures import FormData

from jamsos.api import schemas as s
from jamsos.api.deps import (
    Actor,
    Audit,
    Db,
    Limit,
    Now,
    RowId,
    allowed,
    fails,
    uploads,
)
from jamsos.auth import domain as authz
from jamsos.edge import values
from jamsos.edge.http import form_file, form_table, multipart_body
from jamsos.edge.masking import redact, redact_all
from jamsos.registry import imports, transfers
from jamsos.registry import service as registry

router = APIRouter()

BULK = ("employers", "workers", "memberships")  # the files of a bulk registration


@router.post(
    "/employers", status_code=201, response_model=s.EmployerRegistered, responses=fails(409, 503), tags=["registry"]
)
def post_employer(now: Now, audit: Audit, body: s.EmployerIn, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("register_employer")
    r = registry.register_employer(
        db, scope=actor.scope, **body.model_dump(), recorded_at=now, recorded_by=actor.username
    )
    audit(actor, "register_employer", "employer", key=r.number)
    return {"npp": r.number, "va_number": r.va_number, "branch": r.branch_code}


@router.get("/employers/{npp}", response_model=s.Record, responses=fails(404), tags=["registry"])
def get_employer(
    now: Now,
    audit: Audit,
    npp: str,
    db: Db,
    actor: Actor,
    on: dt.date | None = None,
    known_at: dt.datetime | None = None,
) -> dict[str, Any]:
    actor.allow("read_employer")
    at = known_at or now
    state = registry.employer_state(db, npp=npp, on=on or at.date(), known_at=at, scope=actor.scope)
    audit(actor, "read_employer", "employer", key=npp)
    return state


@router.post(
    "/employers/{npp}/changes",
    status_code=201,
    response_model=s.EmployerVersion,
    responses=fails(404),
    tags=["registry"],
)
def post_employer_change(
    now: Now, audit: Audit, npp: str, body: s.EmployerChange, db: Db, actor: Actor
) -> dict[str, Any]:
    actor.allow("change_employer")
    changes = body.model_dump(exclude={"valid_from", "valid_to"}, exclude_none=True)
    vid = registry.change_employer(
        db,
        scope=actor.scope,
        npp=npp,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        recorded_at=now,
        recorded_by=actor.username,
        **changes,
    )
    audit(actor, "change_employer", "employer", key=npp, fields=sorted(changes))
    return {"npp": npp, "version": vid}


@router.post(
    "/workers", status_code=201, response_model=s.WorkerRegistered, responses=fails(409, 503), tags=["registry"]
)
def post_worker(now: Now, audit: Audit, body: s.WorkerIn, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("register_worker")
    r = registry.register_worker(
        db, scope=actor.scope, **body.model_dump(), recorded_at=now, recorded_by=actor.username
    )
    audit(actor, "register_worker", "worker", nik=body.nik)
    return {"nik": body.nik, "kpj": r.number, "va_number": r.va_number}


@router.get("/workers/{nik}", response_model=s.Record, responses=fails(404), tags=["registry"])
def get_worker(now: Now, audit: Audit, nik: str, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("read_worker")
    profile = registry.worker_profile(db, nik=nik, known_at=now, scope=actor.scope)
    audit(actor, "read_worker", "worker", nik=nik)
    return redact("worker", profile, actor)


@router.post("/sponsors", status_code=201, response_model=s.SponsorRegistered, responses=fails(409), tags=["registry"])
def post_sponsor(now: Now, audit: Audit, body: s.SponsorIn, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("register_sponsor")
    r = registry.register_sponsor(db, scope=actor.scope, **body.model_dump(), recorded_at=now)
    audit(actor, "register_sponsor", "sponsor", key=body.code)
    return {"sponsor": r.number, "va_number": r.va_number}


@router.post(
    "/projects", status_code=201, response_model=s.ProjectRegistered, responses=fails(404, 409), tags=["registry"]
)
def post_project(now: Now, audit: Audit, body: s.ProjectIn, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("register_project")
    r = registry.register_project(db, scope=actor.scope, **body.model_dump(), recorded_at=now)
    audit(actor, "register_project", "project", key=body.code)
    return {"project": r.number, "va_number": r.va_number}


@router.post("/memberships", status_code=201, response_model=s.Enrolled, responses=fails(404, 409), tags=["registry"])
def post_membership(now: Now, audit: Audit, body: s.MembershipIn, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("enrol")
    mid = registry.enrol(db, scope=actor.scope, **body.model_dump(), recorded_at=now, recorded_by=actor.username)
    audit(actor, "enrol", "membership", nik=body.nik, membership=mid, segment=body.segment)
    return {"membership_id": mid}


@router.post("/transfers", status_code=202, response_model=s.TransferAsked, responses=fails(), tags=["registry"])
def post_transfer(
    now: Now, audit: Audit, request: Request, body: s.MembershipIn, db: Db, actor: Actor
) -> dict[str, Any]:
    """Ask the worker's own branch to enrol a worker registered elsewhere at one of your employers (PU). The
    answer is the same whether or not the NIK is registered: the request waits for that branch."""
    actor.allow("enrol")
    fields = body.model_dump(
        exclude={"nik", "segment", "npp", "valid_from", "valid_to", "project_code", "transport"}, exclude_none=True
    )
    rid = transfers.request_transfer(
        db, nik=body.nik, segment=body.segment, npp=body.npp or "", valid_from=body.valid_from,
        requested_at=now, requested_by=actor.username, scope=actor.scope, **fields,
    )  # fmt: skip
    audit(actor, "request_transfer", "transfer", nik=body.nik, request_id=rid)
    return {"request_id": rid, "status": "pending"}


@router.get("/transfers", response_model=list[s.Record], responses=fails(), tags=["registry"])
def get_transfers(now: Now, audit: Audit, request: Request, db: Db, actor: Actor) -> list[dict[str, Any]]:
    """The requests waiting for your decision: those whose worker is within your branch."""
    actor.allow("enrol")
    rows = transfers.pending(db, scope=actor.scope, known_at=now)
    audit(actor, "read_transfers", "transfer", requests=len(rows))
    return rows


@router.post(
    "/transfers/{request_id}/{decision}", response_model=s.Record, responses=fails(404, 409), tags=["registry"]
)
def post_transfer_decision(
    now: Now,
    audit: Audit,
    request: Request,
    request_id: RowId,
    decision: Annotated[str, PathParam(pattern="^(approve|reject)$")],
    db: Db,
    actor: Actor,
) -> dict[str, Any]:
    actor.allow("enrol")
    result = transfers.decide(
        db, request_id=request_id, approve=decision == "approve", decided_by=actor.username,
        decided_at=now, scope=actor.scope,
    )  # fmt: skip
    audit(actor, f"{decision}_transfer", "transfer", key=str(request_id))
    return result


@router.post(
    "/memberships/{membership_id}/corrections",
    status_code=201,
    response_model=s.MembershipVersion,
    responses=fails(404),
    tags=["registry"],
)
def post_correction(
    now: Now, audit: Audit, membership_id: RowId, body: s.Correction, db: Db, actor: Actor
) -> dict[str, Any]:
    actor.allow("correct_membership")
    changes = body.model_dump(exclude={"valid_from", "valid_to"}, exclude_none=True)
    vid = registry.correct_membership(
        db,
        scope=actor.scope,
        membership_id=membership_id,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        recorded_at=now,
        recorded_by=actor.username,
        **changes,
    )
    audit(actor, "correct_membership", "membership", key=str(membership_id), fields=sorted(changes))
    return {"membership_id": membership_id, "version": vid}


@router.post(
    "/memberships/{membership_id}/exit",
    status_code=201,
    response_model=s.MembershipVersion,
    responses=fails(404),
    tags=["registry"],
)
def post_exit(now: Now, audit: Audit, membership_id: RowId, body: s.ExitIn, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("correct_membership")
    vid = registry.exit_membership(
        db,
        scope=actor.scope,
        membership_id=membership_id,
        exit_date=body.exit_date,
        reason=body.reason,
        recorded_at=now,
        recorded_by=actor.username,
    )
    audit(actor, "exit_membership", "membership", key=str(membership_id), reason=body.reason)
    return {"membership_id": membership_id, "version": vid}


@router.get("/memberships/{membership_id}", response_model=s.MembershipView, responses=fails(404), tags=["registry"])
def get_membership(
    now: Now,
    audit: Audit,
    membership_id: RowId,
    db: Db,
    actor: Actor,
    month: Annotated[str | None, Query(description="YYYY-MM")] = None,
    known_at: Annotated[dt.datetime | None, Query(description="what jamsos knew at this time")] = None,
) -> dict[str, Any]:
    actor.allow("read_membership")
    history = registry.membership_history(db, scope=actor.scope, membership_id=membership_id, known_at=now)
    state = None
    if month:
        state = registry.membership_state(
            db,
            scope=actor.scope,
            membership_id=membership_id,
            month=values.month(month),
            known_at=known_at or now,
        )
    audit(actor, "read_membership", "membership", key=str(membership_id))
    return {"state": state, "history": history}


@router.get("/duplicates", response_model=list[s.Record], responses=fails(), tags=["registry"])
def get_duplicates(now: Now, audit: Audit, db: Db, actor: Actor, limit: Limit = 100) -> list[dict[str, Any]]:
    actor.allow("duplicates")
    found = registry.likely_duplicates(db, scope=actor.scope, known_at=now, limit=limit)
    pairs = redact_all("duplicate", [d.__dict__ for d in found], actor)
    audit(actor, "read_duplicates", "worker", pairs=len(pairs))
    return pairs


@router.post(
    "/registry/import",
    status_code=201,
    response_model=s.Record,
    responses=fails(409, 503),
    tags=["registry"],
    openapi_extra=multipart_body(BULK),
)
def post_registry_import(
    now: Now,
    audit: Audit,
    actor: Annotated[authz.Principal, allowed("registry_import")],
    form: Annotated[FormData, uploads(BULK)],
    db: Db,
) -> dict[str, Any]:
    at = now
    result: dict[str, Any] = {}
    if form_file(form, "employers") is not None:
        table = form_table(form, "employers", "employers.csv")
        result["employers"] = imports.import_employers(
            db, scope=actor.scope, table=table, recorded_at=at, recorded_by=actor.username
        )["employers"]
    if form_file(form, "workers") is not None:
        table = form_table(form, "workers", "workers.csv")
        r = imports.import_workers(db, scope=actor.scope, table=table, recorded_at=at, recorded_by=actor.username)
        result |= {"workers": r["workers"], "already_registered": r["already_registered"]}
    if form_file(form, "memberships") is not None:
        table = form_table(form, "memberships", "memberships.csv")
        result |= imports.import_memberships(
            db, scope=actor.scope, table=table, recorded_at=at, recorded_by=actor.username
        )
    counts = {k: v for k, v in result.items() if isinstance(v, int)}
    audit(actor, "registry_import", "registry", counts=counts)
    return result

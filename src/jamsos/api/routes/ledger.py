"""Ledger operations: wage declarations, billing runs (maker–checker), payment files, reversals, statements, arrears
and active counts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData

from jamsos.api import schemas as s
from jamsos.api.deps import (
    Actor,
    Audit,
    Ctx,
    Db,
    Limit,
    Now,
    RowId,
    Rules,
    allowed,
    fails,
    uploads,
)
from jamsos.auth import domain as authz
from jamsos.edge import jobs, values
from jamsos.edge.http import form_file, form_table, form_text, multipart_body
from jamsos.edge.masking import redact_all
from jamsos.ledger import service as ledger

router = APIRouter()


@router.post(
    "/declarations",
    status_code=201,
    response_model=s.Declared,
    responses=fails(404),
    tags=["billing"],
    openapi_extra=multipart_body(("file",), ("npp", "period"), required=("file", "npp", "period")),
)
def post_declaration(
    now: Now,
    audit: Audit,
    api: Ctx,
    request: Request,
    actor: Annotated[authz.Principal, allowed("declare")],
    form: Annotated[FormData, uploads(("file",), ("npp", "period"))],
    db: Db,
) -> dict[str, Any]:
    npp, period = form_text(form, "npp"), form_text(form, "period")
    upload = form_file(form, "file")
    if upload is not None and jobs.worker_for(upload, isolate_bytes=api.settings.isolate_upload_bytes):
        values.month(period)
        return jobs.apply_in_worker(jobs.declare, upload, lambda p, n: api.job(request, actor, p, n), npp, period)
    table = form_table(form, "file", "declaration.csv")
    result = ledger.declare_wages(
        db,
        scope=actor.scope,
        npp=npp,
        period=values.month(period),
        table=table,
        recorded_at=now,
        recorded_by=actor.username,
    ).__dict__
    audit(actor, "declare_wages", "declaration", key=f"{npp}/{period}", rows=result["rows"])
    return result


@router.post("/billing-runs", status_code=201, response_model=s.RunDone, responses=fails(), tags=["billing"])
def post_run(now: Now, audit: Audit, rules: Rules, body: s.RunIn, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("billing_run")
    result = ledger.run_billing(
        db, scope=actor.scope, period=values.month(body.period), maker=actor.username, tree=rules, started_at=now
    ).to_json()
    audit(actor, "run_billing", "billing_run", key=str(result["run_id"]), period=body.period)
    return result


@router.get("/billing-runs", response_model=list[s.Record], responses=fails(), tags=["billing"])
def get_runs(db: Db, actor: Actor, period: str | None = None) -> list[dict[str, Any]]:
    actor.allow("billing_read")
    return ledger.list_runs(db, period=values.month(period) if period else None)


@router.get("/billing-runs/{run_id}", response_model=s.Record, responses=fails(404), tags=["billing"])
def get_run(now: Now, audit: Audit, run_id: RowId, db: Db, actor: Actor, limit: Limit = 1000) -> dict[str, Any]:
    actor.allow("billing_read")
    report = ledger.run_report(db, run_id=run_id, limit=limit, scope=actor.scope, known_at=now)
    audit(actor, "read_billing_run", "billing_run", key=str(run_id))
    report["exception_list"] = redact_all("exception", report["exception_list"], actor)
    return report


@router.post(
    "/billing-runs/{run_id}/approve", response_model=s.RunApproved, responses=fails(404, 409), tags=["billing"]
)
def post_approve(now: Now, audit: Audit, rules: Rules, run_id: RowId, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("billing_decide")
    result = ledger.approve_run(
        db, scope=actor.scope, run_id=run_id, checker=actor.username, tree=rules, decided_at=now
    )
    audit(actor, "approve_billing_run", "billing_run", key=str(run_id))
    return result


@router.post("/billing-runs/{run_id}/reject", response_model=s.RunRejected, responses=fails(404, 409), tags=["billing"])
def post_reject(now: Now, audit: Audit, run_id: RowId, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("billing_decide")
    result = ledger.reject_run(db, scope=actor.scope, run_id=run_id, checker=actor.username, decided_at=now)
    audit(actor, "reject_billing_run", "billing_run", key=str(run_id))
    return result


@router.post(
    "/payments/imports",
    status_code=201,
    response_model=s.PaymentsPosted,
    responses=fails(409),
    tags=["payments"],
    openapi_extra=multipart_body(("file",), required=("file",)),
)
def post_payments(
    now: Now,
    audit: Audit,
    rules: Rules,
    api: Ctx,
    request: Request,
    actor: Annotated[authz.Principal, allowed("payment_import")],
    form: Annotated[FormData, uploads(("file",))],
    db: Db,
) -> dict[str, Any]:
    upload = form_file(form, "file")
    if upload is not None and jobs.worker_for(upload, isolate_bytes=api.settings.isolate_upload_bytes):
        return jobs.apply_in_worker(jobs.payments, upload, lambda p, n: api.job(request, actor, p, n))
    table = form_table(form, "file", "payments.csv")
    result = ledger.import_payments(
        db, scope=actor.scope, table=table, tree=rules, recorded_at=now, recorded_by=actor.username
    ).to_json()
    audit(actor, "import_payments", "payment_file", key=result["file"], posted=result["posted"])
    return result


@router.post(
    "/payments/{reference:path}/reverse", response_model=s.Record, responses=fails(404, 409), tags=["payments"]
)  # a bank's reference may hold a "/"
def post_reverse(
    now: Now, audit: Audit, rules: Rules, reference: str, body: s.ReversalIn, db: Db, actor: Actor
) -> dict[str, Any]:
    actor.allow("payment_reverse")
    result = ledger.reverse_payment(
        db, scope=actor.scope, reference=reference, reason=body.reason, tree=rules, recorded_at=now
    )
    audit(actor, "reverse_payment", "payment", key=reference, reason=body.reason)
    return result


@router.get("/accounts/{va_number}", response_model=s.Record, responses=fails(404), tags=["payments"])
def get_statement(now: Now, audit: Audit, va_number: str, db: Db, actor: Actor) -> dict[str, Any]:
    actor.allow("statement")
    result = ledger.statement(db, va_number=va_number, scope=actor.scope, known_at=now)
    audit(actor, "read_statement", "account", key=va_number)
    return result


@router.get("/arrears", response_model=list[s.Record], responses=fails(), tags=["payments"])
def get_arrears(now: Now, audit: Audit, db: Db, actor: Actor, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    actor.allow("arrears")
    rows = ledger.arrears(db, as_of=as_of or now.date(), scope=actor.scope, known_at=now)
    audit(actor, "read_arrears", "account", accounts=len(rows))
    return rows


@router.get("/active/{period}", response_model=s.Record, responses=fails(), tags=["status"])
def get_active(
    now: Now, rules: Rules, period: str, db: Db, actor: Actor, cutoff: dt.date | None = None
) -> dict[str, Any]:
    actor.allow("active_counts")
    return ledger.active_counts(db, period=values.month(period), tree=rules, known_at=now, cutoff=cutoff)

"""The FastAPI application: one route per operations action; a unit of work per request."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from jamsos.api import schemas as s
from jamsos.auth import domain as authz
from jamsos.auth import service as auth
from jamsos.auth.sealer import audit_sealer
from jamsos.edge import jobs, values
from jamsos.edge.audit import Auditor, refused_request
from jamsos.edge.http import Budget, Guard, form_file, form_table, form_text, multipart_body, upload_form
from jamsos.edge.masking import redact, redact_all
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.ledger import service as ledger
from jamsos.registry import imports, reference, transfers
from jamsos.registry import service as registry
from jamsos.rules.tree import load_parameters
from jamsos.warehouse import export

log = logging.getLogger(__name__)

# One table mapping domain error codes to HTTP statuses (DESIGN §4).
HTTP_STATUS = {
    "invalid_input": 422,
    "parameter_missing": 422,
    "invalid_parameters": 500,
    "unknown_parameter": 500,
    "not_found": 404,
    "duplicate_nik": 409,
    "duplicate_membership": 409,
    "four_eyes": 403,
    "run_not_pending": 409,
    "payment_conflict": 409,
    "request_decided": 409,
    "reference_missing": 503,
    "reference_in_use": 409,
    "not_authenticated": 401,
    "login_failed": 401,
    "forbidden": 403,
    "too_many_attempts": 429,
}


def _session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the handler returns, rolled back on any error."""
    with unit_of_work(request.app.state.engine) as session:
        yield session


Db = Annotated[Session, Depends(_session)]
_bearer = HTTPBearer(auto_error=False, description="An API token from `jamsos token create USER NAME`.")


def _actor(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> authz.Principal:
    """The authenticated user, from ``Authorization: Bearer <token>``. Looked up on a connection of its own,
    returned at once: a request never holds a pooled connection while it waits for a thread (under load,
    threads waiting for connections held by requests waiting for threads deadlock the server)."""
    if credentials is None:
        raise authz.NotAuthenticated("give an API token: Authorization: Bearer <token>")
    with unit_of_work(request.app.state.engine) as session:
        actor = auth.principal_for_token(session, credentials.credentials, at=request.app.state.now())
    request.state.actor = actor  # for the record of a refused attempt
    budget = getattr(request.state, "budget", None)
    if budget is not None:
        budget.vouch("t", credentials.credentials)
    return actor


Actor = Annotated[authz.Principal, Depends(_actor)]


def allowed(action: str) -> Any:
    """The actor, once their role may take ``action``: as a dependency it runs before any body is read."""

    def check(actor: Actor) -> authz.Principal:
        actor.allow(action)
        return actor

    return Depends(check)


def uploads(files: tuple[str, ...], fields: tuple[str, ...] = (), max_files: int | None = None) -> Any:
    """An upload form as a dependency: declared after ``allowed``, it is read only for an allowed caller."""

    async def read(request: Request) -> FormData:
        return await upload_form(request, files=files, fields=fields, max_files=max_files)

    return Depends(read)


# Row ids fit the database's integers: a larger number is a 422, not a server error (found by schemathesis).
RowId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
Limit = Annotated[int, Query(ge=1, le=100_000)]

BULK = ("employers", "workers", "memberships")  # the files of a bulk registration


def confined(root: Path, given: str) -> Path:
    """A folder the API may write to: ``given`` relative to ``root`` (``JAMSOS_EXPORT_ROOT``), never outside it
    (an absolute path elsewhere or a ``..`` is refused), so an administrator's token cannot write anywhere the
    server's user can."""
    target = (root / given).resolve()
    if not target.is_relative_to(root.resolve()) or (target == root.resolve() and not given.strip("./")):
        raise InvalidInput(
            [FieldProblem("out", f"must be a folder inside the export root {root} (JAMSOS_EXPORT_ROOT)", value=given)]
        )
    return target


def _source(request: Request) -> str:
    return f"api:{request.client.host if request.client else '?'}"


def create_app(settings: Settings, clock: Callable[[], dt.datetime] | None = None, *, guard: bool = True) -> FastAPI:
    """Build the app for one store and parameter tree. ``clock`` gives transaction time (UTC). ``guard`` caps
    request bodies (the web app, which mounts this one, guards both itself)."""
    engine = make_engine(settings.effective_database_url, **settings.pool_options())
    tree = load_parameters(settings.rules_dir)
    now = values.clock(settings.clock, clock)

    pseudonym_key = settings.secret("pseudonym_key")
    audit_key = settings.secret("audit_key")
    auditor = Auditor(pseudonym_key, audit_key, now)

    def job(request: Request, actor: authz.Principal, path: Path, filename: str) -> jobs.Upload:
        """What the worker process needs to apply an upload as this request would."""
        return jobs.Upload(
            settings.effective_database_url, settings.rules_dir, pseudonym_key, audit_key, actor, _source(request),
            now(), path, filename,
        )  # fmt: skip

    def audit(
        db: Session,
        request: Request,
        actor: authz.Principal,
        action: str,
        entity: str,
        key: str | None = None,
        nik: str | None = None,
        **detail: Any,
    ) -> None:
        """Every change and every read of personal data; a person is named by a pseudonym, never the NIK."""
        auditor.record(
            db, actor=actor, action=action, entity=entity, source=_source(request), key=key, nik=nik, **detail
        )
        # The entry is the request's last write: commit here, with the change it records, so the request's
        # row locks and its connection are released at once (not when the framework tears the request down).
        db.commit()

    app = FastAPI(
        title="jamsos operations API",
        version="0.2.0",
        docs_url=None,  # /docs below serves the vendored Swagger UI: no CDN, no inline script
        redoc_url=None,
        lifespan=lambda _: audit_sealer(engine, settings.audit_seal_seconds, audit_key),  # when run on its own
        description=(
            "Registry, wage declarations, billing (maker–checker), payments, arrears and active status. Every "
            "call needs an API token (`Authorization: Bearer …`); what a token's user may do and see follows "
            "their role and scope, and a record outside the scope answers 404."
        ),
    )
    app.state.engine = engine
    app.state.now = now
    if guard:
        app.add_middleware(
            Guard,
            upload_bytes=settings.max_upload_bytes,
            body_bytes=settings.max_body_bytes,
            budget=Budget(per_user=settings.requests_per_user, per_address=settings.requests_per_address),
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        await refused_request(request, auditor, engine, source=_source(request), error=exc)
        body: dict[str, Any] = {"code": exc.code, "message": str(exc)}
        if isinstance(exc, InvalidInput):
            body["message"] = f"{exc.total} problem(s); nothing was applied"
            body["total"] = exc.total  # "problems" holds the first ones (kernel.errors.MAX_PROBLEMS)
            body["problems"] = [
                {
                    "row": p.row,
                    "field": p.field,
                    "message": p.message,
                    "value": None if p.value is None else str(p.value),
                }
                for p in exc.problems
            ]
        return JSONResponse(body, status_code=HTTP_STATUS.get(exc.code, 400))

    app.mount("/static", StaticFiles(directory=str(resources.files("jamsos.api").joinpath("static"))), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """The OpenAPI document in Swagger UI 5.32.0 (Apache-2.0), vendored in ``api/static``."""
        root = request.scope.get("root_path", "")
        return HTMLResponse(
            f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{app.title}</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="{root}/static/swagger-ui-5.32.0.css"></head>
<body><div id="swagger-ui" data-openapi="{root}{app.openapi_url}"></div>
<script src="{root}/static/swagger-ui-bundle-5.32.0.js"></script>
<script src="{root}/static/docs.js"></script></body></html>"""
        )

    @app.get("/health", tags=["system"])
    def health() -> dict[str, str]:
        return {"status": "ok", "rules": tree.fingerprint[:12]}

    @app.post("/tokens/rotate", tags=["system"])
    def rotate(
        request: Request, db: Db, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        """Replace the token this call is made with by a new one (printed once; the old one stops at once)."""
        if credentials is None:
            raise authz.NotAuthenticated("give an API token: Authorization: Bearer <token>")
        actor = _actor(request, credentials)
        new = auth.rotate_token(db, token=credentials.credentials, at=now(), days=settings.token_days)
        audit(db, request, actor, "rotate_token", "user", key=actor.username)
        return {"token": new, "expires_in_days": settings.token_days}

    @app.get("/whoami", tags=["system"])
    def whoami(actor: Actor) -> dict[str, Any]:
        return {"user": actor.username, "role": actor.role, "kanwil": actor.kanwil, "branch": actor.branch}

    # ---- reference data and warehouse (administration) ----
    @app.post("/reference", status_code=201, tags=["administration"], openapi_extra=multipart_body(("files",)))
    def post_reference(
        request: Request,
        actor: Annotated[authz.Principal, allowed("reference")],
        form: Annotated[FormData, uploads(("files",), max_files=len(reference.FILES))],
        db: Db,
    ) -> dict[str, int]:
        """Replace reference data with the uploaded CSV files (named as in docs/operations.md);
        files not uploaded keep their defaults."""
        with tempfile.TemporaryDirectory() as tmp:
            names = []
            for upload in form.getlist("files"):
                if isinstance(upload, str):
                    raise InvalidInput([FieldProblem("files", "must be files")])
                name = Path(upload.filename or "").name
                if name not in {f"{n}.csv" for n in reference.FILES}:
                    raise InvalidInput([FieldProblem("files", "unknown reference file", value=name)])
                upload.file.seek(0)
                (Path(tmp) / name).write_bytes(upload.file.read())
                names.append(name)
            result = reference.load_reference(db, Path(tmp))
        audit(db, request, actor, "load_reference", "reference", files=names)
        return result

    @app.post("/warehouse/exports", status_code=201, tags=["administration"])
    def post_export(request: Request, body: s.ExportIn, db: Db, actor: Actor) -> dict[str, Any]:
        """Write new facts to the Parquet warehouse folder on the server (incremental)."""
        actor.allow("export")
        out = confined(settings.exports, body.out)
        result = export.export(db, out=out, tree=tree, known_at=now(), pseudonym_key=pseudonym_key).to_json()
        audit(db, request, actor, "export", "warehouse", key=body.out)
        return result

    # ---- registry ----
    @app.post("/employers", status_code=201, tags=["registry"])
    def post_employer(request: Request, body: s.EmployerIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("register_employer")
        r = registry.register_employer(
            db, scope=actor.scope, **body.model_dump(), recorded_at=now(), recorded_by=actor.username
        )
        audit(db, request, actor, "register_employer", "employer", key=r.number)
        return {"npp": r.number, "va_number": r.va_number, "branch": r.branch_code}

    @app.get("/employers/{npp}", tags=["registry"])
    def get_employer(
        request: Request, npp: str, db: Db, actor: Actor, on: dt.date | None = None, known_at: dt.datetime | None = None
    ) -> dict[str, Any]:
        actor.allow("read_employer")
        at = known_at or now()
        state = registry.employer_state(db, npp=npp, on=on or at.date(), known_at=at, scope=actor.scope)
        audit(db, request, actor, "read_employer", "employer", key=npp)
        return state

    @app.post("/employers/{npp}/changes", status_code=201, tags=["registry"])
    def post_employer_change(
        request: Request, npp: str, body: s.EmployerChange, db: Db, actor: Actor
    ) -> dict[str, Any]:
        actor.allow("change_employer")
        changes = body.model_dump(exclude={"valid_from", "valid_to"}, exclude_none=True)
        vid = registry.change_employer(
            db,
            scope=actor.scope,
            npp=npp,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            recorded_at=now(),
            recorded_by=actor.username,
            **changes,
        )
        audit(db, request, actor, "change_employer", "employer", key=npp, fields=sorted(changes))
        return {"npp": npp, "version": vid}

    @app.post("/workers", status_code=201, tags=["registry"])
    def post_worker(request: Request, body: s.WorkerIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("register_worker")
        r = registry.register_worker(
            db, scope=actor.scope, **body.model_dump(), recorded_at=now(), recorded_by=actor.username
        )
        audit(db, request, actor, "register_worker", "worker", nik=body.nik)
        return {"nik": body.nik, "kpj": r.number, "va_number": r.va_number}

    @app.get("/workers/{nik}", tags=["registry"])
    def get_worker(request: Request, nik: str, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("read_worker")
        profile = registry.worker_profile(db, nik=nik, known_at=now(), scope=actor.scope)
        audit(db, request, actor, "read_worker", "worker", nik=nik)
        return redact("worker", profile, actor)

    @app.post("/sponsors", status_code=201, tags=["registry"])
    def post_sponsor(request: Request, body: s.SponsorIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("register_sponsor")
        r = registry.register_sponsor(db, scope=actor.scope, **body.model_dump(), recorded_at=now())
        audit(db, request, actor, "register_sponsor", "sponsor", key=body.code)
        return {"sponsor": r.number, "va_number": r.va_number}

    @app.post("/projects", status_code=201, tags=["registry"])
    def post_project(request: Request, body: s.ProjectIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("register_project")
        r = registry.register_project(db, scope=actor.scope, **body.model_dump(), recorded_at=now())
        audit(db, request, actor, "register_project", "project", key=body.code)
        return {"project": r.number, "va_number": r.va_number}

    @app.post("/memberships", status_code=201, tags=["registry"])
    def post_membership(request: Request, body: s.MembershipIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("enrol")
        mid = registry.enrol(db, scope=actor.scope, **body.model_dump(), recorded_at=now(), recorded_by=actor.username)
        audit(db, request, actor, "enrol", "membership", nik=body.nik, membership=mid, segment=body.segment)
        return {"membership_id": mid}

    @app.post("/transfers", status_code=202, tags=["registry"])
    def post_transfer(request: Request, body: s.MembershipIn, db: Db, actor: Actor) -> dict[str, Any]:
        """Ask the worker's own branch to enrol a worker registered elsewhere at one of your employers (PU). The
        answer is the same whether or not the NIK is registered: the request waits for that branch."""
        actor.allow("enrol")
        fields = body.model_dump(
            exclude={"nik", "segment", "npp", "valid_from", "valid_to", "project_code", "transport"}, exclude_none=True
        )
        rid = transfers.request_transfer(
            db, nik=body.nik, segment=body.segment, npp=body.npp or "", valid_from=body.valid_from,
            requested_at=now(), requested_by=actor.username, scope=actor.scope, **fields,
        )  # fmt: skip
        audit(db, request, actor, "request_transfer", "transfer", nik=body.nik, request_id=rid)
        return {"request_id": rid, "status": "pending"}

    @app.get("/transfers", tags=["registry"])
    def get_transfers(request: Request, db: Db, actor: Actor) -> list[dict[str, Any]]:
        """The requests waiting for your decision: those whose worker is within your branch."""
        actor.allow("enrol")
        rows = transfers.pending(db, scope=actor.scope, known_at=now())
        audit(db, request, actor, "read_transfers", "transfer", requests=len(rows))
        return rows

    @app.post("/transfers/{request_id}/{decision}", tags=["registry"])
    def post_transfer_decision(
        request: Request,
        request_id: RowId,
        decision: Annotated[str, PathParam(pattern="^(approve|reject)$")],
        db: Db,
        actor: Actor,
    ) -> dict[str, Any]:
        actor.allow("enrol")
        result = transfers.decide(
            db, request_id=request_id, approve=decision == "approve", decided_by=actor.username,
            decided_at=now(), scope=actor.scope,
        )  # fmt: skip
        audit(db, request, actor, f"{decision}_transfer", "transfer", key=str(request_id))
        return result

    @app.post("/memberships/{membership_id}/corrections", status_code=201, tags=["registry"])
    def post_correction(
        request: Request, membership_id: RowId, body: s.Correction, db: Db, actor: Actor
    ) -> dict[str, Any]:
        actor.allow("correct_membership")
        changes = body.model_dump(exclude={"valid_from", "valid_to"}, exclude_none=True)
        vid = registry.correct_membership(
            db,
            scope=actor.scope,
            membership_id=membership_id,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            recorded_at=now(),
            recorded_by=actor.username,
            **changes,
        )
        audit(db, request, actor, "correct_membership", "membership", key=str(membership_id), fields=sorted(changes))
        return {"membership_id": membership_id, "version": vid}

    @app.post("/memberships/{membership_id}/exit", status_code=201, tags=["registry"])
    def post_exit(request: Request, membership_id: RowId, body: s.ExitIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("correct_membership")
        vid = registry.exit_membership(
            db,
            scope=actor.scope,
            membership_id=membership_id,
            exit_date=body.exit_date,
            reason=body.reason,
            recorded_at=now(),
            recorded_by=actor.username,
        )
        audit(db, request, actor, "exit_membership", "membership", key=str(membership_id), reason=body.reason)
        return {"membership_id": membership_id, "version": vid}

    @app.get("/memberships/{membership_id}", tags=["registry"])
    def get_membership(
        request: Request,
        membership_id: RowId,
        db: Db,
        actor: Actor,
        month: Annotated[str | None, Query(description="YYYY-MM")] = None,
        known_at: Annotated[dt.datetime | None, Query(description="what jamsos knew at this time")] = None,
    ) -> dict[str, Any]:
        actor.allow("read_membership")
        history = registry.membership_history(db, scope=actor.scope, membership_id=membership_id, known_at=now())
        state = None
        if month:
            state = registry.membership_state(
                db,
                scope=actor.scope,
                membership_id=membership_id,
                month=values.month(month),
                known_at=known_at or now(),
            )
        audit(db, request, actor, "read_membership", "membership", key=str(membership_id))
        return {"state": state, "history": history}

    @app.get("/duplicates", tags=["registry"])
    def get_duplicates(request: Request, db: Db, actor: Actor, limit: Limit = 100) -> list[dict[str, Any]]:
        actor.allow("duplicates")
        found = registry.likely_duplicates(db, scope=actor.scope, known_at=now(), limit=limit)
        pairs = redact_all("duplicate", [d.__dict__ for d in found], actor)
        audit(db, request, actor, "read_duplicates", "worker", pairs=len(pairs))
        return pairs

    @app.post("/registry/import", status_code=201, tags=["registry"], openapi_extra=multipart_body(BULK))
    def post_registry_import(
        request: Request,
        actor: Annotated[authz.Principal, allowed("registry_import")],
        form: Annotated[FormData, uploads(BULK)],
        db: Db,
    ) -> dict[str, Any]:
        at = now()
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
        audit(db, request, actor, "registry_import", "registry", counts=counts)
        return result

    # ---- billing ----
    @app.post(
        "/declarations",
        status_code=201,
        tags=["billing"],
        openapi_extra=multipart_body(("file",), ("npp", "period"), required=("file", "npp", "period")),
    )
    def post_declaration(
        request: Request,
        actor: Annotated[authz.Principal, allowed("declare")],
        form: Annotated[FormData, uploads(("file",), ("npp", "period"))],
        db: Db,
    ) -> dict[str, Any]:
        npp, period = form_text(form, "npp"), form_text(form, "period")
        upload = form_file(form, "file")
        if upload is not None and jobs.worker_for(upload, isolate_bytes=settings.isolate_upload_bytes):
            values.month(period)
            return jobs.apply_in_worker(jobs.declare, upload, lambda p, n: job(request, actor, p, n), npp, period)
        table = form_table(form, "file", "declaration.csv")
        result = ledger.declare_wages(
            db,
            scope=actor.scope,
            npp=npp,
            period=values.month(period),
            table=table,
            recorded_at=now(),
            recorded_by=actor.username,
        ).__dict__
        audit(db, request, actor, "declare_wages", "declaration", key=f"{npp}/{period}", rows=result["rows"])
        return result

    @app.post("/billing-runs", status_code=201, tags=["billing"])
    def post_run(request: Request, body: s.RunIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("billing_run")
        result = ledger.run_billing(
            db, scope=actor.scope, period=values.month(body.period), maker=actor.username, tree=tree, started_at=now()
        ).to_json()
        audit(db, request, actor, "run_billing", "billing_run", key=str(result["run_id"]), period=body.period)
        return result

    @app.get("/billing-runs", tags=["billing"])
    def get_runs(db: Db, actor: Actor, period: str | None = None) -> list[dict[str, Any]]:
        actor.allow("billing_read")
        return ledger.list_runs(db, period=values.month(period) if period else None)

    @app.get("/billing-runs/{run_id}", tags=["billing"])
    def get_run(request: Request, run_id: RowId, db: Db, actor: Actor, limit: Limit = 1000) -> dict[str, Any]:
        actor.allow("billing_read")
        report = ledger.run_report(db, run_id=run_id, limit=limit, scope=actor.scope, known_at=now())
        audit(db, request, actor, "read_billing_run", "billing_run", key=str(run_id))
        report["exception_list"] = redact_all("exception", report["exception_list"], actor)
        return report

    @app.post("/billing-runs/{run_id}/approve", tags=["billing"])
    def post_approve(request: Request, run_id: RowId, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("billing_decide")
        result = ledger.approve_run(
            db, scope=actor.scope, run_id=run_id, checker=actor.username, tree=tree, decided_at=now()
        )
        audit(db, request, actor, "approve_billing_run", "billing_run", key=str(run_id))
        return result

    @app.post("/billing-runs/{run_id}/reject", tags=["billing"])
    def post_reject(request: Request, run_id: RowId, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("billing_decide")
        result = ledger.reject_run(db, scope=actor.scope, run_id=run_id, checker=actor.username, decided_at=now())
        audit(db, request, actor, "reject_billing_run", "billing_run", key=str(run_id))
        return result

    # ---- payments ----
    @app.post(
        "/payments/imports",
        status_code=201,
        tags=["payments"],
        openapi_extra=multipart_body(("file",), required=("file",)),
    )
    def post_payments(
        request: Request,
        actor: Annotated[authz.Principal, allowed("payment_import")],
        form: Annotated[FormData, uploads(("file",))],
        db: Db,
    ) -> dict[str, Any]:
        upload = form_file(form, "file")
        if upload is not None and jobs.worker_for(upload, isolate_bytes=settings.isolate_upload_bytes):
            return jobs.apply_in_worker(jobs.payments, upload, lambda p, n: job(request, actor, p, n))
        table = form_table(form, "file", "payments.csv")
        result = ledger.import_payments(
            db, scope=actor.scope, table=table, tree=tree, recorded_at=now(), recorded_by=actor.username
        ).to_json()
        audit(db, request, actor, "import_payments", "payment_file", key=result["file"], posted=result["posted"])
        return result

    @app.post("/payments/{reference:path}/reverse", tags=["payments"])  # a bank's reference may hold a "/"
    def post_reverse(request: Request, reference: str, body: s.ReversalIn, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("payment_reverse")
        result = ledger.reverse_payment(
            db, scope=actor.scope, reference=reference, reason=body.reason, tree=tree, recorded_at=now()
        )
        audit(db, request, actor, "reverse_payment", "payment", key=reference, reason=body.reason)
        return result

    @app.get("/accounts/{va_number}", tags=["payments"])
    def get_statement(request: Request, va_number: str, db: Db, actor: Actor) -> dict[str, Any]:
        actor.allow("statement")
        result = ledger.statement(db, va_number=va_number, scope=actor.scope, known_at=now())
        audit(db, request, actor, "read_statement", "account", key=va_number)
        return result

    @app.get("/arrears", tags=["payments"])
    def get_arrears(request: Request, db: Db, actor: Actor, as_of: dt.date | None = None) -> list[dict[str, Any]]:
        actor.allow("arrears")
        rows = ledger.arrears(db, as_of=as_of or now().date(), scope=actor.scope, known_at=now())
        audit(db, request, actor, "read_arrears", "account", accounts=len(rows))
        return rows

    @app.get("/active/{period}", tags=["status"])
    def get_active(period: str, db: Db, actor: Actor, cutoff: dt.date | None = None) -> dict[str, Any]:
        actor.allow("active_counts")
        return ledger.active_counts(db, period=values.month(period), tree=tree, known_at=now(), cutoff=cutoff)

    return app


def app_from_environment() -> FastAPI:
    """The app configured from JAMSOS_* settings (used by ``jamsos serve`` and ``uvicorn --factory``)."""
    from jamsos.infra.settings import load_settings

    return create_app(load_settings())

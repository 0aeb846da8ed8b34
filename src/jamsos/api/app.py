"""The FastAPI application: one route per operations action; a unit of work per request."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from jamsos.api import schemas as s
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.files import read_table
from jamsos.infra.settings import Settings
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.ledger import service as ledger
from jamsos.registry import imports, reference
from jamsos.registry import service as registry
from jamsos.rules.tree import load_parameters
from jamsos.warehouse import export

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
    "reference_missing": 503,
    "reference_in_use": 409,
}


def _session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the handler returns, rolled back on any error."""
    with unit_of_work(request.app.state.engine) as session:
        yield session


Db = Annotated[Session, Depends(_session)]


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise InvalidInput([FieldProblem("period", str(exc), value=text)]) from None


def create_app(settings: Settings, clock: Callable[[], dt.datetime] | None = None) -> FastAPI:
    """Build the app for one store and parameter tree. ``clock`` gives transaction time (UTC)."""
    engine = make_engine(settings.effective_database_url)
    tree = load_parameters(settings.rules_dir)
    fixed = settings.clock

    def now() -> dt.datetime:
        if clock is not None:
            return clock()
        return fixed if fixed is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)

    app = FastAPI(
        title="jamsos operations API",
        version="0.1.0",
        description="Registry, wage declarations, billing (maker–checker), payments, arrears and active status.",
    )
    app.state.engine = engine

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        body: dict[str, Any] = {"code": exc.code, "message": str(exc)}
        if isinstance(exc, InvalidInput):
            body["message"] = f"{len(exc.problems)} problem(s); nothing was applied"
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

    @app.get("/health", tags=["system"])
    def health() -> dict[str, str]:
        return {"status": "ok", "rules": tree.fingerprint[:12]}

    # ---- reference data and warehouse (administration) ----
    @app.post("/reference", status_code=201, tags=["administration"])
    async def post_reference(db: Db, files: list[UploadFile] | None = File(None)) -> dict[str, int]:
        """Replace reference data with the uploaded CSV files (named as in docs/operations.md);
        files not uploaded keep their defaults."""
        with tempfile.TemporaryDirectory() as tmp:
            for upload in files or []:
                name = Path(upload.filename or "").name
                if name not in {f"{n}.csv" for n in reference.FILES}:
                    raise InvalidInput([FieldProblem("files", "unknown reference file", value=name)])
                (Path(tmp) / name).write_bytes(await upload.read())
            return reference.load_reference(db, Path(tmp))

    @app.post("/warehouse/exports", status_code=201, tags=["administration"])
    def post_export(body: s.ExportIn, db: Db) -> dict[str, Any]:
        """Write new facts to the Parquet warehouse folder on the server (incremental)."""
        return export.export(db, out=Path(body.out), tree=tree, known_at=now()).to_json()

    # ---- registry ----
    @app.post("/employers", status_code=201, tags=["registry"])
    def post_employer(body: s.EmployerIn, db: Db) -> dict[str, Any]:
        r = registry.register_employer(
            db, **body.model_dump(exclude={"user"}), recorded_at=now(), recorded_by=body.user
        )
        return {"npp": r.number, "va_number": r.va_number, "branch": r.branch_code}

    @app.get("/employers/{npp}", tags=["registry"])
    def get_employer(
        npp: str, db: Db, on: dt.date | None = None, known_at: dt.datetime | None = None
    ) -> dict[str, Any]:
        at = known_at or now()
        return registry.employer_state(db, npp=npp, on=on or at.date(), known_at=at)

    @app.post("/employers/{npp}/changes", status_code=201, tags=["registry"])
    def post_employer_change(npp: str, body: s.EmployerChange, db: Db) -> dict[str, Any]:
        changes = body.model_dump(exclude={"user", "valid_from", "valid_to"}, exclude_none=True)
        vid = registry.change_employer(
            db,
            npp=npp,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            recorded_at=now(),
            recorded_by=body.user,
            **changes,
        )
        return {"npp": npp, "version": vid}

    @app.post("/workers", status_code=201, tags=["registry"])
    def post_worker(body: s.WorkerIn, db: Db) -> dict[str, Any]:
        r = registry.register_worker(db, **body.model_dump(exclude={"user"}), recorded_at=now(), recorded_by=body.user)
        return {"nik": body.nik, "kpj": r.number, "va_number": r.va_number}

    @app.get("/workers/{nik}", tags=["registry"])
    def get_worker(nik: str, db: Db) -> dict[str, Any]:
        return registry.worker_profile(db, nik=nik, known_at=now())

    @app.post("/sponsors", status_code=201, tags=["registry"])
    def post_sponsor(body: s.SponsorIn, db: Db) -> dict[str, Any]:
        r = registry.register_sponsor(db, **body.model_dump(), recorded_at=now())
        return {"sponsor": r.number, "va_number": r.va_number}

    @app.post("/projects", status_code=201, tags=["registry"])
    def post_project(body: s.ProjectIn, db: Db) -> dict[str, Any]:
        r = registry.register_project(db, **body.model_dump(), recorded_at=now())
        return {"project": r.number, "va_number": r.va_number}

    @app.post("/memberships", status_code=201, tags=["registry"])
    def post_membership(body: s.MembershipIn, db: Db) -> dict[str, Any]:
        mid = registry.enrol(db, **body.model_dump(exclude={"user"}), recorded_at=now(), recorded_by=body.user)
        return {"membership_id": mid}

    @app.post("/memberships/{membership_id}/corrections", status_code=201, tags=["registry"])
    def post_correction(membership_id: int, body: s.Correction, db: Db) -> dict[str, Any]:
        changes = body.model_dump(exclude={"user", "valid_from", "valid_to"}, exclude_none=True)
        vid = registry.correct_membership(
            db,
            membership_id=membership_id,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            recorded_at=now(),
            recorded_by=body.user,
            **changes,
        )
        return {"membership_id": membership_id, "version": vid}

    @app.post("/memberships/{membership_id}/exit", status_code=201, tags=["registry"])
    def post_exit(membership_id: int, body: s.ExitIn, db: Db) -> dict[str, Any]:
        vid = registry.exit_membership(
            db,
            membership_id=membership_id,
            exit_date=body.exit_date,
            reason=body.reason,
            recorded_at=now(),
            recorded_by=body.user,
        )
        return {"membership_id": membership_id, "version": vid}

    @app.get("/memberships/{membership_id}", tags=["registry"])
    def get_membership(
        membership_id: int,
        db: Db,
        month: Annotated[str | None, Query(description="YYYY-MM")] = None,
        known_at: Annotated[dt.datetime | None, Query(description="what jamsos knew at this time")] = None,
    ) -> dict[str, Any]:
        history = registry.membership_history(db, membership_id=membership_id)
        state = None
        if month:
            state = registry.membership_state(
                db, membership_id=membership_id, month=_period(month), known_at=known_at or now()
            )
        return {"state": state, "history": history}

    @app.get("/duplicates", tags=["registry"])
    def get_duplicates(db: Db, limit: int = 100) -> list[dict[str, Any]]:
        return [d.__dict__ for d in registry.likely_duplicates(db, known_at=now(), limit=limit)]

    @app.post("/registry/import", status_code=201, tags=["registry"])
    async def post_registry_import(
        db: Db,
        employers: UploadFile | None = File(None),
        workers: UploadFile | None = File(None),
        memberships: UploadFile | None = File(None),
        user: str = Form("api"),
    ) -> dict[str, Any]:
        at = now()
        result: dict[str, Any] = {}
        if employers is not None:
            table = read_table(await employers.read(), employers.filename or "employers.csv")
            result["employers"] = imports.import_employers(db, table=table, recorded_at=at, recorded_by=user)[
                "employers"
            ]
        if workers is not None:
            table = read_table(await workers.read(), workers.filename or "workers.csv")
            r = imports.import_workers(db, table=table, recorded_at=at, recorded_by=user)
            result |= {"workers": r["workers"], "already_registered": r["already_registered"]}
        if memberships is not None:
            table = read_table(await memberships.read(), memberships.filename or "memberships.csv")
            result |= imports.import_memberships(db, table=table, recorded_at=at, recorded_by=user)
        return result

    # ---- billing ----
    @app.post("/declarations", status_code=201, tags=["billing"])
    async def post_declaration(
        db: Db, npp: str = Form(...), period: str = Form(...), file: UploadFile = File(...), user: str = Form("api")
    ) -> dict[str, Any]:
        table = read_table(await file.read(), file.filename or "declaration.csv")
        return ledger.declare_wages(
            db, npp=npp, period=_period(period), table=table, recorded_at=now(), recorded_by=user
        ).__dict__

    @app.post("/billing-runs", status_code=201, tags=["billing"])
    def post_run(body: s.RunIn, db: Db) -> dict[str, Any]:
        return ledger.run_billing(
            db, period=_period(body.period), maker=body.maker, tree=tree, started_at=now()
        ).to_json()

    @app.get("/billing-runs", tags=["billing"])
    def get_runs(db: Db, period: str | None = None) -> list[dict[str, Any]]:
        return ledger.list_runs(db, period=_period(period) if period else None)

    @app.get("/billing-runs/{run_id}", tags=["billing"])
    def get_run(run_id: int, db: Db, limit: int = 1000) -> dict[str, Any]:
        return ledger.run_report(db, run_id=run_id, limit=limit)

    @app.post("/billing-runs/{run_id}/approve", tags=["billing"])
    def post_approve(run_id: int, body: s.Decision, db: Db) -> dict[str, Any]:
        return ledger.approve_run(db, run_id=run_id, checker=body.checker, tree=tree, decided_at=now())

    @app.post("/billing-runs/{run_id}/reject", tags=["billing"])
    def post_reject(run_id: int, body: s.Decision, db: Db) -> dict[str, Any]:
        return ledger.reject_run(db, run_id=run_id, checker=body.checker, decided_at=now())

    # ---- payments ----
    @app.post("/payments/imports", status_code=201, tags=["payments"])
    async def post_payments(db: Db, file: UploadFile = File(...), user: str = Form("api")) -> dict[str, Any]:
        table = read_table(await file.read(), file.filename or "payments.csv")
        return ledger.import_payments(db, table=table, tree=tree, recorded_at=now(), recorded_by=user).to_json()

    @app.post("/payments/{reference}/reverse", tags=["payments"])
    def post_reverse(reference: str, body: s.ReversalIn, db: Db) -> dict[str, Any]:
        return ledger.reverse_payment(db, reference=reference, reason=body.reason, tree=tree, recorded_at=now())

    @app.get("/accounts/{va_number}", tags=["payments"])
    def get_statement(va_number: str, db: Db) -> dict[str, Any]:
        return ledger.statement(db, va_number=va_number)

    @app.get("/arrears", tags=["payments"])
    def get_arrears(db: Db, as_of: dt.date | None = None) -> list[dict[str, Any]]:
        return ledger.arrears(db, as_of=as_of or now().date())

    @app.get("/active/{period}", tags=["status"])
    def get_active(period: str, db: Db, cutoff: dt.date | None = None) -> dict[str, Any]:
        return ledger.active_counts(db, period=_period(period), tree=tree, known_at=now(), cutoff=cutoff)

    return app


def app_from_environment() -> FastAPI:
    """The app configured from JAMSOS_* settings (used by ``jamsos serve`` and ``uvicorn --factory``)."""
    from jamsos.infra.settings import load_settings

    return create_app(load_settings())

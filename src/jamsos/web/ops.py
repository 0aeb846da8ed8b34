"""The operations screens: lookup, worker registration (the NIK checked as it is typed), wage declarations,
billing runs with their exception list and approval, payment imports. Each action is one unit of work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.ledger import service as ledger
from jamsos.registry import domain as registry_domain
from jamsos.registry import service as registry
from jamsos.web.labels import t
from jamsos.web.render import TEMPLATES, Page, context, link, page_response
from jamsos.web.tables import Column, Table

router = APIRouter(prefix="/ops")


def _session(request: Request) -> Iterator[Session]:
    with unit_of_work(request.app.state.engine) as session:
        yield session


Db = Annotated[Session, Depends(_session)]


def _now(request: Request) -> dt.datetime:
    clock = request.app.state.clock
    return clock() if clock is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _problems(exc: DomainError) -> list[dict[str, Any]]:
    if isinstance(exc, InvalidInput):
        return [
            {"row": p.row, "field": p.field, "message": p.message, "value": None if p.value is None else str(p.value)}
            for p in exc.problems
        ]
    return [{"row": None, "field": "", "message": str(exc), "value": None}]


def _problem_table(lang: str, problems: list[dict[str, Any]]) -> Table:
    return Table(
        "kesalahan",
        t(lang, "errors"),
        [Column("row", "int"), Column("field"), Column("message"), Column("value")],
        problems,
        downloadable=False,
    )


def _form_page(
    request: Request, template: str, *, problems: list[dict[str, Any]] | None = None, **extra: Any
) -> Response:
    tables = [_problem_table(request.state.lang, problems)] if problems else []
    page = Page("ops", template, tables=tables, extra={"problems": problems or [], **extra})
    status = 422 if problems else 200
    return TEMPLATES.TemplateResponse(request, template, context(request, page), status_code=status)


@router.get("")
def lookup(request: Request, db: Db, q: str = "") -> Response:
    lang = request.state.lang
    rows = registry.search(db, text=q, known_at=_now(request)) if q else []
    for r in rows:
        r["kind_label"] = t(lang, f"kind_{r['kind']}")
        r["id"] = r.get("nik") or r.get("npp")
        r["href"] = f"/ops/pekerja/{r['nik']}" if r["kind"] == "worker" else f"/ops/pemberi-kerja/{r['npp']}"
    table = Table(
        "hasil",
        t(lang, "lookup"),
        [
            Column("kind_label", label="kind"),
            Column("id", label="id", link="{href}"),
            Column("kpj"),
            Column("name"),
            Column("regency_code"),
        ],
        rows,
    )
    return page_response(request, Page("ops", "ops_lookup.html", tables=[table], extra={"q": q, "searched": bool(q)}))


@router.get("/pekerja/{nik}")
def worker(request: Request, nik: str, db: Db) -> Response:
    lang = request.state.lang
    profile = registry.worker_profile(db, nik=nik, known_at=_now(request))
    table = Table(
        "kepesertaan",
        t(lang, "memberships"),
        [Column("id"), Column("segment"), Column("npp"), Column("project")],
        profile.pop("memberships"),
    )
    fields = [
        (k, v)
        for k, v in profile.items()
        if k in ("nik", "kpj", "name", "birth_date", "sex", "regency_code", "va_number")
    ]
    return page_response(
        request, Page("ops", "ops_record.html", tables=[table], extra={"fields": fields, "title": profile.get("name")})
    )


@router.get("/pemberi-kerja/{npp}")
def employer(request: Request, npp: str, db: Db) -> Response:
    at = _now(request)
    state = registry.employer_state(db, npp=npp, on=at.date(), known_at=at)
    skip = {"employer_id", "id", "valid_to", "recorded_to", "recorded_by", "recorded_at"}
    fields = [(k, v) for k, v in state.items() if k not in skip]
    return page_response(request, Page("ops", "ops_record.html", extra={"fields": fields, "title": state.get("name")}))


@router.get("/validasi/nik", response_class=HTMLResponse)
def validate_nik(request: Request, nik: str = "") -> HTMLResponse:
    """The NIK checked as the user types (htmx): shape, date and region by python-stdnum."""
    lang = request.state.lang
    nik = nik.strip()
    if not nik:
        return HTMLResponse("")
    problems = registry_domain.nik_problems(nik, None, None)
    if problems:
        text = "; ".join(p.message for p in problems)
        return HTMLResponse(f'<span class="bad" data-testid="nik-check">✗ {_escape(text)}</span>')
    birth = registry_domain.birth_date_from_nik(nik, _now(request).date())
    sex = t(lang, "female" if registry_domain.sex_from_nik(nik) == "F" else "male")
    msg = t(lang, "nik_ok", birth=birth.isoformat(), sex=sex)
    return HTMLResponse(f'<span class="good" data-testid="nik-check">✓ {_escape(msg)}</span>')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@router.get("/daftar")
def register_form(request: Request) -> Response:
    return _form_page(request, "ops_register.html", values={})


@router.post("/daftar")
def register(
    request: Request,
    db: Db,
    nik: Annotated[str, Form()],
    name: Annotated[str, Form()],
    valid_from: Annotated[str, Form()],
    regency_code: Annotated[str, Form()] = "",
    user: Annotated[str, Form()] = "web",
) -> Response:
    values = {"nik": nik, "name": name, "valid_from": valid_from, "regency_code": regency_code, "user": user}
    try:
        try:
            start = dt.date.fromisoformat(valid_from)
        except ValueError:
            raise InvalidInput([FieldProblem("valid_from", "must be a date YYYY-MM-DD", value=valid_from)]) from None
        with db.begin_nested():
            registry.register_worker(
                db,
                nik=nik.strip(),
                name=name.strip(),
                valid_from=start,
                regency_code=regency_code.strip() or None,
                recorded_at=_now(request),
                recorded_by=user or "web",
            )
    except DomainError as exc:
        return _form_page(request, "ops_register.html", problems=_problems(exc), values=values)
    return RedirectResponse(link(request, f"/ops?q={nik.strip()}"), status_code=303)


@router.get("/daftar-pemberi-kerja")
def employer_form(request: Request) -> Response:
    return _form_page(request, "ops_employer.html", values={}, **_employer_choices())


def _employer_choices() -> dict[str, Any]:
    return {"legal_forms": registry_domain.LEGAL_FORMS, "sizes": ("mikro", "kecil", "menengah", "besar")}


@router.post("/daftar-pemberi-kerja")
def register_employer(
    request: Request,
    db: Db,
    name: Annotated[str, Form()],
    legal_form: Annotated[str, Form()],
    sector: Annotated[str, Form()],
    size_class: Annotated[str, Form()],
    regency_code: Annotated[str, Form()],
    valid_from: Annotated[str, Form()],
    user: Annotated[str, Form()] = "web",
) -> Response:
    values = {
        "name": name,
        "legal_form": legal_form,
        "sector": sector,
        "size_class": size_class,
        "regency_code": regency_code,
        "valid_from": valid_from,
        "user": user,
    }
    try:
        try:
            start = dt.date.fromisoformat(valid_from)
        except ValueError:
            raise InvalidInput([FieldProblem("valid_from", "must be a date YYYY-MM-DD", value=valid_from)]) from None
        with db.begin_nested():
            r = registry.register_employer(
                db,
                name=name.strip(),
                legal_form=legal_form,
                sector=sector.strip().upper(),
                size_class=size_class,
                regency_code=regency_code.strip(),
                valid_from=start,
                recorded_at=_now(request),
                recorded_by=user or "web",
            )
    except DomainError as exc:
        return _form_page(request, "ops_employer.html", problems=_problems(exc), values=values, **_employer_choices())
    return RedirectResponse(link(request, f"/ops/pemberi-kerja/{r.number}"), status_code=303)


@router.get("/upah")
def declare_form(request: Request) -> Response:
    return _form_page(request, "ops_declare.html", values={})


@router.post("/upah")
async def declare(
    request: Request,
    db: Db,
    npp: Annotated[str, Form()],
    period: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    user: Annotated[str, Form()] = "web",
) -> Response:
    values = {"npp": npp, "period": period, "user": user}
    try:
        try:
            month = Period.parse(period)
        except ValueError:
            raise InvalidInput([FieldProblem("period", "must be a month YYYY-MM", value=period)]) from None
        table = read_table(await file.read(), file.filename or "upah.csv")
        with db.begin_nested():
            result = ledger.declare_wages(
                db, npp=npp.strip(), period=month, table=table, recorded_at=_now(request), recorded_by=user or "web"
            )
    except DomainError as exc:
        return _form_page(request, "ops_declare.html", problems=_problems(exc), values=values)
    return _form_page(request, "ops_declare.html", values=values, result=result.__dict__)


@router.get("/tagihan")
def runs(request: Request, db: Db) -> Response:
    lang = request.state.lang
    rows = ledger.list_runs(db)
    table = Table(
        "tagihan",
        t(lang, "billing"),
        [
            Column("id", link="/ops/tagihan/{id}"),
            Column("period", label="period_col"),
            Column("status"),
            Column("maker"),
            Column("checker"),
        ],
        rows,
    )
    return page_response(request, Page("ops", "ops_runs.html", tables=[table], extra={"problems": []}))


@router.post("/tagihan")
def start_run(request: Request, db: Db, period: Annotated[str, Form()], maker: Annotated[str, Form()]) -> Response:
    try:
        try:
            month = Period.parse(period)
        except ValueError:
            raise InvalidInput([FieldProblem("period", "must be a month YYYY-MM", value=period)]) from None
        with db.begin_nested():
            run = ledger.run_billing(
                db, period=month, maker=maker, tree=request.app.state.tree, started_at=_now(request)
            )
    except DomainError as exc:
        return _form_page(request, "ops_runs.html", problems=_problems(exc))
    return RedirectResponse(link(request, f"/ops/tagihan/{run.to_json()['run_id']}"), status_code=303)


@router.get("/tagihan/{run_id}")
def run_detail(request: Request, run_id: int, db: Db) -> Response:
    lang = request.state.lang
    report = ledger.run_report(db, run_id=run_id)
    exceptions = report.pop("exception_list")
    table = Table(
        "pengecualian",
        t(lang, "exceptions"),
        [Column("code"), Column("message"), Column("nik"), Column("npp"), Column("membership_id")],
        exceptions,
    )
    return page_response(request, Page("ops", "ops_run.html", tables=[table], extra={"run": report, "problems": []}))


@router.post("/tagihan/{run_id}/{decision}")
def decide(request: Request, run_id: int, decision: str, db: Db, checker: Annotated[str, Form()]) -> Response:
    try:
        with db.begin_nested():
            if decision == "setujui":
                ledger.approve_run(
                    db, run_id=run_id, checker=checker, tree=request.app.state.tree, decided_at=_now(request)
                )
            elif decision == "tolak":
                ledger.reject_run(db, run_id=run_id, checker=checker, decided_at=_now(request))
            else:
                raise InvalidInput([FieldProblem("decision", "must be setujui or tolak", value=decision)])
    except DomainError as exc:
        lang = request.state.lang
        report = ledger.run_report(db, run_id=run_id)
        exceptions = report.pop("exception_list")
        table = Table("pengecualian", t(lang, "exceptions"), [Column("code"), Column("message")], exceptions)
        problems = _problems(exc)
        page = Page(
            "ops",
            "ops_run.html",
            tables=[table, _problem_table(lang, problems)],
            extra={"run": report, "problems": problems},
        )
        return TEMPLATES.TemplateResponse(request, "ops_run.html", context(request, page), status_code=409)
    return RedirectResponse(link(request, f"/ops/tagihan/{run_id}"), status_code=303)


@router.get("/bayar")
def payments_form(request: Request) -> Response:
    return _form_page(request, "ops_payments.html", values={})


@router.post("/bayar")
async def payments(
    request: Request, db: Db, file: Annotated[UploadFile, File()], user: Annotated[str, Form()] = "web"
) -> Response:
    try:
        table = read_table(await file.read(), file.filename or "bank.csv")
        with db.begin_nested():
            result = ledger.import_payments(
                db, table=table, tree=request.app.state.tree, recorded_at=_now(request), recorded_by=user or "web"
            )
    except DomainError as exc:
        return _form_page(request, "ops_payments.html", problems=_problems(exc), values={"user": user})
    return _form_page(request, "ops_payments.html", values={"user": user}, result=result.to_json())

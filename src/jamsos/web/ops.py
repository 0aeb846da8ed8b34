"""The operations screens: lookup, worker registration (the NIK checked as it is typed), wage declarations,
billing runs with their exception list and approval, payment imports. Each action is one unit of work."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from jamsos.auth import domain as authz
from jamsos.edge import jobs
from jamsos.edge.http import form_file, form_table
from jamsos.edge.masking import redact, redact_all, redact_hits
from jamsos.edge.problems import refusal
from jamsos.edge.values import day as read_day
from jamsos.edge.values import month as read_month
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.ledger import service as ledger
from jamsos.registry import domain as registry_domain
from jamsos.registry import service as registry
from jamsos.rules import codes as c
from jamsos.web.labels import t
from jamsos.web.render import TEMPLATES, Page, context, link, page_response
from jamsos.web.security import Csrf, Db, Who, allowed, source_of, uploads
from jamsos.web.tables import Column, Table

router = APIRouter(prefix="/ops")


def _audit(
    db: Session,
    request: Request,
    who: authz.Principal,
    action: str,
    entity: str,
    *,
    key: str | None = None,
    nik: str | None = None,
    **detail: Any,
) -> None:
    """Every change and every read of personal data, a person named by a pseudonym (never the NIK)."""
    request.app.state.auditor.last_write(
        db, sealer_running=True, actor=who, action=action, entity=entity, source=source_of(request), key=key,
        nik=nik, **detail,
    )  # fmt: skip


def big(request: Request, form: FormData) -> bool:
    """An uploaded file big enough to be applied in the low-priority worker process (``edge.jobs``)."""
    upload = form_file(form, "file")
    return upload is not None and jobs.worker_for(upload, isolate_bytes=request.app.state.isolate_bytes)


def in_worker(request: Request, who: authz.Principal, form: FormData, fn: Any, *args: Any) -> dict[str, Any]:
    upload = form_file(form, "file")
    assert upload is not None
    make = request.app.state.upload_job
    return jobs.apply_in_worker(fn, upload, lambda path, name: make(who, source_of(request), path, name), *args)


class ShownProblems(list[dict[str, Any]]):
    """The problems shown (the first ``kernel.errors.MAX_PROBLEMS``) and how many there were."""

    total: int = 0


def _problems(exc: DomainError) -> ShownProblems:
    shown, out = refusal(exc), ShownProblems()
    if shown.invalid_input:
        out.extend(shown.problems)
        out.total = shown.total
    else:
        out.append({"row": None, "field": "", "message": shown.message, "value": None})
        out.total = 1
    return out


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
def lookup(request: Request, db: Db, who: Who, q: str = "") -> Response:
    lang = request.state.lang
    if q:
        who.allow("search")
        rows = redact_hits(registry.search(db, text=q, known_at=request.app.state.now(), scope=who.scope), who)
        _audit(db, request, who, "search", "registry", results=len(rows))
    else:
        rows = []
    for r in rows:
        r["kind_label"] = t(lang, f"kind_{r['kind']}")
        r["id"] = r.get("nik") or r.get("npp")
        r["href"] = f"/ops/pekerja/{r['kpj']}" if r["kind"] == "worker" else f"/ops/pemberi-kerja/{r['npp']}"
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


@router.get("/pekerja/{number}")
def worker(request: Request, number: str, db: Db, who: Who) -> Response:
    """A worker by NIK or KPJ (links use the KPJ, so that a masked NIK never has to be in a URL)."""
    who.allow("read_worker")
    lang = request.state.lang
    nik = registry.nik_of(db, number) if len(number) == 11 else number
    profile = redact(
        "worker", registry.worker_profile(db, nik=nik, known_at=request.app.state.now(), scope=who.scope), who
    )
    _audit(db, request, who, "read_worker", "worker", nik=nik)
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
def employer(request: Request, npp: str, db: Db, who: Who) -> Response:
    who.allow("read_employer")
    at = request.app.state.now()
    state = registry.employer_state(db, npp=npp, on=at.date(), known_at=at, scope=who.scope)
    _audit(db, request, who, "read_employer", "employer", key=npp)
    skip = {"employer_id", "id", "valid_to", "recorded_to", "recorded_by", "recorded_at"}
    fields = [(k, v) for k, v in state.items() if k not in skip]
    return page_response(request, Page("ops", "ops_record.html", extra={"fields": fields, "title": state.get("name")}))


@router.get("/validasi/nik", response_class=HTMLResponse)
def validate_nik(request: Request, who: Who, nik: str = "") -> HTMLResponse:
    """The NIK checked as the user types (htmx): shape, date and region by python-stdnum."""
    lang = request.state.lang
    nik = nik.strip()
    if not nik:
        return HTMLResponse("")
    problems = registry_domain.nik_problems(nik, None, None)
    if problems:
        text = "; ".join(p.message for p in problems)
        return HTMLResponse(f'<span class="bad" data-testid="nik-check">✗ {_escape(text)}</span>')
    birth = registry_domain.birth_date_from_nik(nik, request.app.state.now().date())
    sex = t(lang, "female" if registry_domain.sex_from_nik(nik) == "F" else "male")
    msg = t(lang, "nik_ok", birth=birth.isoformat(), sex=sex)
    return HTMLResponse(f'<span class="good" data-testid="nik-check">✓ {_escape(msg)}</span>')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@router.get("/daftar")
def register_form(request: Request, who: Who) -> Response:
    who.allow("register_worker")
    return _form_page(request, "ops_register.html", values={})


@router.post("/daftar", dependencies=[Csrf])
def register(
    request: Request,
    db: Db,
    who: Who,
    nik: Annotated[str, Form()],
    name: Annotated[str, Form()],
    valid_from: Annotated[str, Form()],
    regency_code: Annotated[str, Form()] = "",
) -> Response:
    who.allow("register_worker")
    values = {"nik": nik, "name": name, "valid_from": valid_from, "regency_code": regency_code}
    try:
        start = read_day(valid_from, "valid_from")
        with db.begin_nested():
            registry.register_worker(
                db,
                scope=who.scope,
                nik=nik.strip(),
                name=name.strip(),
                valid_from=start,
                regency_code=regency_code.strip() or None,
                recorded_at=request.app.state.now(),
                recorded_by=who.username,
            )
    except DomainError as exc:
        return _form_page(request, "ops_register.html", problems=_problems(exc), values=values)
    _audit(db, request, who, "register_worker", "worker", nik=nik.strip())
    return RedirectResponse(link(request, f"/ops?q={nik.strip()}"), status_code=303)


@router.get("/daftar-pemberi-kerja")
def employer_form(request: Request, who: Who) -> Response:
    who.allow("register_employer")
    return _form_page(request, "ops_employer.html", values={}, **_employer_choices())


def _employer_choices() -> dict[str, Any]:
    return {"legal_forms": registry_domain.LEGAL_FORMS, "sizes": c.EMPLOYER_SIZES}


@router.post("/daftar-pemberi-kerja", dependencies=[Csrf])
def register_employer(
    request: Request,
    db: Db,
    who: Who,
    name: Annotated[str, Form()],
    legal_form: Annotated[str, Form()],
    sector: Annotated[str, Form()],
    size_class: Annotated[str, Form()],
    regency_code: Annotated[str, Form()],
    valid_from: Annotated[str, Form()],
) -> Response:
    who.allow("register_employer")
    values = {
        "name": name,
        "legal_form": legal_form,
        "sector": sector,
        "size_class": size_class,
        "regency_code": regency_code,
        "valid_from": valid_from,
    }
    try:
        start = read_day(valid_from, "valid_from")
        with db.begin_nested():
            r = registry.register_employer(
                db,
                scope=who.scope,
                name=name.strip(),
                legal_form=legal_form,
                sector=sector.strip().upper(),
                size_class=size_class,
                regency_code=regency_code.strip(),
                valid_from=start,
                recorded_at=request.app.state.now(),
                recorded_by=who.username,
            )
    except DomainError as exc:
        return _form_page(request, "ops_employer.html", problems=_problems(exc), values=values, **_employer_choices())
    _audit(db, request, who, "register_employer", "employer", key=r.number)
    return RedirectResponse(link(request, f"/ops/pemberi-kerja/{r.number}"), status_code=303)


@router.get("/upah")
def declare_form(request: Request, who: Who) -> Response:
    who.allow("declare")
    return _form_page(request, "ops_declare.html", values={"npp": who.npp or ""})


@router.post("/upah")
def declare(
    request: Request,
    who: Annotated[authz.Principal, allowed("declare")],
    form: Annotated[FormData, uploads(("file",), ("npp", "period"))],
    db: Db,
) -> Response:
    npp, period = str(form.get("npp") or ""), str(form.get("period") or "")
    values = {"npp": npp, "period": period}
    try:
        month = read_month(period)
        if big(request, form):
            done = in_worker(request, who, form, jobs.declare, npp.strip(), str(month))
            return _form_page(request, "ops_declare.html", values=values, result=done)
        table = form_table(form, "file", "upah.csv")
        with db.begin_nested():
            result = ledger.declare_wages(
                db,
                scope=who.scope,
                npp=npp.strip(),
                period=month,
                table=table,
                recorded_at=request.app.state.now(),
                recorded_by=who.username,
            )
    except DomainError as exc:
        return _form_page(request, "ops_declare.html", problems=_problems(exc), values=values)
    _audit(db, request, who, "declare_wages", "declaration", key=f"{npp.strip()}/{period}", rows=result.rows)
    return _form_page(request, "ops_declare.html", values=values, result=result.__dict__)


@router.get("/tagihan")
def runs(request: Request, db: Db, who: Who) -> Response:
    who.allow("billing_read")
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


@router.post("/tagihan", dependencies=[Csrf])
def start_run(request: Request, db: Db, who: Who, period: Annotated[str, Form()]) -> Response:
    who.allow("billing_run")
    try:
        month = read_month(period)
        with db.begin_nested():
            run = ledger.run_billing(
                db,
                scope=who.scope,
                period=month,
                maker=who.username,
                tree=request.app.state.tree,
                started_at=request.app.state.now(),
            )
    except DomainError as exc:
        return _form_page(request, "ops_runs.html", problems=_problems(exc))
    _audit(db, request, who, "run_billing", "billing_run", key=str(run.run_id), period=period)
    return RedirectResponse(link(request, f"/ops/tagihan/{run.to_json()['run_id']}"), status_code=303)


def _run_page(request: Request, db: Session, who: authz.Principal, run_id: int, problems: ShownProblems) -> Page:
    """A billing run with its exception list (within the user's scope, masked for their role), and the problems of
    a decision that was refused."""
    lang = request.state.lang
    report = ledger.run_report(db, run_id=run_id, scope=who.scope, known_at=request.app.state.now())
    exceptions = redact_all("exception", report.pop("exception_list"), who)
    table = Table(
        "pengecualian",
        t(lang, "exceptions"),
        [Column("code"), Column("message"), Column("nik"), Column("npp"), Column("membership_id")],
        exceptions,
    )
    tables = [table, _problem_table(lang, problems)] if problems else [table]
    return Page("ops", "ops_run.html", tables=tables, extra={"run": report, "problems": problems})


@router.get("/tagihan/{run_id}")
def run_detail(request: Request, run_id: int, db: Db, who: Who) -> Response:
    who.allow("billing_read")
    page = _run_page(request, db, who, run_id, ShownProblems())
    _audit(db, request, who, "read_billing_run", "billing_run", key=str(run_id))
    return page_response(request, page)


@router.post("/tagihan/{run_id}/{decision}", dependencies=[Csrf])
def decide(request: Request, run_id: int, decision: str, db: Db, who: Who) -> Response:
    who.allow("billing_decide")
    try:
        with db.begin_nested():
            if decision == "setujui":
                ledger.approve_run(
                    db,
                    scope=who.scope,
                    run_id=run_id,
                    checker=who.username,
                    tree=request.app.state.tree,
                    decided_at=request.app.state.now(),
                )
            elif decision == "tolak":
                ledger.reject_run(
                    db, scope=who.scope, run_id=run_id, checker=who.username, decided_at=request.app.state.now()
                )
            else:
                raise InvalidInput([FieldProblem("decision", "must be setujui or tolak", value=decision)])
    except DomainError as exc:
        page = _run_page(request, db, who, run_id, _problems(exc))
        return TEMPLATES.TemplateResponse(request, "ops_run.html", context(request, page), status_code=409)
    action = "approve_billing_run" if decision == "setujui" else "reject_billing_run"
    _audit(db, request, who, action, "billing_run", key=str(run_id))
    return RedirectResponse(link(request, f"/ops/tagihan/{run_id}"), status_code=303)


@router.get("/bayar")
def payments_form(request: Request, who: Who) -> Response:
    who.allow("payment_import")
    return _form_page(request, "ops_payments.html", values={})


@router.post("/bayar")
def payments(
    request: Request,
    who: Annotated[authz.Principal, allowed("payment_import")],
    form: Annotated[FormData, uploads(("file",))],
    db: Db,
) -> Response:
    try:
        if big(request, form):
            done = in_worker(request, who, form, jobs.payments)
            return _form_page(request, "ops_payments.html", values={}, result=done)
        table = form_table(form, "file", "bank.csv")
        with db.begin_nested():
            result = ledger.import_payments(
                db,
                scope=who.scope,
                table=table,
                tree=request.app.state.tree,
                recorded_at=request.app.state.now(),
                recorded_by=who.username,
            )
    except DomainError as exc:
        return _form_page(request, "ops_payments.html", problems=_problems(exc), values={})
    _audit(db, request, who, "import_payments", "payment_file", key=result.file, posted=result.posted)
    return _form_page(request, "ops_payments.html", values={}, result=result.to_json())

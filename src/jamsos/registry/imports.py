"""Bulk registration from files (employers, workers, memberships): validated whole, inserted set-based.

Used by ``jamsos registry import``, by extracts from another core system and by the synthetic data
generator. A file with any bad row is rejected with every problem (row and column); a worker whose
NIK is already registered is reported, not registered twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from jamsos.infra.bulk import bulk_insert
from jamsos.infra.files import TableFile
from jamsos.kernel.errors import FieldProblem, InvalidInput, Problems
from jamsos.registry import domain as d
from jamsos.registry import service as svc
from jamsos.registry import tables as t
from jamsos.registry.domain import Scope
from jamsos.registry.errors import ReferenceMissing
from jamsos.registry.service import require_everything
from jamsos.rules import codes as c


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _opt_int(text: str) -> int | None:
    if text == "":
        return None
    if not text.isascii() or not re.fullmatch(r"[0-9]{1,13}", text):
        raise ValueError("must be a whole number in digits 0-9")
    return int(text)


def _flag(text: str) -> bool:
    if text.lower() in ("", "0", "false", "no", "tidak", "n"):
        return False
    if text.lower() in ("1", "true", "yes", "ya", "y"):
        return True
    raise ValueError("must be true or false")


def _choice(choices: tuple[str, ...], optional: bool = False) -> Callable[[str], str | None]:
    def convert(text: str) -> str | None:
        value = text.strip().lower().replace("-", "_")
        if optional and value == "":
            return None
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return convert


def _parse(
    table: TableFile, spec: dict[str, tuple[Callable[[str], Any], bool]], problems: list[FieldProblem]
) -> list[tuple[int, dict[str, Any]]]:
    """Convert every row; rows with a problem are left out (their problems are added to ``problems``)."""
    table.require(tuple(k for k, (_, required) in spec.items() if required))
    out = []
    for number, raw in table.rows:
        row: dict[str, Any] = {}
        for col, (convert, required) in spec.items():
            text = raw.get(col, "")
            if required and text == "":
                problems.append(FieldProblem(col, "must not be empty", row=number))
                continue
            try:
                row[col] = convert(text)
            except ValueError as exc:
                problems.append(FieldProblem(col, str(exc), row=number, value=text))
        if len(row) == len(spec):
            out.append((number, row))
    return out


def _branches(session: Session) -> dict[str, str]:
    found = dict(session.execute(select(t.branch_regency.c.regency_code, t.branch_regency.c.branch_code)).all())
    if not found:
        raise ReferenceMissing("reference data is not loaded: run `jamsos reference load`")
    return found


def import_employers(
    session: Session, *, table: TableFile, recorded_at: dt.datetime, recorded_by: str, scope: Scope
) -> dict[str, Any]:
    require_everything(scope, "bulk registration")
    problems: list[FieldProblem] = Problems()
    rows = _parse(
        table,
        {
            "npp": (lambda s: s or None, False),
            "name": (str, True),
            "legal_form": (_choice(d.LEGAL_FORMS), True),
            "sector": (str, True),
            "size_class": (_choice(c.EMPLOYER_SIZES), True),
            "risk_class": (_choice(c.RISK_CLASSES, optional=True), False),
            "regency_code": (str, True),
            "labour_intensive": (_flag, False),
            "ecosystems": (lambda s: [e for e in s.replace(";", ",").split(",") if e], False),
            "valid_from": (_date, True),
        },
        problems,
    )
    branches = _branches(session)
    existing = set(session.scalars(select(t.employer.c.npp)))
    seen: set[str] = set()
    for number, r in rows:
        if r["regency_code"] not in branches:
            problems.append(FieldProblem("regency_code", "unknown regency", row=number, value=r["regency_code"]))
        for eco in r["ecosystems"]:
            if eco not in c.ECOSYSTEMS:
                problems.append(FieldProblem("ecosystems", "unknown ecosystem", row=number, value=eco))
        npp = r["npp"]
        if npp is not None and (npp in existing or npp in seen):
            problems.append(FieldProblem("npp", "already registered or repeated", row=number, value=npp))
        if npp is not None:
            seen.add(npp)
    if problems:
        raise InvalidInput(problems)
    n = len(rows)
    if n == 0:
        return {"employers": 0}
    first_npp = svc.reserve_numbers(session, "npp", n)
    first_account = _new_accounts(session, "employer", n, recorded_at)
    first_employer = _next_id(session, t.employer)
    sectors = svc.sector_risk_classes()
    npps = [r["npp"] or d.make_npp(first_npp + i) for i, (_, r) in enumerate(rows)]
    bulk_insert(
        session,
        t.employer,
        {
            "id": list(range(first_employer, first_employer + n)),
            "npp": npps,
            "account_id": list(range(first_account, first_account + n)),
            "recorded_at": [recorded_at] * n,
        },
    )
    bulk_insert(
        session,
        t.employer_version,
        {
            "employer_id": list(range(first_employer, first_employer + n)),
            "valid_from": [r["valid_from"] for _, r in rows],
            "recorded_at": [recorded_at] * n,
            "recorded_by": [recorded_by] * n,
            "name": [r["name"] for _, r in rows],
            "legal_form": [r["legal_form"] for _, r in rows],
            "sector": [r["sector"] for _, r in rows],
            "risk_class": [r["risk_class"] or sectors.get(r["sector"][:1].upper()) for _, r in rows],
            "size_class": [r["size_class"] for _, r in rows],
            "labour_intensive": [r["labour_intensive"] for _, r in rows],
            "regency_code": [r["regency_code"] for _, r in rows],
            "branch_code": [branches[r["regency_code"]] for _, r in rows],
            "ecosystems": [",".join(r["ecosystems"]) for _, r in rows],
        },
    )
    _bump_ids(session)
    return {"employers": n, "npps": npps}


def import_workers(
    session: Session, *, table: TableFile, recorded_at: dt.datetime, recorded_by: str, scope: Scope
) -> dict[str, Any]:
    require_everything(scope, "bulk registration")
    problems: list[FieldProblem] = Problems()
    rows = _parse(
        table,
        {
            "nik": (str, True),
            "name": (str, True),
            "birth_date": (lambda s: _date(s) if s else None, False),
            "sex": (lambda s: s.upper() or None, False),
            "regency_code": (lambda s: s or None, False),
            "valid_from": (_date, True),
        },
        problems,
    )
    provinces = set(session.scalars(select(t.province.c.code)))
    regencies = set(session.scalars(select(t.regency.c.code)))
    if not regencies:
        raise ReferenceMissing("reference data is not loaded: run `jamsos reference load`")
    seen: dict[str, int] = {}
    for number, r in rows:
        nik = r["nik"]
        nik_bad = d.nik_problems(nik, r["birth_date"], r["sex"], provinces)
        problems += [FieldProblem(p.field, p.message, row=number, value=p.value) for p in nik_bad]
        if nik in seen:
            problems.append(FieldProblem("nik", f"repeated (first on row {seen[nik]})", row=number, value=nik))
        seen.setdefault(nik, number)
        regency = r["regency_code"] or nik[:4]
        if regency not in regencies and not (nik_bad and not r["regency_code"]):
            problems.append(
                FieldProblem(
                    "regency_code", "unknown regency; give the regency of residence", row=number, value=regency
                )
            )
    if problems:
        raise InvalidInput(problems)
    already = _existing_niks(session, [r["nik"] for _, r in rows])
    fresh = [(number, r) for number, r in rows if r["nik"] not in already]
    n = len(fresh)
    if n:
        first_kpj = svc.reserve_numbers(session, "kpj", n)
        first_account = _new_accounts(session, "participant", n, recorded_at)
        first_worker = _next_id(session, t.worker)
        today = recorded_at.date()
        bulk_insert(
            session,
            t.worker,
            {
                "id": list(range(first_worker, first_worker + n)),
                "nik": [r["nik"] for _, r in fresh],
                "kpj": [d.make_kpj(first_kpj + i) for i in range(n)],
                "account_id": list(range(first_account, first_account + n)),
                "recorded_at": [recorded_at] * n,
            },
        )
        bulk_insert(
            session,
            t.worker_version,
            {
                "worker_id": list(range(first_worker, first_worker + n)),
                "valid_from": [r["valid_from"] for _, r in fresh],
                "recorded_at": [recorded_at] * n,
                "recorded_by": [recorded_by] * n,
                "name": [r["name"] for _, r in fresh],
                "name_key": [d.name_key(r["name"]) for _, r in fresh],
                "birth_date": [r["birth_date"] or d.birth_date_from_nik(r["nik"], today) for _, r in fresh],
                "sex": [r["sex"] or d.sex_from_nik(r["nik"]) for _, r in fresh],
                "regency_code": [r["regency_code"] or r["nik"][:4] for _, r in fresh],
            },
        )
        _bump_ids(session)
    return {"workers": n, "already_registered": sorted(already)}


def import_memberships(
    session: Session, *, table: TableFile, recorded_at: dt.datetime, recorded_by: str, scope: Scope
) -> dict[str, Any]:
    require_everything(scope, "bulk registration")
    problems: list[FieldProblem] = Problems()
    rows = _parse(
        table,
        {
            "nik": (str, True),
            "segment": (_choice(c.SEGMENTS), True),
            "npp": (lambda s: s or None, False),
            "project_code": (lambda s: s or None, False),
            "valid_from": (_date, True),
            "wage": (_opt_int, False),
            "income": (_opt_int, False),
            "programs": (lambda s: [p for p in s.replace(";", ",").split(",") if p], False),
            "payer_source": (_choice(c.PAYER_SOURCES, optional=True), False),
            "sponsor_code": (lambda s: s or None, False),
            "ecosystem": (_choice(c.ECOSYSTEMS, optional=True), False),
            "channel": (lambda s: s or None, False),
            "agent": (lambda s: s or None, False),
            "transport": (_flag, False),
            "contract_months": (_opt_int, False),
            "jht_amount": (_opt_int, False),
        },
        problems,
    )
    workers = _ids_by(session, t.worker.c.nik, t.worker.c.id, [r["nik"] for _, r in rows])
    employers = dict(session.execute(select(t.employer.c.npp, t.employer.c.id)).all())
    projects = dict(session.execute(select(t.project.c.code, t.project.c.id)).all())
    sponsors = {
        r.code: (r.id, r.payer_source)
        for r in session.execute(select(t.sponsor.c.code, t.sponsor.c.id, t.sponsor.c.payer_source))
    }
    records = []
    for number, r in rows:
        here: list[FieldProblem] = []
        worker_id = workers.get(r["nik"])
        if worker_id is None:
            here.append(FieldProblem("nik", "not registered", row=number, value=r["nik"]))
        employer_id = employers.get(r["npp"]) if r["npp"] else None
        if r["npp"] and employer_id is None:
            here.append(FieldProblem("npp", "unknown employer", row=number, value=r["npp"]))
        project_id = projects.get(r["project_code"]) if r["project_code"] else None
        if r["project_code"] and project_id is None:
            here.append(FieldProblem("project_code", "unknown project", row=number, value=r["project_code"]))
        if r["segment"] == "pu" and not r["npp"]:
            here.append(FieldProblem("npp", "a PU membership needs the employer's NPP", row=number))
        if r["segment"] == "jakon" and not r["project_code"]:
            here.append(FieldProblem("project_code", "a Jakon membership needs the project", row=number))
        sponsor_id = None
        source = r["payer_source"]
        if r["sponsor_code"]:
            found = sponsors.get(r["sponsor_code"])
            if found is None:
                here.append(FieldProblem("sponsor_code", "unknown sponsor", row=number, value=r["sponsor_code"]))
            else:
                sponsor_id, source = found[0], source or found[1]
        source = source or ("employer" if r["segment"] in ("pu", "jakon") else "self")
        if source in c.SPONSOR_SOURCES and sponsor_id is None:
            here.append(FieldProblem("sponsor_code", f"a membership paid from {source} needs its sponsor", row=number))
        try:
            mask = c.program_mask("programs", r["programs"])
        except InvalidInput as exc:
            here += [FieldProblem(p.field, p.message, row=number, value=p.value) for p in exc.problems]
            mask = 0
        fields = {
            k: r[k]
            for k in ("wage", "income", "ecosystem", "channel", "agent", "transport", "contract_months", "jht_amount")
        }
        fields |= {"programs": mask, "payer_source": source, "sponsor_id": sponsor_id}
        here += [
            FieldProblem(p.field, p.message, row=number, value=p.value)
            for p in d.membership_problems(r["segment"], fields)
        ]
        problems += here
        if not here:
            records.append((worker_id, r["segment"], employer_id, project_id, r["valid_from"], fields))
    if problems:
        raise InvalidInput(problems)
    keys = [(w, s, e, p) for w, s, e, p, _, _ in records]
    if len(set(keys)) != len(keys):
        raise InvalidInput([FieldProblem("nik", "a worker is enrolled twice in the same segment and employer/project")])
    existing = {
        (r.worker_id, r.segment, r.employer_id, r.project_id)
        for r in session.execute(
            select(
                t.membership.c.worker_id, t.membership.c.segment, t.membership.c.employer_id, t.membership.c.project_id
            )
        )
    }
    clash = [k for k in keys if k in existing]
    if clash:
        raise InvalidInput(
            [FieldProblem("nik", f"{len(clash)} membership(s) already exist; record corrections instead")]
        )
    n = len(records)
    if n:
        first = _next_id(session, t.membership)
        ids = list(range(first, first + n))
        bulk_insert(
            session,
            t.membership,
            {
                "id": ids,
                "worker_id": [r[0] for r in records],
                "segment": [r[1] for r in records],
                "employer_id": [r[2] for r in records],
                "project_id": [r[3] for r in records],
                "recorded_at": [recorded_at] * n,
            },
        )
        cols: dict[str, list[Any]] = {
            "membership_id": ids,
            "valid_from": [r[4] for r in records],
            "recorded_at": [recorded_at] * n,
            "recorded_by": [recorded_by] * n,
        }
        for name in svc.MEMBERSHIP_FIELDS:
            cols[name] = [r[5][name] for r in records]
        bulk_insert(session, t.membership_version, cols)
        _bump_ids(session)
    return {"memberships": n}


def _new_accounts(session: Session, kind: str, n: int, recorded_at: dt.datetime) -> int:
    """Create ``n`` payer accounts with fresh virtual-account numbers; returns the first id."""
    first_va = svc.reserve_numbers(session, f"va_{kind}", n)
    first = _next_id(session, t.account)
    bulk_insert(
        session,
        t.account,
        {
            "id": list(range(first, first + n)),
            "va_number": [d.make_va(kind, first_va + i) for i in range(n)],
            "kind": [kind] * n,
            "recorded_at": [recorded_at] * n,
        },
    )
    return first


def _existing_niks(session: Session, niks: list[str]) -> set[str]:
    return set(_ids_by(session, t.worker.c.nik, t.worker.c.id, niks))


def _ids_by(session: Session, key: Any, ident: Any, values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    if len(values) > 50_000:
        wanted = set(values)
        for k, i in session.execute(select(key, ident)):
            if k in wanted:
                out[k] = int(i)
        return out
    for start in range(0, len(values), 5000):
        for k, i in session.execute(select(key, ident).where(key.in_(values[start : start + 5000]))):
            out[k] = int(i)
    return out


def _next_id(session: Session, table: Any) -> int:
    """The next free id; on PostgreSQL the registry tables are locked first, so concurrent writers wait."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE account, employer, worker, membership IN SHARE ROW EXCLUSIVE MODE"))
    return int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


def _bump_ids(session: Session) -> None:
    """After inserting explicit ids, move PostgreSQL's identity sequences past them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in ("account", "employer", "worker", "membership"):
        session.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {name}))")
        )


def import_files(
    session: Session,
    *,
    employers: TableFile,
    workers: TableFile,
    memberships: TableFile,
    recorded_at: dt.datetime,
    recorded_by: str,
    scope: Scope,
) -> dict[str, Any]:
    """Employers, then workers, then their memberships (each validated whole), in one transaction."""
    at, by = recorded_at, recorded_by
    done = import_employers(session, table=employers, recorded_at=at, recorded_by=by, scope=scope)
    done |= import_workers(session, table=workers, recorded_at=at, recorded_by=by, scope=scope)
    return done | import_memberships(session, table=memberships, recorded_at=at, recorded_by=by, scope=scope)

"""Reference data: provinces and regencies (python-stdnum), Kanwil, the branch map, minimum wages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from jamsos.infra.files import TableFile, read_path, read_table
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.registry import tables as t

FILES = ("provinces", "regencies", "kanwil", "kanwil_provinces", "branches", "branch_regencies", "minimum_wage")


class ReferenceInUse(DomainError):
    code = "reference_in_use"


def stdnum_regions() -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Provinces ``(code, name)`` and regencies ``(code, province, NAME)`` from python-stdnum's loc.dat."""
    from stdnum import numdb

    provinces: list[tuple[str, str]] = []
    regencies: list[tuple[str, str, str]] = []
    db = numdb.get("id/loc")
    for _, prov, _, pinfo, subs in db.prefixes:
        provinces.append((prov, pinfo["name_id"]))
        for _, reg, _, rinfo, _ in subs:
            regencies.append((prov + reg, prov, rinfo["name_id"]))
    return provinces, regencies


def _bundled(name: str) -> TableFile:
    data = resources.files("jamsos.registry").joinpath("data", f"{name}.csv").read_bytes()
    return read_table(data, f"{name}.csv")


def _rows(
    table: TableFile, columns: dict[str, Callable[[str], Any]], problems: list[FieldProblem]
) -> list[dict[str, Any]]:
    table.require(tuple(columns))
    out = []
    for number, raw in table.rows:
        row: dict[str, Any] = {}
        for col, convert in columns.items():
            try:
                row[col] = convert(raw[col])
            except (ValueError, TypeError) as exc:
                problems.append(FieldProblem(col, f"{table.name}: {exc}", row=number, value=raw[col]))
        out.append(row)
    return out


def _text(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _digits(n: int) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if len(value) != n or not value.isdigit():
            raise ValueError(f"must be {n} digits")
        return value

    return convert


def load_reference(session: Session, directory: Path | None = None) -> dict[str, int]:
    """Replace the reference tables from CSV files in ``directory`` (missing files: the bundled defaults).

    Provinces and regencies default to python-stdnum's list. The whole set is validated before
    anything is written; a code still used by an employer, worker or project cannot be removed.
    """

    def source(name: str) -> TableFile | None:
        if directory is not None and (directory / f"{name}.csv").exists():
            return read_path(directory / f"{name}.csv")
        if name in ("provinces", "regencies"):
            return None
        return _bundled(name)

    problems: list[FieldProblem] = []
    provinces_file, regencies_file = source("provinces"), source("regencies")
    if provinces_file is None or regencies_file is None:
        provs, regs = stdnum_regions()
        provinces = [{"code": c, "name": n} for c, n in provs]
        regencies = [{"code": c, "province_code": p, "name": n} for c, p, n in regs]
    if provinces_file is not None:
        provinces = _rows(provinces_file, {"code": _digits(2), "name": _text}, problems)
    if regencies_file is not None:
        regencies = _rows(regencies_file, {"code": _digits(4), "province_code": _digits(2), "name": _text}, problems)
    files = {name: source(name) for name in FILES[2:]}
    kanwil = _rows(files["kanwil"], {"code": _text, "name": _text}, problems)  # type: ignore[arg-type]
    kp = _rows(files["kanwil_provinces"], {"province_code": _digits(2), "kanwil_code": _text}, problems)  # type: ignore[arg-type]
    branches = _rows(files["branches"], {"code": _text, "name": _text, "kanwil_code": _text}, problems)  # type: ignore[arg-type]
    br = _rows(files["branch_regencies"], {"regency_code": _digits(4), "branch_code": _text}, problems)  # type: ignore[arg-type]
    wages = _rows(
        files["minimum_wage"],  # type: ignore[arg-type]
        {
            "province_code": _digits(2),
            "valid_from": dt.date.fromisoformat,
            "amount": int,
            "reference": _text,
            "status": _text,
        },
        problems,
    )
    if problems:
        raise InvalidInput(problems)
    _check_links(provinces, regencies, kanwil, kp, branches, br, wages)
    _check_in_use(session, {r["code"] for r in regencies}, {b["code"] for b in branches})
    for table in (t.branch_regency, t.kanwil_province, t.minimum_wage):
        session.execute(delete(table))
    _upsert(session, t.province, "code", provinces)
    _upsert(session, t.regency, "code", regencies)
    _upsert(session, t.kanwil, "code", kanwil)
    _upsert(session, t.branch, "code", branches)
    session.execute(delete(t.regency).where(t.regency.c.code.not_in([r["code"] for r in regencies])))
    session.execute(delete(t.branch).where(t.branch.c.code.not_in([b["code"] for b in branches])))
    session.execute(delete(t.kanwil).where(t.kanwil.c.code.not_in([k["code"] for k in kanwil])))
    session.execute(delete(t.province).where(t.province.c.code.not_in([p["code"] for p in provinces])))
    session.execute(insert(t.kanwil_province), kp)
    session.execute(insert(t.branch_regency), br)
    session.execute(insert(t.minimum_wage), wages)
    return {
        "provinces": len(provinces),
        "regencies": len(regencies),
        "kanwil": len(kanwil),
        "branches": len(branches),
        "minimum_wages": len(wages),
    }


def _check_links(
    provinces: list[dict[str, Any]],
    regencies: list[dict[str, Any]],
    kanwil: list[dict[str, Any]],
    kp: list[dict[str, Any]],
    branches: list[dict[str, Any]],
    br: list[dict[str, Any]],
    wages: list[dict[str, Any]],
) -> None:
    problems: list[FieldProblem] = []
    prov = {p["code"] for p in provinces}
    regs = {r["code"] for r in regencies}
    kw = {k["code"] for k in kanwil}
    brs = {b["code"] for b in branches}

    def check(rows: list[dict[str, Any]], col: str, known: set[str], name: str) -> None:
        for i, r in enumerate(rows, start=2):
            if r[col] not in known:
                problems.append(FieldProblem(col, f"{name}: unknown code", row=i, value=r[col]))

    check(regencies, "province_code", prov, "regencies.csv")
    check(kp, "province_code", prov, "kanwil_provinces.csv")
    check(kp, "kanwil_code", kw, "kanwil_provinces.csv")
    check(branches, "kanwil_code", kw, "branches.csv")
    check(br, "regency_code", regs, "branch_regencies.csv")
    check(br, "branch_code", brs, "branch_regencies.csv")
    check(wages, "province_code", prov, "minimum_wage.csv")
    unmapped = sorted(regs - {r["regency_code"] for r in br})
    problems += [FieldProblem("regency_code", "branch_regencies.csv: regency has no branch", value=u) for u in unmapped]
    no_kanwil = sorted(prov - {r["province_code"] for r in kp})
    problems += [
        FieldProblem("province_code", "kanwil_provinces.csv: province has no Kanwil", value=p) for p in no_kanwil
    ]
    if problems:
        raise InvalidInput(problems)


def _check_in_use(session: Session, regencies: set[str], branches: set[str]) -> None:
    used_regencies = set(session.scalars(select(t.employer_version.c.regency_code).distinct()))
    used_regencies |= set(session.scalars(select(t.worker_version.c.regency_code).distinct()))
    used_branches = set(session.scalars(select(t.employer_version.c.branch_code).distinct()))
    gone = sorted(used_regencies - regencies) + sorted(used_branches - branches)
    if gone:
        raise ReferenceInUse(f"codes still used by registered records cannot be removed: {', '.join(gone[:20])}")


def _upsert(session: Session, table: Any, key: str, rows: list[dict[str, Any]]) -> None:
    existing = set(session.scalars(select(table.c[key])))
    new = [r for r in rows if r[key] not in existing]
    old = [r for r in rows if r[key] in existing]
    if new:
        session.execute(insert(table), new)
    for r in old:
        session.execute(table.update().where(table.c[key] == r[key]).values(**r))


def office_of_regency(session: Session, regency_code: str) -> tuple[str, str] | None:
    """The branch and Kanwil serving a regency."""
    row = session.execute(
        select(t.branch.c.code, t.branch.c.kanwil_code)
        .join(t.branch_regency, t.branch_regency.c.branch_code == t.branch.c.code)
        .where(t.branch_regency.c.regency_code == regency_code)
    ).first()
    return (row[0], row[1]) if row else None


def default_offices() -> list[dict[str, str]]:
    """The bundled office map without a database: one row per regency with its branch and Kanwil
    (the columns of the warehouse's ``offices`` dataset)."""
    provs, regs = stdnum_regions()
    prov_name = dict(provs)
    kanwil = {r["code"]: r["name"] for _, r in _bundled("kanwil").rows}
    kanwil_of = {r["province_code"]: r["kanwil_code"] for _, r in _bundled("kanwil_provinces").rows}
    branches = {r["code"]: r for _, r in _bundled("branches").rows}
    branch_of = {r["regency_code"]: r["branch_code"] for _, r in _bundled("branch_regencies").rows}
    out = []
    for code, prov, name in regs:
        branch = branches[branch_of[code]]
        out.append(
            {
                "regency_code": code,
                "regency_name": name,
                "province_code": prov,
                "province_name": prov_name[prov],
                "branch_code": branch["code"],
                "branch_name": branch["name"],
                "kanwil_code": kanwil_of[prov],
                "kanwil_name": kanwil[kanwil_of[prov]],
            }
        )
    return out

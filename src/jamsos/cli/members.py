"""Registry commands: employers, workers, memberships (enrol, correct, exit, transfer), bulk registration files,
duplicates, sponsors and projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jamsos.cli.common import (
    User,
    actor,
    audit,
    day,
    domain_errors,
    engine,
    masked,
    name_of,
    now,
    out,
    period,
    print_data,
    scope_of,
)
from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_path
from jamsos.registry import imports, transfers
from jamsos.registry import service as registry

employer_app = typer.Typer(help="Employers (pemberi kerja).", no_args_is_help=True)


worker_app = typer.Typer(help="Workers (tenaga kerja), one per NIK.", no_args_is_help=True)


member_app = typer.Typer(help="Memberships: enrol, correct, end, look up as known on a day.", no_args_is_help=True)


registry_app = typer.Typer(help="Bulk registration from files, and the duplicate review list.", no_args_is_help=True)


# ---- registry --------------------------------------------------------------------------------
@employer_app.command("add")
def employer_add(
    name: Annotated[str, typer.Option()],
    sector: Annotated[str, typer.Option(help="KBLI section letter (A-U) or code; sets the JKK risk class.")],
    size: Annotated[str, typer.Option(help="mikro, kecil, menengah, besar")],
    regency: Annotated[str, typer.Option(help="Regency code PPKK, e.g. 8271 (Ternate).")],
    valid_from: Annotated[str, typer.Option("--from")],
    legal_form: Annotated[str, typer.Option()] = "pt",
    risk_class: Annotated[str | None, typer.Option(help="Override the sector's risk class.")] = None,
    ecosystem: Annotated[list[str] | None, typer.Option()] = None,
    labour_intensive: Annotated[bool, typer.Option()] = False,
    npp: Annotated[str | None, typer.Option(help="Keep an existing NPP (otherwise one is generated).")] = None,
    user: User = "cli",
) -> None:
    """Register an employer; prints its NPP, virtual account and branch."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "register_employer")
        by = name_of(who, user)
        r = registry.register_employer(
            s,
            scope=scope_of(who),
            name=name,
            legal_form=legal_form,
            sector=sector,
            size_class=size,
            regency_code=regency,
            valid_from=day(valid_from, "from"),
            recorded_at=now(),
            recorded_by=by,
            risk_class=risk_class,
            labour_intensive=labour_intensive,
            ecosystems=ecosystem or (),
            npp=npp,
        )
        audit(s, who, "register_employer", "employer", key=r.number)
    print_data({"npp": r.number, "va_number": r.va_number, "branch": r.branch_code})


@employer_app.command("change")
def employer_change(
    npp: str,
    valid_from: Annotated[str, typer.Option("--from")],
    risk_class: Annotated[str | None, typer.Option()] = None,
    size: Annotated[str | None, typer.Option()] = None,
    regency: Annotated[str | None, typer.Option()] = None,
    user: User = "cli",
) -> None:
    """Record a change of risk class, size or region, valid from a date (possibly in the past)."""
    changes: dict[str, Any] = {
        k: v for k, v in (("risk_class", risk_class), ("size_class", size), ("regency_code", regency)) if v
    }
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "change_employer")
        by = name_of(who, user)
        vid = registry.change_employer(
            s,
            scope=scope_of(who),
            npp=npp,
            valid_from=day(valid_from, "from"),
            recorded_at=now(),
            recorded_by=by,
            **changes,
        )
        audit(s, who, "change_employer", "employer", key=npp, fields=",".join(changes))
    print_data({"npp": npp, "version": vid})


@worker_app.command("add")
def worker_add(
    nik: str,
    name: Annotated[str, typer.Option()],
    valid_from: Annotated[str, typer.Option("--from")],
    birth_date: Annotated[str | None, typer.Option()] = None,
    sex: Annotated[str | None, typer.Option(help="M or F (must agree with the NIK)")] = None,
    regency: Annotated[str | None, typer.Option()] = None,
    user: User = "cli",
) -> None:
    """Register a worker by NIK; prints the new KPJ and virtual account."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "register_worker")
        by = name_of(who, user)
        r = registry.register_worker(
            s,
            scope=scope_of(who),
            nik=nik,
            name=name,
            valid_from=day(valid_from, "from"),
            recorded_at=now(),
            recorded_by=by,
            birth_date=day(birth_date, "birth_date") if birth_date else None,
            sex=sex,
            regency_code=regency,
        )
        audit(s, who, "register_worker", "worker", nik=nik)
    print_data({"nik": nik, "kpj": r.number, "va_number": r.va_number})


@worker_app.command("show")
def worker_show(nik: str) -> None:
    """A worker's profile and memberships."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "read_worker")
        profile = registry.worker_profile(s, nik=nik, known_at=now(), scope=scope_of(who))
        audit(s, who, "read_worker", "worker", nik=nik)
    print_data(masked(who, "worker", profile))


@member_app.command("add")
def member_add(
    nik: str,
    segment: Annotated[str, typer.Option(help="pu, bpu, jakon, pmi")],
    valid_from: Annotated[str, typer.Option("--from")],
    npp: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
    wage: Annotated[int | None, typer.Option()] = None,
    income: Annotated[int | None, typer.Option()] = None,
    programs: Annotated[str, typer.Option(help="Comma-separated, e.g. jkk,jkm,jht")] = "",
    payer: Annotated[str | None, typer.Option(help="self, employer, apbd, apbdes, csr, donor")] = None,
    sponsor: Annotated[str | None, typer.Option()] = None,
    ecosystem: Annotated[str | None, typer.Option()] = None,
    channel: Annotated[str | None, typer.Option()] = None,
    agent: Annotated[str | None, typer.Option()] = None,
    contract_months: Annotated[int | None, typer.Option()] = None,
    user: User = "cli",
) -> None:
    """Enrol a registered worker in a segment."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "enrol")
        by = name_of(who, user)
        mid = registry.enrol(
            s,
            scope=scope_of(who),
            nik=nik,
            segment=segment,
            valid_from=day(valid_from, "from"),
            recorded_at=now(),
            recorded_by=by,
            npp=npp,
            project_code=project,
            wage=wage,
            income=income,
            programs=[p for p in programs.split(",") if p],
            payer_source=payer,
            sponsor_code=sponsor,
            ecosystem=ecosystem,
            channel=channel,
            agent=agent,
            contract_months=contract_months,
        )
        audit(s, who, "enrol", "membership", nik=nik, membership=mid, segment=segment)
    print_data({"membership_id": mid})


@member_app.command("correct")
def member_correct(
    membership_id: int,
    valid_from: Annotated[str, typer.Option("--from")],
    valid_to: Annotated[str | None, typer.Option("--to")] = None,
    wage: Annotated[int | None, typer.Option()] = None,
    income: Annotated[int | None, typer.Option()] = None,
    programs: Annotated[str | None, typer.Option()] = None,
    user: User = "cli",
) -> None:
    """Record a correction (e.g. a wage raised retroactively) for an interval; history is kept."""
    changes: dict[str, Any] = {}
    if wage is not None:
        changes["wage"] = wage
    if income is not None:
        changes["income"] = income
    if programs is not None:
        changes["programs"] = [p for p in programs.split(",") if p]
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "correct_membership")
        by = name_of(who, user)
        vid = registry.correct_membership(
            s,
            scope=scope_of(who),
            membership_id=membership_id,
            valid_from=day(valid_from, "from"),
            valid_to=day(valid_to, "to") if valid_to else None,
            recorded_at=now(),
            recorded_by=by,
            **changes,
        )
        audit(s, who, "correct_membership", "membership", key=str(membership_id), fields=",".join(changes))
    print_data({"membership_id": membership_id, "version": vid})


@member_app.command("exit")
def member_exit(
    membership_id: int,
    on: Annotated[str, typer.Option("--on", help="Exit date (may be in the past).")],
    reason: Annotated[str, typer.Option(help="resignation, dismissal, death, end_of_project, end_of_placement")],
    user: User = "cli",
) -> None:
    """End a membership; the month of the exit is still covered."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "correct_membership")
        by = name_of(who, user)
        vid = registry.exit_membership(
            s,
            scope=scope_of(who),
            membership_id=membership_id,
            exit_date=day(on, "on"),
            reason=reason,
            recorded_at=now(),
            recorded_by=by,
        )
        audit(s, who, "exit_membership", "membership", key=str(membership_id), reason=reason)
    print_data({"membership_id": membership_id, "version": vid})


@member_app.command("transfer")
def member_transfer(
    nik: str,
    npp: Annotated[str, typer.Option(help="Your employer the worker joins.")],
    wage: Annotated[int, typer.Option()],
    valid_from: Annotated[str, typer.Option("--from")],
    programs: Annotated[str, typer.Option(help="Comma-separated, e.g. jkk,jkm,jht")] = "",
) -> None:
    """Ask the worker's own branch to enrol a worker registered elsewhere at one of your employers (PU)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "enrol")
        rid = transfers.request_transfer(
            s, nik=nik, segment="pu", npp=npp, wage=wage, programs=[p for p in programs.split(",") if p],
            valid_from=day(valid_from, "from"), requested_at=now(), requested_by=name_of(who, "cli"),
            scope=scope_of(who),
        )  # fmt: skip
        audit(s, who, "request_transfer", "transfer", nik=nik, request_id=rid)
    print_data({"request_id": rid, "status": "pending"})


@member_app.command("transfers")
def member_transfers() -> None:
    """The transfer requests waiting for your decision (workers within your branch)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "enrol")
        rows = transfers.pending(s, scope=scope_of(who), known_at=now())
        audit(s, who, "read_transfers", "transfer", requests=len(rows))
    print_data(rows)


@member_app.command("decide")
def member_decide(
    request_id: int,
    approve: Annotated[bool, typer.Option("--approve/--reject", help="Enrol the worker, or refuse.")],
    user: User = "cli",
) -> None:
    """Decide a transfer request (the worker's own branch; never the branch that asked)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "enrol")
        result = transfers.decide(
            s, request_id=request_id, approve=approve, decided_by=name_of(who, user), decided_at=now(),
            scope=scope_of(who),
        )  # fmt: skip
        audit(s, who, "approve_transfer" if approve else "reject_transfer", "transfer", key=str(request_id))
    print_data(result)


@member_app.command("show")
def member_show(
    membership_id: int,
    month: Annotated[str | None, typer.Option(help="The month to resolve (YYYY-MM).")] = None,
    known_at: Annotated[str | None, typer.Option(help="What jamsos knew at this date-time (ISO).")] = None,
) -> None:
    """The membership's state for a month as known on a day, and its full history."""
    import datetime as dt

    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "read_membership")
        history = registry.membership_history(s, scope=scope_of(who), membership_id=membership_id, known_at=now())
        state = None
        if month:
            at = dt.datetime.fromisoformat(known_at) if known_at else now()
            state = registry.membership_state(
                s, scope=scope_of(who), membership_id=membership_id, month=period(month, "month"), known_at=at
            )
        audit(s, who, "read_membership", "membership", key=str(membership_id))
    print_data({"state": state, "history": history})


@registry_app.command("import")
def registry_import(
    employers: Annotated[Path | None, typer.Option(help="employers.csv/.xlsx")] = None,
    workers: Annotated[Path | None, typer.Option(help="workers.csv/.xlsx")] = None,
    memberships: Annotated[Path | None, typer.Option(help="memberships.csv/.xlsx")] = None,
    user: User = "cli",
) -> None:
    """Bulk registration; all files in one transaction, each validated whole (row and column named)."""
    result: dict[str, Any] = {}
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "registry_import")
        by = name_of(who, user)
        at = now()
        if employers:
            result["employers"] = imports.import_employers(
                s, scope=scope_of(who), table=read_path(employers), recorded_at=at, recorded_by=by
            )["employers"]
        if workers:
            r = imports.import_workers(s, scope=scope_of(who), table=read_path(workers), recorded_at=at, recorded_by=by)
            result["workers"] = r["workers"]
            result["already_registered"] = len(r["already_registered"])
        if memberships:
            result |= imports.import_memberships(
                s, scope=scope_of(who), table=read_path(memberships), recorded_at=at, recorded_by=by
            )
        audit(s, who, "registry_import", "registry", **{k: str(v) for k, v in result.items()})
    print_data(result)


@registry_app.command("duplicates")
def registry_duplicates(limit: int = 100) -> None:
    """Likely duplicates for review: same name and birth date, or NIK digits transposed."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "duplicates")
        found = registry.likely_duplicates(s, scope=scope_of(who), known_at=now(), limit=limit)
        audit(s, who, "read_duplicates", "worker", pairs=len(found))
    table = Table("Reason", "NIK A", "Name A", "NIK B", "Name B", "Birth date")
    for d in found:
        r = masked(who, "duplicate", d.__dict__)
        born = f"{r['birth_date_a']} / {r['birth_date_b']}" if "birth_date_a" in r else "–"
        table.add_row(r["reason"], r["nik_a"], r["name_a"], r["nik_b"], r["name_b"], born)
    out.print(table)
    out.print(f"{len(found)} pair(s) to review")


sponsor_app = typer.Typer(
    help="Third parties paying for vulnerable workers (APBD, APBDes, CSR, donors).", no_args_is_help=True
)


project_app = typer.Typer(
    help="Construction projects (Jakon), billed upfront on the contract value.", no_args_is_help=True
)


@sponsor_app.command("add")
def sponsor_add(
    code: str,
    name: Annotated[str, typer.Option()],
    source: Annotated[str, typer.Option(help="apbd, apbdes, csr, donor")],
    regency: Annotated[str | None, typer.Option()] = None,
) -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "register_sponsor")
        r = registry.register_sponsor(
            s, scope=scope_of(who), code=code, name=name, payer_source=source, regency_code=regency, recorded_at=now()
        )
        audit(s, who, "register_sponsor", "sponsor", key=code)
    print_data({"sponsor": r.number, "va_number": r.va_number})


@project_app.command("add")
def project_add(
    code: str,
    npp: Annotated[str, typer.Option(help="The contractor's NPP.")],
    name: Annotated[str, typer.Option()],
    contract_value: Annotated[int, typer.Option()],
    spk: Annotated[str, typer.Option(help="Work-order (SPK) date.")],
    start: Annotated[str, typer.Option()],
    end: Annotated[str, typer.Option()],
    regency: Annotated[str, typer.Option()],
) -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "register_project")
        r = registry.register_project(
            s,
            scope=scope_of(who),
            code=code,
            npp=npp,
            name=name,
            contract_value=contract_value,
            spk_date=day(spk, "spk"),
            start_date=day(start, "start"),
            end_date=day(end, "end"),
            regency_code=regency,
            recorded_at=now(),
        )
        audit(s, who, "register_project", "project", key=code)
    print_data({"project": r.number, "va_number": r.va_number})

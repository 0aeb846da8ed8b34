"""Operations commands: database, reference data, registry, declarations, billing, payments, status, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jamsos.auth import service as auth
from jamsos.cli.common import (
    actor,
    audit,
    audit_key,
    day,
    domain_errors,
    engine,
    masked,
    name_of,
    now,
    out,
    period,
    scope_of,
    settings,
    tree,
)
from jamsos.i18n.numbers import number, rupiah
from jamsos.infra import backup
from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_path
from jamsos.infra.migrate import current_revision, upgrade
from jamsos.infra.settings import Settings
from jamsos.ledger import service as ledger
from jamsos.registry import imports, transfers
from jamsos.registry import reference as ref
from jamsos.registry import service as registry
from jamsos.warehouse import export as warehouse

db_app = typer.Typer(
    help="The operational store (SQLite by default, PostgreSQL via JAMSOS_DATABASE_URL).", no_args_is_help=True
)
reference_app = typer.Typer(help="Regions, Kanwil, branch offices and minimum wages.", no_args_is_help=True)
employer_app = typer.Typer(help="Employers (pemberi kerja).", no_args_is_help=True)
worker_app = typer.Typer(help="Workers (tenaga kerja), one per NIK.", no_args_is_help=True)
member_app = typer.Typer(help="Memberships: enrol, correct, end, look up as known on a day.", no_args_is_help=True)
registry_app = typer.Typer(help="Bulk registration from files, and the duplicate review list.", no_args_is_help=True)
bill_app = typer.Typer(help="Wage declarations and the monthly billing run (maker–checker).", no_args_is_help=True)
pay_app = typer.Typer(
    help="Payments: bank/virtual-account files, reversals, statements, arrears.", no_args_is_help=True
)
warehouse_app = typer.Typer(help="Export facts to the Parquet warehouse.", no_args_is_help=True)

User = Annotated[str, typer.Option("--user", "-u", help="Who does this (recorded with the change).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    for sub, name in (
        (db_app, "db"),
        (reference_app, "reference"),
        (employer_app, "employer"),
        (worker_app, "worker"),
        (member_app, "member"),
        (registry_app, "registry"),
        (bill_app, "bill"),
        (pay_app, "pay"),
        (warehouse_app, "warehouse"),
        (sponsor_app, "sponsor"),
        (project_app, "project"),
    ):
        app.add_typer(sub, name=name)
    app.command("active")(active)
    app.command("serve")(serve)


def _print(data: Any, as_json: bool = True) -> None:
    if as_json:
        out.print_json(json.dumps(data, default=str, ensure_ascii=False))
    else:
        out.print(data)


# ---- db and reference ------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest revision."""
    with domain_errors():
        eng = engine(check_schema=False)
        upgrade(eng)
        out.print(f"schema at revision {current_revision(eng)} ({eng.url.render_as_string(hide_password=True)})")


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="Where to write the backup.")]) -> None:
    """Back up the store while it runs: SQLite's online backup, or pg_dump (custom format)."""
    with domain_errors():
        with unit_of_work(engine()) as s:
            actor(s, "backup")
        with unit_of_work(engine()) as s:  # the head the backup holds: every entry sealed first
            while auth.seal(s, secret=audit_key()):
                pass
        with unit_of_work(engine()) as s:
            head = auth.head(s)
        r = backup.backup(settings().effective_database_url, file)
        kept = backup.keep_head(file, head)
        with unit_of_work(engine()) as s:
            audit(s, actor(s, "backup"), "backup", "store", key=str(r.path), bytes=r.bytes, head=head)
    out.print(f"backup written: {r.path} ({r.bytes:,} bytes, {r.kind})", highlight=False)
    out.print(f"audit head: {head} (kept in {kept}; `jamsos audit verify --expect-head {head}`)", highlight=False)


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup made by jamsos db backup.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the store's data is replaced.")] = False,
    expect_head: Annotated[
        str | None, typer.Option(help="SEQ:HASH printed by the backup (default: the file kept beside it).")
    ] = None,
) -> None:
    """Replace the store with a backup (SQLite backup API, or one pg_restore script in one transaction), then check
    the audit chain against the head the backup printed."""
    if not yes:
        out.print("this replaces every row of the store; add --yes to confirm", highlight=False)
        raise typer.Exit(2)
    with domain_errors():
        url = settings().effective_database_url
        with unit_of_work(engine()) as s:
            actor(s, "backup")
        backup.restore(url, file)
        head = expect_head or backup.kept_head(file)
        with unit_of_work(engine()) as s:
            check = auth.verify(s, secret=audit_key(), expect_head=head)
            audit(s, actor(s, "backup"), "restore", "store", key=str(file), chain_ok=check.ok)
    out.print(f"restored from {file}; audit log: {check.entries} entries, intact: {check.ok}", highlight=False)
    if not check.ok:
        raise typer.Exit(1)


@reference_app.command("load")
def reference_load(
    directory: Annotated[Path | None, typer.Option("--dir", help="Folder with replacement CSV files.")] = None,
) -> None:
    """Load (or replace) reference data: bundled defaults, or the CSV files found in --dir."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "reference")
        counts = ref.load_reference(s, directory)
        audit(s, who, "load_reference", "reference", key=str(directory) if directory else "defaults")
    out.print(", ".join(f"{v} {k}" for k, v in counts.items()))


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
    _print({"npp": r.number, "va_number": r.va_number, "branch": r.branch_code})


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
    _print({"npp": npp, "version": vid})


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
    _print({"nik": nik, "kpj": r.number, "va_number": r.va_number})


@worker_app.command("show")
def worker_show(nik: str) -> None:
    """A worker's profile and memberships."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "read_worker")
        profile = registry.worker_profile(s, nik=nik, known_at=now(), scope=scope_of(who))
        audit(s, who, "read_worker", "worker", nik=nik)
    _print(masked(who, "worker", profile))


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
    _print({"membership_id": mid})


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
    _print({"membership_id": membership_id, "version": vid})


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
    _print({"membership_id": membership_id, "version": vid})


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
    _print({"request_id": rid, "status": "pending"})


@member_app.command("transfers")
def member_transfers() -> None:
    """The transfer requests waiting for your decision (workers within your branch)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "enrol")
        rows = transfers.pending(s, scope=scope_of(who), known_at=now())
        audit(s, who, "read_transfers", "transfer", requests=len(rows))
    _print(rows)


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
    _print(result)


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
    _print({"state": state, "history": history})


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
    _print(result)


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


# ---- billing ---------------------------------------------------------------------------------
@bill_app.command("declare")
def bill_declare(
    npp: str,
    month: Annotated[str, typer.Option("--period")],
    file: Annotated[Path, typer.Option("--file", help="CSV or XLSX with columns nik, wage")],
    user: User = "cli",
) -> None:
    """Upload an employer's wage declaration for a month (a new version each time it changes)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "declare")
        by = name_of(who, user)
        r = ledger.declare_wages(
            s,
            scope=scope_of(who),
            npp=npp,
            period=period(month),
            table=read_path(file),
            recorded_at=now(),
            recorded_by=by,
        )
        audit(s, who, "declare_wages", "declaration", key=f"{npp}/{month}")
    _print(r.__dict__)


@bill_app.command("run")
def bill_run(month: str, user: User = "cli", rules_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Compute the month's bills as a draft run (corrections only where inputs changed)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "billing_run")
        by = name_of(who, user)
        r = ledger.run_billing(
            s, scope=scope_of(who), period=period(month), maker=by, tree=tree(rules_dir), started_at=now()
        )
        audit(s, who, "run_billing", "billing_run", key=month)
    _print(r.to_json())


@bill_app.command("approve")
def bill_approve(run_id: int, user: User = "cli", rules_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Approve a draft run (must be another person than its maker)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "billing_decide")
        result = ledger.approve_run(
            s, scope=scope_of(who), run_id=run_id, checker=name_of(who, user), tree=tree(rules_dir), decided_at=now()
        )
        audit(s, who, "approve_billing_run", "billing_run", key=str(run_id))
    _print(result)


@bill_app.command("reject")
def bill_reject(run_id: int, user: User = "cli") -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "billing_decide")
        result = ledger.reject_run(s, scope=scope_of(who), run_id=run_id, checker=name_of(who, user), decided_at=now())
        audit(s, who, "reject_billing_run", "billing_run", key=str(run_id))
    _print(result)


@bill_app.command("show")
def bill_show(run_id: int, limit: int = 200) -> None:
    """A run with its exception list."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "billing_read")
        report = ledger.run_report(s, scope=scope_of(who), run_id=run_id, limit=limit)
        audit(s, who, "read_billing_run", "billing_run", key=str(run_id))
    report["exception_list"] = [masked(who, "exception", r) for r in report["exception_list"]]
    _print(report)


@bill_app.command("list")
def bill_list(month: Annotated[str | None, typer.Option("--period")] = None) -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        actor(s, "billing_read")
        runs = ledger.list_runs(s, period=period(month) if month else None)
    table = Table("Run", "Period", "Status", "Maker", "Checker", "Lines", "Exceptions", "Amount")
    for r in runs:
        table.add_row(
            str(r["id"]), r["period"], r["status"], r["maker"], r["checker"] or "", number(r["lines"]),
            number(r["exceptions"]), rupiah(r["amount"]),
        )  # fmt: skip
    out.print(table)


# ---- payments --------------------------------------------------------------------------------
@pay_app.command("import")
def pay_import(file: Path, user: User = "cli", rules_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Post a bank / virtual-account CSV (reference, va_number, amount, paid_on) and allocate it."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "payment_import")
        by = name_of(who, user)
        table = read_path(file)
        out.print(f"validated {len(table.rows)} rows; posting", highlight=False)
        r = ledger.import_payments(
            s, scope=scope_of(who), table=table, tree=tree(rules_dir), recorded_at=now(), recorded_by=by
        )
        audit(s, who, "import_payments", "payment_file", key=r.file, posted=r.posted)
    _print(r.to_json())


@pay_app.command("reverse")
def pay_reverse(reference: str, reason: Annotated[str, typer.Option()]) -> None:
    """Reverse a posted payment (bank recall); allocations and fines it caused are reversed too."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "payment_reverse")
        result = ledger.reverse_payment(
            s, scope=scope_of(who), reference=reference, reason=reason, tree=tree(), recorded_at=now()
        )
        audit(s, who, "reverse_payment", "payment", key=reference, reason=reason)
    _print(result)


@pay_app.command("statement")
def pay_statement(va_number: str) -> None:
    """An account's bills, payments and balance."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "statement")
        result = ledger.statement(s, scope=scope_of(who), va_number=va_number)
        audit(s, who, "read_statement", "account", key=va_number)
    _print(result)


@pay_app.command("arrears")
def pay_arrears(
    as_of: Annotated[str | None, typer.Option("--as-of")] = None, limit: int = 50, as_json: Json = False
) -> None:
    """Arrears per employer and participant, aged 0-1, 2-3, 4-6, >6 months overdue."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "arrears")
        rows = ledger.arrears(s, scope=scope_of(who), as_of=day(as_of, "as_of") if as_of else now().date())
        audit(s, who, "read_arrears", "account", accounts=len(rows))
    if as_json:
        _print(rows)
        return
    table = Table("VA", "Kind", "Holder", "0-1", "2-3", "4-6", ">6", "Fines", "Total", "Since")
    for r in rows[:limit]:
        table.add_row(
            r["va_number"], r["kind"], r["holder"] or "", *(rupiah(r[b]) for b in ("0-1", "2-3", "4-6", ">6")),
            rupiah(r["fines"]), rupiah(r["total"]), r["oldest"],
        )  # fmt: skip
    out.print(table)
    out.print(f"{number(len(rows))} account(s) in arrears; total {rupiah(sum(r['total'] for r in rows))}")


# ---- status, export, serve -------------------------------------------------------------------
def active(
    month: str,
    cutoff: Annotated[str | None, typer.Option(help="Paid-by date (default: the coverage parameter).")] = None,
    rules_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Active participants in a month: persons, per segment and per program."""
    with domain_errors(), unit_of_work(engine()) as s:
        actor(s, "active_counts")
        counts = ledger.active_counts(
            s,
            period=period(month),
            tree=tree(rules_dir),
            known_at=now(),
            cutoff=day(cutoff, "cutoff") if cutoff else None,
        )
    _print(counts)


@warehouse_app.command("export")
def warehouse_export(out_dir: Annotated[Path, typer.Option("--out")]) -> None:
    """Write new facts to the Parquet warehouse (incremental)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "export")
        r = warehouse.export(
            s, out=out_dir, tree=tree(), known_at=now(), pseudonym_key=settings().secret("pseudonym_key")
        )
        audit(s, who, "export", "warehouse", key=str(out_dir))
    _print(r.to_json())


def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", "-w", help="The steering warehouse (JAMSOS_WAREHOUSE_DIR).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes (JAMSOS_WEB_WORKERS; one per core is a start).")
    ] = None,
) -> None:
    """Serve the web application: the dashboard and operations screens at /, the REST API at /api
    (OpenAPI docs at /api/docs). Idle connections are kept open JAMSOS_WEB_KEEP_ALIVE_SECONDS (75 s)."""
    import os

    import uvicorn

    if warehouse is not None:
        os.environ["JAMSOS_WAREHOUSE_DIR"] = str(warehouse)
        settings.cache_clear()
    cfg = settings()
    with domain_errors():
        engine()  # a store that is not migrated is refused here, with the command that fixes it
    h, p = host or cfg.host, port or cfg.port
    out.print(f"jamsos on http://{h}:{p}/ (API: http://{h}:{p}/api/docs); Ctrl-C to stop", highlight=False)
    uvicorn.run(
        "jamsos.web.app:app_from_environment",
        factory=True,
        host=h,
        port=p,
        workers=workers or cfg.web_workers,
        **uvicorn_options(cfg),
    )


def uvicorn_options(cfg: Settings) -> dict[str, Any]:
    """How ``jamsos serve`` runs uvicorn: idle connections kept ``web_keep_alive_seconds``; the client address
    taken from X-Forwarded-For only when it comes from a proxy named in ``JAMSOS_TRUSTED_PROXIES`` (uvicorn's
    default trusts loopback, so anyone on the machine could write any address into the audit log and step around
    the login rate limit)."""
    trusted = cfg.trusted_proxies.strip()
    return {
        "timeout_keep_alive": cfg.web_keep_alive_seconds,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or "",
    }


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
    _print({"sponsor": r.number, "va_number": r.va_number})


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
    _print({"project": r.number, "va_number": r.va_number})

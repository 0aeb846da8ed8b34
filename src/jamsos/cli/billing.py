"""Ledger commands: wage declarations, the billing run (maker–checker), payment files, reversals, statements and
arrears."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jamsos.cli.common import (
    Json,
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
    tree,
)
from jamsos.i18n.numbers import number, rupiah
from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_path
from jamsos.ledger import service as ledger

bill_app = typer.Typer(help="Wage declarations and the monthly billing run (maker–checker).", no_args_is_help=True)


pay_app = typer.Typer(
    help="Payments: bank/virtual-account files, reversals, statements, arrears.", no_args_is_help=True
)


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
    print_data(r.__dict__)


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
    print_data(r.to_json())


@bill_app.command("approve")
def bill_approve(run_id: int, user: User = "cli", rules_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Approve a draft run (must be another person than its maker)."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "billing_decide")
        result = ledger.approve_run(
            s, scope=scope_of(who), run_id=run_id, checker=name_of(who, user), tree=tree(rules_dir), decided_at=now()
        )
        audit(s, who, "approve_billing_run", "billing_run", key=str(run_id))
    print_data(result)


@bill_app.command("reject")
def bill_reject(run_id: int, user: User = "cli") -> None:
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "billing_decide")
        result = ledger.reject_run(s, scope=scope_of(who), run_id=run_id, checker=name_of(who, user), decided_at=now())
        audit(s, who, "reject_billing_run", "billing_run", key=str(run_id))
    print_data(result)


@bill_app.command("show")
def bill_show(run_id: int, limit: int = 200) -> None:
    """A run with its exception list."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "billing_read")
        report = ledger.run_report(s, scope=scope_of(who), run_id=run_id, limit=limit)
        audit(s, who, "read_billing_run", "billing_run", key=str(run_id))
    report["exception_list"] = [masked(who, "exception", r) for r in report["exception_list"]]
    print_data(report)


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
    print_data(r.to_json())


@pay_app.command("reverse")
def pay_reverse(reference: str, reason: Annotated[str, typer.Option()]) -> None:
    """Reverse a posted payment (bank recall); allocations and fines it caused are reversed too."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "payment_reverse")
        result = ledger.reverse_payment(
            s, scope=scope_of(who), reference=reference, reason=reason, tree=tree(), recorded_at=now()
        )
        audit(s, who, "reverse_payment", "payment", key=reference, reason=reason)
    print_data(result)


@pay_app.command("statement")
def pay_statement(va_number: str) -> None:
    """An account's bills, payments and balance."""
    with domain_errors(), unit_of_work(engine()) as s:
        who = actor(s, "statement")
        result = ledger.statement(s, scope=scope_of(who), va_number=va_number)
        audit(s, who, "read_statement", "account", key=va_number)
    print_data(result)


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
        print_data(rows)
        return
    table = Table("VA", "Kind", "Holder", "0-1", "2-3", "4-6", ">6", "Fines", "Total", "Since")
    for r in rows[:limit]:
        table.add_row(
            r["va_number"], r["kind"], r["holder"] or "", *(rupiah(r[b]) for b in ("0-1", "2-3", "4-6", ">6")),
            rupiah(r["fines"]), rupiah(r["total"]), r["oldest"],
        )  # fmt: skip
    out.print(table)
    out.print(f"{number(len(rows))} account(s) in arrears; total {rupiah(sum(r['total'] for r in rows))}")

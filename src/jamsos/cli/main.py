"""The ``jamsos`` command: contribution calculator, parameter tree, due dates and fines, demo."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jamsos.cli import admin, common, demo_ops, ops, plan, steer
from jamsos.cli.common import domain_errors, out, settings
from jamsos.i18n.numbers import percent, rupiah
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import benefits, deadlines
from jamsos.rules import codes as c
from jamsos.rules.calculator import Bill, Membership, calculate, parse_programs
from jamsos.rules.check import check_tree
from jamsos.rules.tree import Parameter

app = typer.Typer(help="jamsos: employment social security (BPJS Ketenagakerjaan model).", no_args_is_help=True)
rules_app = typer.Typer(help="The dated, cited parameter tree.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


RulesDir = Annotated[
    Path | None,
    typer.Option("--rules-dir", help="Parameter tree to use (default: JAMSOS_RULES_DIR or the built-in one)."),
]


def _bill_table(bill: Bill, title: str, lang: str = "id") -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for col, just in (
        ("Program", "left"),
        ("Pembayar", "left"),
        ("Jenis", "left"),
        ("Dasar", "right"),
        ("Tarif", "right"),
        ("Iuran", "right"),
        ("Dasar hukum", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for line in bill.lines:
        mark = " [yellow](belum diverifikasi)[/]" if line["status"] != "verified" else ""
        table.add_row(
            line["program"],
            line["payer"],
            line["kind"],
            "" if line["basis"] is None else rupiah(line["basis"], lang),
            percent(line["rate"], lang),
            rupiah(line["amount"], lang),
            line["reference"] + mark,
        )
    for payer, amount in bill.totals_by_payer.items():
        table.add_row("", f"[bold]{payer}[/]", "total", "", "", f"[bold]{rupiah(amount, lang)}[/]", "")
    table.add_row("", "[bold]semua[/]", "total", "", "", f"[bold]{rupiah(bill.total, lang)}[/]", "")
    return table


@app.command()
def iuran(
    segment: Annotated[str, typer.Option(help="pu, bpu, jakon or pmi")],
    period: Annotated[str, typer.Option(help="Contribution month, YYYY-MM")],
    wage: Annotated[int | None, typer.Option(help="Monthly wage in rupiah (PU; Jakon on wages)")] = None,
    income: Annotated[int | None, typer.Option(help="Declared monthly income in rupiah (BPU)")] = None,
    risk_class: Annotated[str | None, typer.Option(help="sangat-rendah, rendah, sedang, tinggi, sangat-tinggi")] = None,
    employer_size: Annotated[str | None, typer.Option(help="mikro, kecil, menengah, besar")] = None,
    programs: Annotated[str | None, typer.Option(help="Elected programs, e.g. jkk,jkm,jht")] = None,
    payer: Annotated[str | None, typer.Option(help="self, employer, apbn, apbd, apbdes, csr, donor")] = None,
    transport: Annotated[bool, typer.Option("--transport", help="BPU transport worker (PP 50/2025)")] = False,
    labour_intensive: Annotated[
        bool, typer.Option("--labour-intensive", help="Listed labour-intensive industry (PP 7/2025)")
    ] = False,
    contract_value: Annotated[int | None, typer.Option(help="Jakon contract value in rupiah")] = None,
    contract_months: Annotated[int | None, typer.Option(help="PMI placement contract length in months")] = None,
    jht_amount: Annotated[int | None, typer.Option(help="PMI optional monthly JHT amount")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stable JSON shape")] = False,
    lang: Annotated[str, typer.Option(help="id or en")] = "id",
    rules_dir: RulesDir = None,
) -> None:
    """What contribution is owed, by whom, for one membership in one month, with its legal basis."""
    with domain_errors():
        membership = Membership(
            segment=segment,
            period=common.period(period),
            wage=wage,
            income=income,
            risk_class=risk_class,
            employer_size=employer_size,
            programs=parse_programs(programs),
            payer=payer,
            transport=transport,
            labour_intensive=labour_intensive,
            contract_value=contract_value,
            contract_months=contract_months,
            jht_amount=jht_amount,
        )
        bill = calculate(membership, common.tree(rules_dir))
    if as_json:
        typer.echo(json.dumps(bill.to_json(), ensure_ascii=False))
        return
    out.print(_bill_table(bill, f"Iuran {bill.segment.upper()} {bill.period}", lang))
    if bill.has_unverified:
        out.print("[yellow]Baris bertanda 'belum diverifikasi' memakai parameter berstatus unverified.[/]")


@app.command()
def due(
    segment: Annotated[str, typer.Option(help="pu or bpu")],
    period: Annotated[str, typer.Option(help="Contribution month, YYYY-MM")],
    paid_on: Annotated[str | None, typer.Option(help="Payment date YYYY-MM-DD, to compute the fine")] = None,
    amount: Annotated[int, typer.Option(help="Unpaid contribution in rupiah, for the fine")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    rules_dir: RulesDir = None,
) -> None:
    """The due date of a month's contribution and, given a payment date, the late-payment fine."""
    with domain_errors():
        tree = common.tree(rules_dir)
        p = common.period(period)
        result: dict[str, Any] = {
            "segment": segment,
            "period": str(p),
            "due": deadlines.due_date(segment, p, tree).isoformat(),
        }
        if paid_on is not None:
            paid = common.day(paid_on, "paid_on")
            f = deadlines.fine(segment, p, amount, paid, tree)
            result |= {
                "paid_on": paid.isoformat(),
                "months_late": f.months_late,
                "fine": f.amount,
                "rate_per_month": f.rate_per_month,
                "reference": f.reference,
                "status": f.status,
            }
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        out.print(f"{key:>15}: {rupiah(value) if key == 'fine' else value}", highlight=False)


@app.command()
def benefit(
    kind: Annotated[str, typer.Argument(help="jkm, jkk-death or jkp")],
    period: Annotated[str, typer.Option(help="Month of the event, YYYY-MM")],
    wage: Annotated[int, typer.Option(help="Monthly wage (jkk-death, jkp)")] = 0,
    membership_months: Annotated[int, typer.Option(help="Months of membership (jkm scholarship)")] = 0,
    children: Annotated[int, typer.Option(help="Number of children (jkm scholarship)")] = 0,
    rules_dir: RulesDir = None,
) -> None:
    """Benefit amounts under the rules in force in the month of the event."""
    with domain_errors():
        tree = common.tree(rules_dir)
        p = common.period(period)
        calculators: dict[str, Callable[[], benefits.Benefit]] = {
            "jkm": lambda: benefits.jkm(p, membership_months, children, tree),
            "jkk-death": lambda: benefits.jkk_death(p, wage, tree),
            "jkp": lambda: benefits.jkp_schedule(p, wage, tree),
        }
        if kind not in calculators:
            raise InvalidInput([FieldProblem("kind", f"expected one of {', '.join(calculators)}", value=kind)])
        result = calculators[kind]()
    for name, value in result.components.items():
        out.print(f"{name:>22}: {rupiah(int(value)) if 'children' not in name else int(value)}", highlight=False)
    out.print(f"{'total':>22}: [bold]{rupiah(int(result.total))}[/]", highlight=False)
    out.print(
        f"{'dasar hukum':>22}: {'; '.join(result.references)}" + (" (unverified)" if result.unverified else ""),
        highlight=False,
    )


def _show_value(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return (
            "; ".join(_show_value(v) for v in value)
            if value and isinstance(value[0], dict)
            else ",".join(map(str, value))
        )
    return "—" if value is None else str(value)


def _parameter_table(params: list[Parameter], title: str, history: bool = False) -> Table:
    """Latest value per parameter, or (``history``) every dated value with its citation."""
    table = Table(title=title, title_justify="left")
    for col in ("Parameter", "Berlaku", "Nilai", "Satuan", "Dasar hukum", "Status"):
        table.add_column(col, overflow="fold")
    for param in params:
        values = param.values if history else param.values[-1:]
        for v in values:
            if history:
                status = "verified" if v.verified else "[yellow]unverified[/]"
            else:
                status = "[yellow]unverified[/]" if any(not x.verified for x in param.values) else "verified"
            table.add_row(
                param.path, v.start.isoformat(), _show_value(v.value), param.unit or "mixed", v.reference, status
            )
    return table


@rules_app.command("check")
def rules_check(rules_dir: RulesDir = None) -> None:
    """Validate the parameter tree: schema, references, dates, and cross-parameter consistency."""
    with domain_errors():
        tree = common.tree(rules_dir)
        report = check_tree(tree)
    out.print(
        f"OK: {report.parameters} parameters, {report.values} dated values, "
        f"{report.unverified} unverified, checked {report.months_checked} months "
        f"({report.first_month} … {report.last_month}).",
        highlight=False,
    )


@rules_app.command("list")
def rules_list(rules_dir: RulesDir = None) -> None:
    """Every parameter with its latest value, reference and verification status."""
    with domain_errors():
        tree = common.tree(rules_dir)
    out.print(_parameter_table(list(tree), f"Parameter ({len(tree)}) — {tree.directory}"))


@rules_app.command("show")
def rules_show(path: str, rules_dir: RulesDir = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A parameter's whole history with citations and unverified marks."""
    with domain_errors():
        param = common.tree(rules_dir)[path]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "path": param.path,
                    "description": param.description,
                    "unit": param.unit,
                    "values": [
                        {
                            "from": v.start.isoformat(),
                            "value": _show_value(v.value),
                            "reference": v.reference,
                            "status": v.status,
                            "note": v.note,
                        }
                        for v in param.values
                    ],
                },
                ensure_ascii=False,
            )
        )
        return
    out.print(f"[bold]{param.path}[/] — {param.description} (unit: {param.unit or 'mixed'}; file {param.source})")
    table = Table()
    for col in ("Berlaku mulai", "Nilai", "Dasar hukum", "Status", "Catatan"):
        table.add_column(col, overflow="fold")
    for v in param.values:
        status = "verified" if v.verified else "[yellow]unverified[/]"
        table.add_row(v.start.isoformat(), _show_value(v.value), v.reference, status, v.note or "")
    out.print(table)


DEMO_CASES: list[tuple[str, Membership]] = [
    *[
        (
            f"Pekerja PU, risiko {rc.replace('_', ' ')}, upah Rp8.000.000, perusahaan besar",
            Membership("pu", Period(2024, 5), wage=8_000_000, risk_class=rc, employer_size="besar"),
        )
        for rc in c.RISK_CLASSES
    ],
    (
        "Pekerja PU usaha mikro, upah Rp2.500.000",
        Membership("pu", Period(2024, 5), wage=2_500_000, risk_class="rendah", employer_size="mikro"),
    ),
    (
        "Pedagang pasar (BPU) dengan JHT, penghasilan Rp2.000.000",
        Membership("bpu", Period(2024, 5), income=2_000_000, programs=("jkk", "jkm", "jht")),
    ),
    ("Pekerja rentan (BPU) dibayar APBD, paket minimum", Membership("bpu", Period(2024, 5), payer="apbd")),
    (
        "Pengemudi ojek daring (BPU transportasi) saat PP 50/2025",
        Membership("bpu", Period(2026, 2), income=3_000_000, transport=True),
    ),
    ("Proyek Jakon, nilai kontrak Rp2.000.000.000", Membership("jakon", Period(2024, 5), contract_value=2_000_000_000)),
    ("PMI, kontrak 24 bulan", Membership("pmi", Period(2024, 5), contract_months=24)),
]


@app.command()
def demo(
    rules_dir: RulesDir = None,
    serve: Annotated[bool, typer.Option(help="Serve the web app on JAMSOS_HOST:JAMSOS_PORT afterwards.")] = False,
    data_dir: Annotated[Path, typer.Option(help="Where the demo store and warehouse go.")] = Path("var/demo"),
) -> None:
    """The calculator on typical workers, the parameter table, then six months of branch operations."""
    wide = Console(width=max(out.width, 170))
    with domain_errors():
        tree = common.tree(rules_dir)
        report = check_tree(tree)
        for title, membership in DEMO_CASES:
            wide.print(_bill_table(calculate(membership, tree), f"{title} — {membership.period}"))
            wide.print()
    wide.print(_parameter_table(list(tree), "Parameter iuran dan manfaat: riwayat, dasar hukum, status", history=True))
    wide.print(
        f"Parameter tree valid: {report.parameters} parameters, {report.values} dated values, "
        f"{report.unverified} unverified. Try: .venv/bin/jamsos iuran --help"
    )
    wide.rule("Operations: a synthetic branch-office half-year on the embedded store (SQLite)")
    with domain_errors():
        url = demo_ops.run(wide, tree, data_dir, settings().secret("pseudonym_key"))
    wide.print(f"Explore it: JAMSOS_DATABASE_URL={url} .venv/bin/jamsos pay arrears")
    wide.rule(f"Steering: a calibrated synthetic nation at scale {steer.DEMO_SCALE}, its KPIs and the year's report")
    with domain_errors():
        steer.demo(wide, tree, data_dir / "nation")
    wide.rule("Planning: the published forecast, targets split to branches, attainment, the fund projection")
    with domain_errors():
        plan.demo(wide, tree, data_dir / "nation")
    if serve:
        import uvicorn

        os.environ["JAMSOS_DATABASE_URL"] = url
        os.environ["JAMSOS_WAREHOUSE_DIR"] = str(data_dir / "nation")
        settings.cache_clear()
        cfg = settings()
        wide.print(
            f"The dashboard: http://{cfg.host}:{cfg.port}/ — operations at /ops, the API at /api/docs (Ctrl-C to stop)"
        )
        uvicorn.run("jamsos.web.app:app_from_environment", factory=True, host=cfg.host, port=cfg.port)


ops.register(app)
steer.register(app)
plan.register(app)
admin.register(app)

"""Steering commands: the synthetic nation, warehouse imports, KPIs, the year's report, reconciliation."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from jamsos.cli.common import domain_errors, err, out, period, settings, tree, write_csv
from jamsos.cli.store import warehouse_app
from jamsos.coverage import reconcile as rec
from jamsos.coverage import service as coverage
from jamsos.coverage.report import year_report
from jamsos.fund import projection as fund
from jamsos.fund.report import fund_section
from jamsos.infra.compute import ENGINES, UnknownEngine, Warehouse, connect, open_warehouse
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.planning import service as planning
from jamsos.planning.report import target_section
from jamsos.rules.tree import ParameterTree
from jamsos.synth import national
from jamsos.warehouse import imports

WarehouseDir = Annotated[Path, typer.Option("--warehouse", "-w", help="The warehouse directory.")]
Engine = Annotated[str, typer.Option("--engine", help="duckdb (default) or spark.")]


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
    app.command("kpi")(kpi_command)
    app.command("report")(report)
    app.command("reconcile")(reconcile)
    warehouse_app.command("import")(warehouse_import)


@contextmanager
def _progress() -> Iterator[national.Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the warehouse into.")],
    scale: Annotated[float, typer.Option(help="1.0 is the national population (~61 m registered).")] = 0.01,
    first: Annotated[str, typer.Option("--from", help="First month written (YYYY-MM, from 2018-01).")] = "2022-12",
    last: Annotated[str, typer.Option("--to", help="Last month written.")] = "2023-12",
    seed: Annotated[int, typer.Option(help="The same seed gives the same files.")] = 1,
    calibration: Annotated[str, typer.Option(help="2023-12 level: news (41.46 m) or audited (41.56 m).")] = "news",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    identities: Annotated[
        Path | None,
        typer.Option(help="Also write the invented NIKs, names and KPJs behind the person keys here (for tests)."),
    ] = None,
) -> None:
    """Generate a calibrated synthetic national population as a warehouse; report the calibration error.
    Persons are keyed by the keyed hash of their invented NIK (JAMSOS_PSEUDONYM_KEY), as in an export."""
    with domain_errors(), _progress() as progress:
        r = national.generate(
            out_dir,
            tree=tree(),
            scale=scale,
            first=period(first, "--from"),
            last=period(last, "--to"),
            seed=seed,
            calibration_target=calibration,
            progress=progress,
            pseudonym_key=settings().secret("pseudonym_key"),
            identities=identities,
        )
    if as_json:
        out.print_json(json.dumps(r.to_json()))
    else:
        t = Table(title=f"Calibration (scale {scale}, seed {seed}, target {calibration})")
        for col in ("target", "expected", "achieved", "error %"):
            t.add_column(col, justify="left" if col == "target" else "right")
        for x in r.targets:
            t.add_row(x.name, f"{x.target:,.1f}", f"{x.achieved:,.0f}", f"{x.error_pct:.3f}")
        out.print(t)
        out.print(f"rows: {r.rows}")
        out.print(f"worst calibration error: {r.worst_error_pct:.3f} % (limit 1 %)")
    if r.worst_error_pct > 1.0:
        err.print("[bold red]calibration error above 1 %[/] (a scale this small cannot place every province)")
        raise typer.Exit(1)


def _open(directory: Path, engine: str) -> Warehouse:
    if engine not in ENGINES:
        raise UnknownEngine(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return open_warehouse(connect(engine), directory, engine)


def _scale_note(directory: Path, lang: str) -> str:
    scale = coverage.warehouse_scale(directory)
    if scale is None:
        return ""
    if lang == "id":
        return (
            f"Catatan: data sintetis pada skala {scale} dari populasi nasional; target peserta diskalakan sama. "
            "Dana kelolaan diproyeksikan pada skala nasional dari asumsi skenario."
        )
    return (
        f"Note: synthetic data at scale {scale} of the national population; participant targets are scaled alike. "
        "The fund is projected at national scale from the scenario's assumptions."
    )


def kpi_command(
    warehouse: WarehouseDir,
    month: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    by: Annotated[
        str,
        typer.Option(
            help="Comma-separated: kanwil, branch, province, regency, segment, ecosystem, channel, payer_source."
        ),
    ] = "",
    engine: Engine = "duckdb",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """Coverage KPIs for a month: nationally, or per group."""
    dims = [d.strip() for d in by.split(",") if d.strip()]
    with domain_errors():
        w = _open(warehouse, engine)
        rows = coverage.snapshot_rows(w, period=period(month), by=dims, tree=tree())
    if as_json:
        sys.stdout.write(
            json.dumps({"period": month, "engine": engine, "rows": rows}, default=str, ensure_ascii=False) + "\n"
        )
    elif as_csv:
        write_csv(rows)
    else:
        keys = [k for k in rows[0] if k in ("kanwil", "branch", "province", "regency", *dims)] if rows else []
        shown = [*keys, "active", "active_yoy_pct", "retention_pct", "new", "reactivated", "lapsed", "registered"]
        t = Table(title=f"KPI {month} ({engine})")
        for col in shown:
            t.add_column(col, justify="left" if col in keys else "right")
        for r in rows:
            t.add_row(*("" if r.get(c) is None else f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in shown))
        out.print(t)


def report(
    warehouse: WarehouseDir,
    year: Annotated[int, typer.Option(help="The year: December against the December before.")],
    lang: Annotated[str, typer.Option(help="id (default) or en.")] = "id",
    engine: Engine = "duckdb",
    sections: Annotated[str, typer.Option(help="Comma-separated: coverage, targets, fund.")] = "coverage,targets,fund",
    scenario: Annotated[str, typer.Option(help="Fund scenario: a file or base, optimistic, pessimistic.")] = "base",
) -> None:
    """The year in the agency's own style: coverage, targets (attainment, run-rate, forecast and the chance of
    reaching them) and the fund projection against the roadmap — every figure computed, none typed in."""
    wanted = [x.strip() for x in sections.split(",") if x.strip()]
    paragraphs: list[str] = []
    with domain_errors():
        unknown = [x for x in wanted if x not in ("coverage", "targets", "fund")]
        if unknown:
            raise InvalidInput(
                [FieldProblem("--sections", "choose from coverage, targets, fund", value=",".join(unknown))]
            )
        rules = tree()
        w = _open(warehouse, engine)
        note = _scale_note(warehouse, lang)
        if "coverage" in wanted:
            fig = coverage.year_figures(w, year=year, tree=rules)
            paragraphs += year_report(fig, lang)
        if "targets" in wanted:
            att = planning.attainment(
                w, tree=rules, as_of=Period(year, 12), periods=[Period(year, 12), Period(year + 1, 12)]
            )
            paragraphs += target_section(att.rows, planning.national_forecasts(w, tree=rules, report=att), lang)
        if "fund" in wanted:
            s = fund.Scenario.load(scenario)
            until = Period(year + 1, 12)
            if s.period("opening.period") < until:
                paragraphs += fund_section(fund.to_json(fund.project(s, tree=rules, until=until)), lang)
        if note:
            paragraphs.append(note)
    for paragraph in paragraphs:
        out.print(paragraph, highlight=False)
        out.print()


def _parse_options(levels: list[str], increments: list[str], growth: list[str]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    problems: list[FieldProblem] = []
    for kind, values in (("level", levels), ("increment", increments), ("growth", growth)):
        for text in values:
            span, _, rest = text.partition("=")
            value, _, label = rest.partition(":")
            base, _, end = span.partition("..")
            if not rest:
                problems.append(FieldProblem(f"--{kind}", "write MONTH=VALUE or FROM..TO=VALUE[:label]", value=text))
                continue
            rows.append(
                {
                    "kind": kind,
                    "base_period": base if end else "",
                    "period": end or base,
                    "value": value,
                    "label": label,
                }
            )
    if problems:
        raise InvalidInput(problems)
    return rows


def reconcile(
    level: Annotated[list[str] | None, typer.Option(help="MONTH=VALUE[:label], e.g. 2023-12=41.46")] = None,
    increment: Annotated[list[str] | None, typer.Option(help="FROM..TO=VALUE, e.g. 2022-12..2023-12=5.60")] = None,
    growth: Annotated[list[str] | None, typer.Option(help="FROM..TO=PERCENT, e.g. 2022-12..2023-12=15.89")] = None,
    file: Annotated[Path | None, typer.Option(help="CSV: kind,base_period,period,value[,label,source]")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Which quoted figures reconcile with each other, and by how much those that don't miss.
    With no figures, the source article (ANTARA Ambon 2024) is checked."""
    with domain_errors():
        if file is not None:
            figures = rec.parse_figures(list(csv.DictReader(file.read_text(encoding="utf-8-sig").splitlines())))
        elif level or increment or growth:
            figures = rec.parse_figures(_parse_options(level or [], increment or [], growth or []), first_row=1)
        else:
            figures = rec.article_case()
        checks = rec.reconcile(figures)
    implied = rec.implied_levels(figures)
    if as_json:
        data: dict[str, Any] = {
            "figures": [f.name() for f in figures],
            "checks": [c.to_json() for c in checks],
            "implied_levels": [{"growth": g.name(), "level": float(round(v, 4))} for g, v in implied],
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    for c in checks:
        mark = "[green]✓ reconciles[/]" if c.reconciles else "[red]✗ does not reconcile[/]"
        out.print(f"{mark}: {c.quoted.name()}", highlight=False)
        out.print(
            f"    {c.relation}: {c.derived:.4f} from {' and '.join(q.name() for q in c.uses)}; "
            f"difference {c.difference:+.4f} (rounding allows ±{c.tolerance:.4f})",
            highlight=False,
        )
    for g, v in implied:
        out.print(f"{g.name()} implies a level of {v:.2f} at {g.period}.", highlight=False)
    if not checks:
        out.print("no two figures relate to each other; nothing to check")


def warehouse_import(
    warehouse: WarehouseDir,
    dataset: Annotated[str, typer.Option(help=", ".join(imports.IMPORTABLE))],
    file: Annotated[Path, typer.Argument(help="CSV or Parquet extract")],
) -> None:
    """Import an extract from another core system (validated whole; a repeated import changes nothing)."""
    with domain_errors():
        r = imports.import_extract(warehouse, dataset=dataset, file=file)
    out.print_json(json.dumps(r.to_json()))


DEMO_SCALE = 0.01  # 610 k registered people: built in about 15 s, every page warm in about 5 s


def demo(console: Console, tree: ParameterTree, directory: Path, scale: float = DEMO_SCALE) -> None:
    """The steering part of ``jamsos demo``: generate, snapshot by Kanwil, the 2023 report, reconcile."""
    from jamsos.kernel.period import Period

    report = national.generate(
        directory,
        tree=tree,
        scale=scale,
        first=Period(2022, 1),
        last=Period(2023, 12),
        pseudonym_key=settings().secret("pseudonym_key"),
    )
    console.print(
        f"Synthetic warehouse {directory}: {report.rows['contribution_months']:,} contribution months, "
        f"worst calibration error {report.worst_error_pct:.3f} % (limit 1 %)."
    )
    w = _open(directory, "duckdb")
    rows = coverage.snapshot_rows(w, period=Period(2023, 12), by=("kanwil",), tree=tree)
    t = Table(title=f"KPI 2023-12 per Kanwil (scale {scale})")
    for col in ("kanwil", "active", "active_yoy_pct", "retention_pct", "new", "reactivated", "lapsed", "registered"):
        t.add_column(col, justify="left" if col == "kanwil" else "right")
    for r in rows:
        t.add_row(
            r["kanwil_name"], f"{r['active']:,}", f"{r['active_yoy_pct']:.2f}", f"{r['retention_pct']:.2f}",
            f"{r['new']:,}", f"{r['reactivated']:,}", f"{r['lapsed']:,}", f"{r['registered']:,}",
        )  # fmt: skip
    console.print(t)
    fig = coverage.year_figures(w, year=2023, tree=tree, scale_note=_scale_note(directory, "id"))
    for paragraph in year_report(fig, "id"):
        console.print(paragraph, highlight=False)
    checks = rec.reconcile(rec.article_case())
    bad = [c for c in checks if not c.reconciles and c.relation == "growth from levels"]
    for c in bad[:1]:
        console.print(
            f"Rekonsiliasi: {c.quoted.name()} tidak sesuai dengan {' dan '.join(q.name() for q in c.uses)} "
            f"(seharusnya {c.derived:.2f} %). Try: .venv/bin/jamsos reconcile",
            highlight=False,
        )
    console.print(f"Try: .venv/bin/jamsos kpi -w {directory} --period 2023-12 --by branch,segment")

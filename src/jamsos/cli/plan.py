"""Planning commands: forecasts of active participants, targets (import, attainment, decomposition) and the
fund projection."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jamsos.cli.common import domain_errors, err, out, period, tree, write_csv
from jamsos.coverage import service as coverage
from jamsos.fund import projection as fund
from jamsos.infra.compute import connect, open_warehouse
from jamsos.infra.files import read_path
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.planning import service as planning
from jamsos.planning import targets as tg
from jamsos.planning.forecast import MODELS, Forecast, forecast, published_active
from jamsos.rules.tree import ParameterTree

target_app = typer.Typer(
    help="Targets for active participants: import, attainment, decomposition.", no_args_is_help=True
)
WarehouseDir = Annotated[Path, typer.Option("--warehouse", "-w", help="The warehouse directory.")]


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)
    app.add_typer(target_app, name="target")
    app.add_typer(fund_app, name="fund")


def read_series(path: Path) -> list[tuple[Period, float]]:
    """A CSV/XLSX with ``period`` (YYYY-MM) and ``value``; months may be skipped. Every bad cell is reported."""
    table = read_path(path)
    table.require(("period", "value"))
    problems: list[FieldProblem] = []
    seen: dict[Period, int] = {}
    out_rows: list[tuple[Period, float]] = []
    for number, row in table.rows:
        try:
            p = Period.parse(row["period"])
        except ValueError:
            problems.append(FieldProblem("period", "must be a month YYYY-MM", row=number, value=row["period"]))
            continue
        try:
            value = float(row["value"])
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        except ValueError:
            problems.append(FieldProblem("value", "must be a number", row=number, value=row["value"]))
            continue
        if p in seen:
            problems.append(FieldProblem("period", f"already given in row {seen[p]}", row=number, value=str(p)))
            continue
        seen[p] = number
        out_rows.append((p, value))
    if problems:
        raise InvalidInput(problems)
    return out_rows


def _show(f: Forecast, title: str) -> None:
    t = Table(title=f"{title}: {f.model.replace('_', ' ')}")
    for col in ("period", "mean", "lo80", "hi80", "lo95", "hi95"):
        t.add_column(col, justify="right")
    for p in f.points:
        j = p.to_json()
        t.add_row(j["period"], *(f"{j[c]:,.2f}" for c in ("mean", "lo80", "hi80", "lo95", "hi95")))
    out.print(t)
    if f.target is not None:
        out.print(f"P(reaching {f.target:,} by {f.until}) = {f.p_reach_target:.1%}", highlight=False)
    for b in f.backtests:
        out.print(
            f"  back-test {b.model}: {b.origins} origins, MAPE {b.mape_pct} %, MAE {b.mae}, "
            f"80 % interval covered {b.coverage80}, 95 % covered {b.coverage95}",
            highlight=False,
        )
    out.print(f"Assumptions: {f.assumptions}", highlight=False)


def forecast_command(
    until: Annotated[str, typer.Option(help="Last month to forecast (YYYY-MM).")],
    input_file: Annotated[Path | None, typer.Option("--input", help="CSV/XLSX with period,value.")] = None,
    warehouse: Annotated[Path | None, typer.Option("--warehouse", "-w", help="Forecast active participants.")] = None,
    by: Annotated[str, typer.Option(help="With --warehouse: groups, e.g. branch or segment.")] = "",
    since: Annotated[str | None, typer.Option("--from", help="With --warehouse: first month used.")] = None,
    target: Annotated[float | None, typer.Option(help="Probability of reaching this level by --until.")] = None,
    model: Annotated[str | None, typer.Option(help=", ".join(MODELS) + " (default: best back-test)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Forecast a monthly series with 80 % and 95 % intervals and the chance of reaching a target."""
    end = period(until, "--until")
    results: list[tuple[dict[str, Any], Forecast]] = []
    with domain_errors():
        if (input_file is None) == (warehouse is None):
            raise InvalidInput([FieldProblem("--input", "give either --input FILE or --warehouse DIR")])
        if input_file is not None:
            results.append(({}, forecast(read_series(input_file), until=end, target=target, model=model)))
        else:
            assert warehouse is not None
            dims = [d.strip() for d in by.split(",") if d.strip()]
            w = open_warehouse(connect("duckdb"), warehouse, "duckdb")
            have = coverage.available_periods(w)
            if not have:
                raise InvalidInput([FieldProblem("--warehouse", "holds no contribution months")])
            first = period(since, "--from") if since else Period.parse(have[0])
            rows = coverage.series_rows(w, first=first, last=Period.parse(have[-1]), by=dims, tree=tree())
            groups: dict[tuple[Any, ...], list[tuple[Period, float]]] = {}
            labels: dict[tuple[Any, ...], dict[str, Any]] = {}
            for r in rows:
                key = tuple(r[k] for k in r if k not in ("period", "active"))
                labels[key] = {k: r[k] for k in r if k not in ("period", "active")}
                groups.setdefault(key, []).append((Period.parse(r["period"]), float(r["active"])))
            for key, series in sorted(groups.items(), key=lambda kv: str(kv[0])):
                results.append((labels[key], forecast(series, until=end, target=target, model=model)))
    if as_json:
        if input_file is not None:
            sys.stdout.write(json.dumps(results[0][1].to_json()) + "\n")
        else:
            sys.stdout.write(json.dumps({"until": until, "groups": [{**g, **f.to_json()} for g, f in results]}) + "\n")
        return
    for g, f in results:
        _show(f, " ".join(str(v) for v in g.values()) or "forecast")


def _warehouse(directory: Path) -> Any:
    return open_warehouse(connect("duckdb"), directory, "duckdb")


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


@target_app.command("import")
def target_import(
    file: Annotated[Path, typer.Argument(help="CSV, XLSX or YAML: period, level, office, segment, ecosystem, value.")],
    warehouse: WarehouseDir,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate a target file whole (offices checked against the warehouse's office map) and store it;
    a target with the same month, level, office, segment and ecosystem is replaced."""
    with domain_errors():
        w = _warehouse(warehouse)
        held = tg.read_targets(file, offices=coverage.office_codes(w))
        result = tg.store(warehouse, held)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
    else:
        out.print(
            f"targets: {result.added} added, {result.changed} changed, {result.unchanged} unchanged", highlight=False
        )


@target_app.command("list")
def target_list(warehouse: WarehouseDir, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The targets held: the published defaults and those imported (in national units)."""
    with domain_errors():
        rows = [t.to_row() for t in tg.load(warehouse)]
    if as_json:
        sys.stdout.write(json.dumps({"targets": rows}, ensure_ascii=False) + "\n")
        return
    t = Table(title="Targets (active participants, national units)")
    for col in ("period", "level", "office", "segment", "ecosystem", "value", "source"):
        t.add_column(col, justify="right" if col == "value" else "left", overflow="fold")
    for r in rows:
        t.add_row(*(f"{float(r[c]):,.0f}" if c == "value" else r[c] for c in r))
    out.print(t)


@target_app.command("attainment")
def target_attainment(
    warehouse: WarehouseDir,
    level: Annotated[str, typer.Option(help="Comma-separated levels: national, kanwil, branch.")] = "",
    target_period: Annotated[str, typer.Option("--period", help="Only targets for this month (YYYY-MM).")] = "",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Month of the actuals (default: the latest).")] = None,
    with_forecast: Annotated[
        bool, typer.Option("--forecast", help="Add the probability of reaching each target.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """Attainment of every target: actual, gap, net additions needed per remaining month against the run-rate
    of the last 12 months, and the rank among peers."""
    levels = _split(level) or list(tg.LEVELS)
    with domain_errors():
        bad = [x for x in levels if x not in tg.LEVELS]
        if bad:
            raise InvalidInput([FieldProblem("--level", f"must be among {', '.join(tg.LEVELS)}", value=",".join(bad))])
        report = planning.attainment(
            _warehouse(warehouse),
            tree=tree(),
            as_of=period(as_of, "--as-of") if as_of else None,
            levels=levels,
            periods=[period(target_period, "--period")] if target_period else [],
            with_forecast=with_forecast,
        )
    rows = [r.to_json() for r in report.rows]
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
        return
    if as_csv:
        write_csv(rows)
        return
    scale = f", synthetic scale {report.scale}: targets scaled" if report.scale else ""
    t = Table(title=f"Target attainment (actuals {report.as_of}{scale})")
    heads = ["month", "unit", "target", "actual", "%", "gap", "need/mo", "run/mo", "on track", "rank"]
    for h in heads + (["P(reach)"] if with_forecast else []):
        t.add_column(h, justify="left" if h in ("month", "unit") else "right")
    for r in rows:
        unit = " ".join(str(x) for x in (r["office_name"] or r["level"], r["segment"], r["ecosystem"]) if x)
        cells = [r["period"], unit, *(_fmt(r[c]) for c in ("target", "actual", "attainment_pct", "gap"))]
        cells += [_fmt(r["required_per_month"]), _fmt(r["run_rate_per_month"]), "yes" if r["on_track"] else "no"]
        cells.append(f"{r['rank']}/{r['peers']}")
        if with_forecast:
            cells.append("" if r["p_reach_target"] is None else f"{r['p_reach_target']:.1%}")
        t.add_row(*cells)
    out.print(t)


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:,}"


@target_app.command("decompose")
def target_decompose(
    warehouse: WarehouseDir,
    target_period: Annotated[str, typer.Option("--period", help="The target month (YYYY-MM).")],
    to: Annotated[str, typer.Option(help="province, kanwil or branch.")] = "branch",
    ecosystem: Annotated[bool, typer.Option("--ecosystem", help="Also split each unit by ecosystem.")] = False,
    value: Annotated[
        float | None, typer.Option(help="National target (national units); default: the one held.")
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Month of the actuals (default: the latest).")] = None,
    save: Annotated[bool, typer.Option("--save", help="Store the result as kanwil/branch targets.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """Split a national target over provinces, Kanwil or branches (and ecosystems): each unit gets its active
    participants plus a share of the gap in proportion to its potential (see docs/planning.md)."""
    with domain_errors():
        if save and to not in ("kanwil", "branch"):
            raise InvalidInput(
                [FieldProblem("--save", "targets are held per kanwil or branch; use --to kanwil|branch")]
            )
        w = _warehouse(warehouse)
        d = planning.decompose(
            w,
            tree=tree(),
            period=period(target_period, "--period"),
            to=to,
            as_of=period(as_of, "--as-of") if as_of else None,
            ecosystems=ecosystem,
            value=value,
        )
        stored = None
        if save:
            source = f"decomposed {d.as_of} from the national target {target_period} (jamsos target decompose)"
            stored = tg.store(warehouse, d.targets(coverage.warehouse_scale(warehouse), source))
    if as_json:
        sys.stdout.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
    elif as_csv:
        write_csv(d.rows)
    else:
        t = Table(
            title=f"Target {target_period} per {to}: {d.national_target:,} = {d.national_actual:,} active "
            f"({d.as_of}) + gap {d.gap:,}"
        )
        cols = [c for c in d.rows[0] if c != to] if d.rows else []
        for col in cols:
            t.add_column(col, justify="left" if col in (f"{to}_name", "ecosystem") else "right")
        for r in d.rows:
            t.add_row(*(f"{r[c]:,}" if isinstance(r[c], int | float) else str(r[c]) for c in cols))
        out.print(t)
        out.print(f"Method: {tg.METHOD}", highlight=False)
    if stored is not None:
        (err if as_json or as_csv else out).print(
            f"stored: {stored.added} added, {stored.changed} changed, {stored.unchanged} unchanged", highlight=False
        )


fund_app = typer.Typer(help="The fund under management: projections per program fund.", no_args_is_help=True)


@fund_app.command("project")
def fund_project(
    until: Annotated[str, typer.Option(help="Last month projected (YYYY-MM).")],
    start: Annotated[str | None, typer.Option("--from", help="Opening month; must be the scenario's.")] = None,
    scenario: Annotated[
        str, typer.Option(help="A scenario file, or base, optimistic, pessimistic, hindcast-2023.")
    ] = "base",
    jp_wage_cap: Annotated[float | None, typer.Option(help="What-if: a JP wage cap in rupiah…")] = None,
    jp_wage_cap_from: Annotated[
        str | None, typer.Option(help="…from this month (default: the first projected).")
    ] = None,
    coverage: Annotated[
        str, typer.Option(help="scenario (its growth) or forecast (the published series' forecast).")
    ] = "scenario",
    step: Annotated[str, typer.Option(help="year (every December and the last month) or month.")] = "year",
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", "-w", help="Participants and PU wage per month from a warehouse.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Project the fund per program (JHT, JP, JKK, JKM, JKP and BPJS's own) month by month, with the
    actuarial indicators and the comparison with the published fund and the roadmap."""
    with domain_errors():
        if step not in ("year", "month"):
            raise InvalidInput([FieldProblem("--step", "must be year or month", value=step)])
        s = fund.Scenario.load(scenario)
        first = period(start, "--from") if start else None
        cap = None
        if jp_wage_cap is not None:
            cap_from = period(jp_wage_cap_from, "--jp-wage-cap-from") if jp_wage_cap_from else None
            cap = (jp_wage_cap, cap_from or s.period("opening.period") + 1)
        end = period(until, "--until")
        observed, source = _observed(warehouse, s.period("opening.period"), end) if warehouse else ({}, "")
        projection = fund.project(
            s,
            tree=tree(),
            until=end,
            start=first,
            jp_wage_cap=cap,
            coverage_path=coverage,
            observed=observed,
            observed_from=source,
        )
        result = fund.to_json(projection, step=step)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    _show_fund(result)


def _observed(directory: Path, opening: Period, until: Period) -> tuple[dict[Period, dict[str, float]], str]:
    """Participants per program and the mean PU wage per month from a warehouse, in national units."""
    w = _warehouse(directory)
    have = [Period.parse(p) for p in coverage.available_periods(w)]
    months = [p for p in have if opening < p <= until]
    if not months:
        raise InvalidInput([FieldProblem("--warehouse", f"holds no month between {opening + 1} and {until}")])
    scale = coverage.warehouse_scale(directory) or 1.0
    out: dict[Period, dict[str, float]] = {}
    for r in coverage.program_rows(w, first=months[0], last=months[-1], tree=tree()):
        counts = {k: r[k] / scale for k in fund.COUNTS}
        counts["bpu"] += r["pmi"] / scale  # PMI are counted with BPU (their package is not modelled per program)
        counts["pu_wage_mean"] = r["pu_wage_sum"] / r["pu"] if r["pu"] else 0.0
        out[Period.parse(r["period"])] = counts
    note = f" in warehouse {directory}" + (f" (synthetic, scale {scale})" if scale != 1.0 else "")
    return out, note


def _t(v: int) -> str:
    return f"{v / 1e12:,.2f}"


def _show_fund(r: dict[str, Any]) -> None:
    t = Table(title=f"Fund projection, scenario {r['scenario']} (Rp trillion)")
    for col in ("period", "total", *fund.FUNDS, "inflows", "outflows", "returns"):
        t.add_column(col, justify="left" if col == "period" else "right")
    t.add_row(
        r["from"], _t(r["opening"]["total_idr"]), *(_t(r["opening"]["by_fund"][k]) for k in fund.FUNDS), "", "", ""
    )
    for p in r["points"]:
        t.add_row(
            p["period"],
            _t(p["total_idr"]),
            *(_t(p["by_fund"][k]) for k in fund.FUNDS),
            _t(p["inflows_idr"]),
            _t(p["outflows_idr"]),
            _t(p["returns_idr"]),
        )
    out.print(t)
    for c in r["compare"]:
        out.print(
            f"{c['period']} {c['kind']}: Rp{_t(c['total_idr'])} T; projected Rp{_t(c['projected_idr'])} T "
            f"({c['difference_pct']:+.2f} %)",
            highlight=False,
        )
    for y in r["indicators"]:
        ratios = ", ".join(f"{k} {v['reserve_ratio']}" for k, v in y["funds"].items())
        out.print(
            f"{y['year']}: reserve ratio (fund ÷ a year's expenditure) {ratios}; "
            f"JP PAYG cost rate {y['jp_payg_cost_rate_pct']} % of insured wages",
            highlight=False,
        )
    if r["reforms"]:
        out.print("Changes to the scenario: " + "; ".join(r["reforms"]), highlight=False)
    unverified = [a for a in r["assumptions"] if a["status"] in ("unverified", "given")]
    out.print(f"{len(r['assumptions'])} assumptions, {len(unverified)} unverified (see --json).", highlight=False)


def demo(console: Console, tree: ParameterTree, directory: Path) -> None:
    """The planning part of ``jamsos demo`` on the demo nation: the published forecast, the 2024 target split
    to branches, branch attainment, and the fund projection against history and the roadmap."""
    f = forecast(published_active(), until=Period(2024, 12), target=53.86)
    end = f.points[-1].to_json()
    console.print(
        f"Published series → 2024-12: {end['mean']:.2f} m (80 %: {end['lo80']:.2f}–{end['hi80']:.2f} m); "
        f"P(reaching 53.86 m) = {f.p_reach_target:.1%} ({f.model.replace('_', ' ')}).",
        highlight=False,
    )
    w = _warehouse(directory)
    d = planning.decompose(w, tree=tree, period=Period(2024, 12), to="branch")
    tg.store(directory, d.targets(coverage.warehouse_scale(directory), "demo: decomposed national target 2024-12"))
    console.print(
        f"Target 2024-12 split over {len(d.rows)} branches: {d.national_target:,} = {d.national_actual:,} active "
        f"+ gap {d.gap:,} (scaled to the demo nation; the shares add up exactly).",
        highlight=False,
    )
    report = planning.attainment(w, tree=tree, levels=["branch"], periods=[Period(2024, 12)])
    t = Table(title="Branch attainment 2024-12 (best, KC Ternate, worst)")
    for col in ("rank", "branch", "target", "actual", "%", "need/mo", "run/mo"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    rows = report.rows
    shown = [*rows[:3], *[a for a in rows if a.target.office == "KC-TERNATE"], *rows[-3:]]
    for a in shown:
        j = a.to_json()
        t.add_row(
            f"{a.rank}/{a.peers}",
            a.office_name,
            f"{a.goal:,}",
            f"{a.actual:,}",
            f"{a.attainment_pct}",
            _fmt(j["required_per_month"]),
            _fmt(j["run_rate_per_month"]),
        )
    console.print(t)
    for name, until in (("hindcast-2023", Period(2023, 12)), ("base-2024", Period(2024, 12))):
        result = fund.to_json(fund.project(fund.Scenario.load(name), tree=tree, until=until))
        for c in result["compare"]:
            console.print(
                f"Fund, scenario {name}: {c['period']} projected Rp{_t(c['projected_idr'])} T against the "
                f"{c['kind']} Rp{_t(c['total_idr'])} T ({c['difference_pct']:+.2f} %).",
                highlight=False,
            )
    console.print(
        f"Try: .venv/bin/jamsos target attainment -w {directory} --level branch --forecast; "
        ".venv/bin/jamsos fund project --from 2022-12 --until 2024-12; "
        f".venv/bin/jamsos report -w {directory} --year 2023"
    )

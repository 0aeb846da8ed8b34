"""Planning commands: forecasts of active participants (from a series file or the warehouse)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jamsos.cli.common import domain_errors, out, period, tree
from jamsos.coverage import service as coverage
from jamsos.infra.compute import connect, open_warehouse
from jamsos.infra.files import read_path
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.planning.forecast import MODELS, Forecast, forecast


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)


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

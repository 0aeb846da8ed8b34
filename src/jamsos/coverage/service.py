"""Coverage use cases: KPI snapshots, series and the year's figures, on an opened warehouse."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jamsos.coverage import kpi
from jamsos.coverage.report import YearFigures
from jamsos.infra.compute import Warehouse, to_rows
from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.rules.tree import ParameterTree
from jamsos.warehouse.schema import SYNTH_MARKER

RENAME = {"kanwil_code": "kanwil", "branch_code": "branch", "province_code": "province", "regency_code": "regency"}


class PeriodMissing(DomainError):
    code = "period_missing"


def available_periods(w: Warehouse) -> list[str]:
    base = w.directory / "contribution_months"
    return sorted(p.name.split("=", 1)[1] for p in base.glob("period=*") if p.is_dir())


def _require(w: Warehouse, period: Period) -> None:
    have = available_periods(w)
    if str(period) not in have:
        span = f"{have[0]} … {have[-1]}" if have else "none"
        raise PeriodMissing(f"the warehouse has no contribution months for {period} (it holds {span})")


def base_mask(tree: ParameterTree, period: Period) -> int:
    """The programs that make a person active (``coverage.base_programs``) as a bit mask."""
    return kpi.base_mask(tree.value("coverage.base_programs", period))


def snapshot_rows(w: Warehouse, *, period: Period, by: Sequence[str], tree: ParameterTree) -> list[dict[str, Any]]:
    """Every KPI of ``period`` per group (one national row when ``by`` is empty)."""
    by = kpi.check_dimensions(by)
    _require(w, period)
    expr = kpi.snapshot(
        w["contribution_months"],
        w["registrations"],
        w["offices"],
        w["regions"],
        kpi.Snapshot(period, tuple(by), base_mask(tree, period)),
    )
    rows = to_rows(expr)
    return [{RENAME.get(k, k): v for k, v in row.items()} for row in rows]


def series_rows(
    w: Warehouse, *, first: Period, last: Period, by: Sequence[str], tree: ParameterTree
) -> list[dict[str, Any]]:
    expr = kpi.series(w["contribution_months"], w["offices"], first=first, last=last, by=by, base=base_mask(tree, last))
    return [{RENAME.get(k, k): v for k, v in row.items()} for row in to_rows(expr)]


def new_registration_rows(w: Warehouse, *, first: Period, last: Period, by: Sequence[str]) -> list[dict[str, Any]]:
    """Persons registered for the first time in ``first`` … ``last`` per group (``new``)."""
    expr = kpi.new_registrations(w["registrations"], w["offices"], first=first, last=last, by=by)
    return [{RENAME.get(k, k): v for k, v in row.items()} for row in to_rows(expr)]


def employed_rows(w: Warehouse, *, period: Period) -> list[dict[str, Any]]:
    """The employed population per province (latest survey at or before ``period``)."""
    return [{RENAME.get(k, k): v for k, v in row.items()} for row in to_rows(kpi.employed(w["regions"], period))]


def program_rows(w: Warehouse, *, first: Period, last: Period, tree: ParameterTree) -> list[dict[str, Any]]:
    """Active participants per month by segment and program, with the PU wage sum (``kpi.program_series``)."""
    expr = kpi.program_series(w["contribution_months"], first=first, last=last, base=base_mask(tree, last))
    return to_rows(expr)


def funnel_rows(
    w: Warehouse, *, first: Period, last: Period, tree: ParameterTree, by: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """First-registration cohorts and how many were active 0 … 12 months later (``kpi.funnel``)."""
    expr = kpi.funnel(
        w["contribution_months"], w["registrations"], first=first, last=last, by=by, base=base_mask(tree, last)
    )
    return to_rows(expr)


def pds_rows(
    w: Warehouse, *, period: Period, tree: ParameterTree, min_workers: int, limit: int = 50
) -> list[dict[str, Any]]:
    """Employers to visit for PDS program (``kpi.pds_employers``)."""
    _require(w, period)
    expr = kpi.pds_employers(
        w["contribution_months"],
        w["offices"],
        period=period,
        min_workers=min_workers,
        base=base_mask(tree, period),
        limit=limit,
    )
    return [{RENAME.get(k, k): v for k, v in row.items()} for row in to_rows(expr)]


def office_codes(w: Warehouse) -> dict[str, set[str]]:
    """The Kanwil and branch codes of the warehouse's office map."""
    rows = to_rows(w["offices"].select("kanwil_code", "branch_code").distinct())
    return {"kanwil": {r["kanwil_code"] for r in rows}, "branch": {r["branch_code"] for r in rows}}


def warehouse_scale(directory: Path) -> float | None:
    """The scale of a synthetic warehouse (1.0 = the nation), or None for real data."""
    marker = directory / SYNTH_MARKER
    if not marker.exists():
        return None
    return float(json.loads(marker.read_text(encoding="utf-8"))["scale"])


def year_figures(w: Warehouse, *, year: int, tree: ParameterTree, scale_note: str = "") -> YearFigures:
    december = Period(year, 12)
    national = snapshot_rows(w, period=december, by=(), tree=tree)[0]
    if not national["active_yoy_base"]:
        raise PeriodMissing(
            f"the warehouse has no active participants in {Period(year - 1, 12)} to compare {year} with"
        )
    segments = snapshot_rows(w, period=december, by=("segment",), tree=tree)
    ecosystems = snapshot_rows(w, period=december, by=("ecosystem",), tree=tree)
    return YearFigures(year, national, segments, ecosystems, scale_note)

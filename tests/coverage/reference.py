"""A plain-Python reference for the KPI snapshot (docs/kpi.md), and small random warehouses to test it on."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jamsos.coverage.kpi import COUNTS, OFFICE_DIMS
from jamsos.kernel.period import Period
from jamsos.registry.reference import default_offices
from jamsos.rules.codes import BIT as PROGRAMS
from jamsos.warehouse.links import LINK_COLUMNS, SIDES, link
from jamsos.warehouse.schema import STEERING

OFFICES = default_offices()
OFFICE_OF = {o["regency_code"]: o for o in OFFICES}
RENAME = {"kanwil_code": "kanwil", "branch_code": "branch", "province_code": "province", "regency_code": "regency"}


def write_warehouse(
    directory: Path, months: list[dict[str, Any]], registrations: list[dict[str, Any]], regions: list[dict[str, Any]]
) -> None:
    """Write rows (dicts with every column of ``contribution_months``, period included) as a warehouse."""
    cm = STEERING["contribution_months"]
    by_period: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in months:
        by_period[r["period"]].append(r)
    schema = pa.schema([f for f in cm.schema if f.name != "period" and f.name not in LINK_COLUMNS])
    if not by_period:
        by_period["2023-12"] = []  # an empty month: the dataset exists with no rows
    tables = {
        p: pa.Table.from_pylist([{k: v for k, v in r.items() if k != "period"} for r in rows], schema=schema)
        for p, rows in by_period.items()
    }
    for period, table in tables.items():
        earlier = {side: tables.get(str(Period.parse(period) + -months)) for side, months in SIDES.items()}
        path = directory / "contribution_months" / f"period={period}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(link(table, earlier), path)
    for name, rows in (("registrations", registrations), ("regions", regions), ("offices", OFFICES)):
        path = directory / name / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=STEERING[name].schema), path)


def _key(row: dict[str, Any], by: tuple[str, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for d in by:
        if d in OFFICE_DIMS:
            office = OFFICE_OF[row["regency_code"]]
            out += [office[c] for c in OFFICE_DIMS[d]]
        else:
            value = row.get(d)
            out.append("" if value is None else value)
    return tuple(out)


def _popcount(p: int) -> int:
    return sum(1 for bit in PROGRAMS.values() if p & bit)


def snapshot(
    months: list[dict[str, Any]],
    registrations: list[dict[str, Any]],
    regions: list[dict[str, Any]],
    period: Period,
    by: tuple[str, ...],
    base: int = PROGRAMS["jkk"] | PROGRAMS["jkm"],
) -> list[dict[str, Any]]:
    t, prev, ago = str(period), str(period + -1), str(period + -12)
    rows = [r for r in months if (r["programs"] & base) == base]
    now = [r for r in rows if r["period"] == t]
    before = [r for r in rows if r["period"] == prev]
    year_ago = [r for r in rows if r["period"] == ago]
    ids_now = {r["person_id"] for r in now}
    ids_before = {r["person_id"] for r in before}
    employers_now = {r["employer_id"] for r in now if r["employer_id"] is not None}
    employers_ago = {r["employer_id"] for r in year_ago if r["employer_id"] is not None}
    bpu_without_jht = {r["person_id"] for r in before if r["segment"] == "bpu" and not r["programs"] & 4}
    acc: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    sets: dict[tuple[Any, ...], dict[str, set[Any]]] = defaultdict(lambda: defaultdict(set))
    for r in now:
        k = _key(r, by)
        a = acc[k]
        a["active"] += 1
        a["new"] += r["person_since"] == t
        if r["employer_id"] is not None:
            sets[k]["employers"].add(r["employer_id"])
            if r["employer_since"] == t:
                sets[k]["employers_new"].add(r["employer_id"])
        a["bpu_active"] += r["segment"] == "bpu"
        a["bpu_with_jht"] += r["segment"] == "bpu" and bool(r["programs"] & 4)
        if r["segment"] == "pu":
            a["pu_wage_sum"] += r["wage"]
            a["pu_wage_count"] += 1
        a["programs_sum"] += _popcount(r["programs"])
        a["amount"] += r["amount"]
        for name, bit in PROGRAMS.items():
            a[f"active_{name}"] += bool(r["programs"] & bit)
        if r["person_since"] < t and r["person_id"] not in ids_before:
            a["reactivated"] += 1
        if r["segment"] == "bpu" and r["programs"] & 4 and r["person_id"] in bpu_without_jht:
            a["bpu_upgraded_to_jht"] += 1
        if r["employer_id"] in employers_ago:
            a["workers_existing_employers_delta"] += 1
    for r in before:
        k = _key(r, by)
        acc[k]["active_prev"] += 1
        acc[k]["lapsed"] += r["person_id"] not in ids_now
    for r in year_ago:
        k = _key(r, by)
        a = acc[k]
        a["active_yoy_base"] += 1
        a["retained"] += r["person_id"] in ids_now
        if r["segment"] == "pu":
            a["pu_wage_sum_yoy"] += r["wage"]
            a["pu_wage_count_yoy"] += 1
        a["programs_sum_yoy"] += _popcount(r["programs"])
        if r["employer_id"] in employers_now:
            a["workers_existing_employers_delta"] -= 1
    for r in registrations:
        if r["registered"] <= t and r["first_of_person"]:
            row = dict(r)
            if "payer_source" in by:
                row["payer_source"] = ""
            k = _key(row, by)
            acc[k]
            sets[k]["registered"].add(r["person_id"])
    out = []
    keys = [c for d in by for c in (OFFICE_DIMS.get(d, (d,)))]
    for k in sorted(acc):
        a = acc[k]
        a["employers_active"] = len(sets[k]["employers"])
        a["employers_new"] = len(sets[k]["employers_new"])
        a["registered"] = len(sets[k]["registered"])
        row = {RENAME.get(c, c): v for c, v in zip(keys, k, strict=True)}
        row.update({name: int(v) for name, v in a.items()})
        row.update(_ratios(a))
        out.append(row)
    if not by or by == ("province",):
        _coverage(out, regions, t, bool(by))
    return out


def _pct(num: float, den: float) -> float | None:
    return None if den == 0 else round(num * 100.0 / den, 4)


def _ratios(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "active_mom": a["active"] - a["active_prev"],
        "active_mom_pct": _pct(a["active"] - a["active_prev"], a["active_prev"]),
        "active_yoy": a["active"] - a["active_yoy_base"],
        "active_yoy_pct": _pct(a["active"] - a["active_yoy_base"], a["active_yoy_base"]),
        "retention_pct": _pct(a["retained"], a["active_yoy_base"]),
        "pu_wage_avg": None if a["pu_wage_count"] == 0 else round(a["pu_wage_sum"] / a["pu_wage_count"]),
        "pu_wage_avg_yoy_pct": _pct(
            a["pu_wage_sum"] * a["pu_wage_count_yoy"] - a["pu_wage_sum_yoy"] * a["pu_wage_count"],
            a["pu_wage_sum_yoy"] * a["pu_wage_count"],
        ),
        "programs_per_participant": None if a["active"] == 0 else round(a["programs_sum"] / a["active"], 4),
        "programs_per_participant_yoy": None
        if a["active_yoy_base"] == 0
        else round(a["programs_sum_yoy"] / a["active_yoy_base"], 4),
        "bpu_jht_pct": _pct(a["bpu_with_jht"], a["bpu_active"]),
    }


def _coverage(rows: list[dict[str, Any]], regions: list[dict[str, Any]], t: str, by_province: bool) -> None:
    known = [r for r in regions if r["period"] <= t]
    latest = max((r["period"] for r in known), default=None)
    chosen = [r for r in known if r["period"] == latest]
    for row in rows:
        if by_province:
            match = [r for r in chosen if r["province_code"] == row["province"]]
            employed = match[0]["employed"] if match else None
        else:
            employed = sum(r["employed"] for r in chosen) if chosen else None
        row["employed"] = employed
        row["employed_period"] = latest if employed is not None else None
        row["coverage_pct"] = None if not employed else _pct(row["active"], employed)


def paid_on(period: str) -> dt.date:
    return Period.parse(period).first_day + dt.timedelta(days=10)

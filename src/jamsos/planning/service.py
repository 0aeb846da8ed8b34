"""Planning use cases on an opened warehouse: attainment of targets and their decomposition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from jamsos.coverage import service as coverage
from jamsos.infra.compute import Warehouse
from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.planning import targets as tg
from jamsos.planning.forecast import forecast
from jamsos.rules.tree import ParameterTree

LEVEL_DIMS = {"national": [], "kanwil": ["kanwil"], "branch": ["branch"]}


@dataclass(frozen=True)
class AttainmentReport:
    as_of: Period
    scale: float | None
    rows: list[tg.Attainment]

    def to_json(self) -> dict[str, Any]:
        return {"as_of": str(self.as_of), "scale": self.scale, "rows": [r.to_json() for r in self.rows]}


def _periods(w: Warehouse) -> list[Period]:
    have = [Period.parse(p) for p in coverage.available_periods(w)]
    if not have:
        raise coverage.PeriodMissing("the warehouse holds no contribution months")
    return have


def _as_of(have: list[Period], as_of: Period | None) -> Period:
    if as_of is None:
        return have[-1]
    if as_of not in have:
        raise coverage.PeriodMissing(f"the warehouse has no contribution months for {as_of}")
    return as_of


def attainment(
    w: Warehouse,
    *,
    tree: ParameterTree,
    as_of: Period | None = None,
    levels: Sequence[str] = tg.LEVELS,
    periods: Sequence[Period] = (),
    with_forecast: bool = False,
) -> AttainmentReport:
    """Every target held for the warehouse (defaults plus imported, scaled to a synthetic warehouse) against
    the active participants of its group, ranked among peers. ``with_forecast`` adds the probability of
    reaching each open target (the national one with back-tested model choice, groups with a local linear
    trend)."""
    have = _periods(w)
    last = _as_of(have, as_of)
    scale = coverage.warehouse_scale(w.directory)
    wanted = [
        t for t in tg.scaled(tg.load(w.directory), scale) if t.level in levels and (not periods or t.period in periods)
    ]
    shapes: dict[tuple[str, bool, bool], list[tg.Target]] = {}
    for t in wanted:
        shapes.setdefault((t.level, bool(t.segment), bool(t.ecosystem)), []).append(t)
    out: list[tg.Attainment] = []
    for (level, seg, eco), group in shapes.items():
        by = [*LEVEL_DIMS[level], *(["segment"] if seg else []), *(["ecosystem"] if eco else [])]
        first = have[0] if with_forecast else max(have[0], min(min(t.period, last) for t in group) + (-12))
        rows = coverage.series_rows(w, first=first, last=last, by=by, tree=tree)
        history: dict[tuple[str, str, str], dict[Period, int]] = {}
        names: dict[str, str] = {}
        for r in rows:
            office = str(r.get(level) or "") if level != "national" else ""
            key = (office, str(r.get("segment") or "") if seg else "", str(r.get("ecosystem") or "") if eco else "")
            history.setdefault(key, {})[Period.parse(r["period"])] = int(r["active"])
            if level != "national":
                names[office] = str(r.get(f"{level}_name") or "")
        for t in group:
            held = [p for p in have if p <= min(t.period, last)]
            if not held:
                continue  # the target month comes before anything the warehouse holds: nothing to measure
            at = held[-1]
            series = history.get((t.office, t.segment, t.ecosystem), {})
            a = tg.attain(t, series, as_of=at, office_name=names.get(t.office, ""))
            if with_forecast and a.months_left > 0 and len(series) >= 3:
                obs = sorted((p, float(v)) for p, v in series.items())
                f = forecast(obs, until=t.period, target=t.value, origins=6 if level == "national" else 0)
                a = replace(a, p_reach=f.p_reach_target)
            out.append(a)
    return AttainmentReport(last, scale, tg.rank(out))


def national_target(w: Warehouse, period: Period) -> int:
    scale = coverage.warehouse_scale(w.directory)
    for t in tg.scaled(tg.load(w.directory), scale):
        if t.period == period and t.level == "national" and not t.segment and not t.ecosystem:
            return round(t.value)
    raise tg.TargetMissing(f"no national target for {period}; import one or give --value")


def _names(r: dict[str, Any]) -> tuple[str, str, str]:
    return (str(r.get("province_name") or ""), str(r.get("kanwil_name") or ""), str(r.get("branch_name") or ""))


def decompose(
    w: Warehouse,
    *,
    tree: ParameterTree,
    period: Period,
    to: str,
    as_of: Period | None = None,
    ecosystems: bool = False,
    value: float | None = None,
) -> tg.Decomposition:
    """Split the national target of ``period`` (or ``value``, in national units) over provinces, branches
    and ecosystems (``targets.METHOD``)."""
    have = _periods(w)
    now = _as_of(have, as_of)
    if to not in ("province", "kanwil", "branch"):
        raise DomainError(f"cannot decompose to {to!r}; choose province, kanwil or branch")
    scale = coverage.warehouse_scale(w.directory)
    total = national_target(w, period) if value is None else round(value * (scale or 1.0))
    ago = max(have[0], now + (-12))
    by = ["province", "kanwil", "branch", "ecosystem"]
    active: dict[tuple[str, ...], dict[Period, int]] = {}
    names: dict[tuple[str, ...], tuple[str, str, str]] = {}
    for r in coverage.series_rows(w, first=ago, last=now, by=by, tree=tree):
        key = tuple(str(r.get(k) or "") for k in by)
        active.setdefault(key, {})[Period.parse(r["period"])] = int(r["active"])
        names[key] = _names(r)
    new: dict[tuple[str, ...], int] = {}
    for r in coverage.new_registration_rows(w, first=ago + 1, last=now, by=by):
        key = tuple(str(r.get(k) or "") for k in by)
        new[key] = int(r["new"])
        names.setdefault(key, _names(r))
    cells = [
        tg.Cell(
            province=key[0],
            province_name=names[key][0],
            kanwil=key[1],
            kanwil_name=names[key][1],
            branch=key[2],
            branch_name=names[key][2],
            ecosystem=key[3],
            active=active.get(key, {}).get(now, 0),
            active_year_ago=active.get(key, {}).get(ago, 0),
            new=new.get(key, 0),
        )
        for key in sorted(set(active) | set(new))
    ]
    employed = {str(r["province"]): int(r["employed"]) for r in coverage.employed_rows(w, period=now)}
    return tg.decompose(
        national_target=total,
        cells=cells,
        employed=employed,
        as_of=now,
        period=period,
        to=to,
        ecosystems=ecosystems,
        window_months=now - ago,
    )


def national_forecasts(w: Warehouse, *, tree: ParameterTree, report: AttainmentReport) -> dict[str, dict[str, Any]]:
    """For every open national target of ``report``, the forecast of the warehouse's national active
    participants to the target month (model chosen by back-test), as JSON keyed by the target month."""
    have = _periods(w)
    rows = coverage.series_rows(w, first=have[0], last=report.as_of, by=[], tree=tree)
    series = [(Period.parse(r["period"]), float(r["active"])) for r in rows]
    out: dict[str, dict[str, Any]] = {}
    for a in report.rows:
        t = a.target
        if t.level == "national" and not t.segment and not t.ecosystem and a.months_left > 0 and len(series) >= 3:
            out[str(t.period)] = forecast(series, until=t.period, target=t.value).to_json()
    return out

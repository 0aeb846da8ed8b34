"""A national target shared out to provinces (by potential: uncovered employed population times the province's
historical conversion) and, within a province, to branches and ecosystems (by their recent new participants), in
whole persons by the largest remainder."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.planning.target import Target, TargetMissing


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Integers proportional to ``weights`` that add up to ``total`` exactly (Hamilton's method). Zero
    weights everywhere split equally; a negative total is split as its absolute value, negated."""
    if not weights:
        if total:
            raise ValueError("nothing to split a non-zero total over")
        return []
    if any(w < 0 or not math.isfinite(w) for w in weights):
        raise ValueError("weights must be finite and non-negative")
    sign, amount = (-1, -total) if total < 0 else (1, total)
    s = float(sum(weights))
    shares = [w / s for w in weights] if s > 0 else [1.0 / len(weights)] * len(weights)
    exact = [amount * x for x in shares]
    whole = [math.floor(x) for x in exact]
    left = amount - sum(whole)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - whole[i]), i))
    for i in order[:left]:
        whole[i] += 1
    return [sign * w for w in whole]


@dataclass(frozen=True)
class Cell:
    """The smallest unit a target is split over: a branch within a province (and an ecosystem)."""

    province: str
    province_name: str
    branch: str
    branch_name: str
    kanwil: str
    kanwil_name: str
    ecosystem: str
    active: int
    active_year_ago: int
    new: int


@dataclass(frozen=True)
class ProvinceWeight:
    province: str
    province_name: str
    employed: int
    active: int
    active_year_ago: int
    new: int

    @property
    def uncovered(self) -> int:
        return max(self.employed - self.active, 0)

    @property
    def uncovered_year_ago(self) -> int:
        return max(self.employed - self.active_year_ago, 0)

    @property
    def conversion(self) -> float:
        """Share of the uncovered workforce of a year ago that joined in the twelve months since."""
        return self.new / self.uncovered_year_ago if self.uncovered_year_ago else 0.0

    @property
    def potential(self) -> float:
        """Expected new participants in a year: today's uncovered workforce at the historical conversion."""
        return self.uncovered * self.conversion


@dataclass(frozen=True)
class Decomposition:
    national_target: int
    national_actual: int
    as_of: Period
    period: Period
    to: str
    ecosystems: bool
    provinces: list[ProvinceWeight]
    rows: list[dict[str, Any]] = field(default_factory=list)
    window_months: int = 12

    @property
    def gap(self) -> int:
        return self.national_target - self.national_actual

    def targets(self, scale: float | None, source: str) -> list[Target]:
        """The decomposed targets in national units (divided by the warehouse scale), ready to store: one per
        unit for all ecosystems and, when split by ecosystem, one per unit and named ecosystem (participants
        without an ecosystem are in the unit's total only, since an empty ecosystem means "all")."""
        level = {"kanwil": "kanwil", "branch": "branch"}.get(self.to)
        if level is None:
            raise DomainError("only kanwil and branch decompositions can be stored as targets")
        factor = 1.0 if scale is None else scale
        totals: dict[str, int] = {}
        for r in self.rows:
            totals[r[level]] = totals.get(r[level], 0) + r["target"]
        out = [Target(self.period, level, unit, "", "", value / factor, source) for unit, value in totals.items()]
        out += [
            Target(self.period, level, r[level], "", r["ecosystem"], r["target"] / factor, source)
            for r in self.rows
            if r.get("ecosystem")
        ]
        return [t for t in out if t.value > 0]

    def to_json(self) -> dict[str, Any]:
        return {
            "period": str(self.period),
            "as_of": str(self.as_of),
            "to": self.to,
            "national_target": self.national_target,
            "national_actual": self.national_actual,
            "gap": self.gap,
            "window_months": self.window_months,
            "method": METHOD,
            "provinces": [
                {
                    "province": p.province,
                    "province_name": p.province_name,
                    "employed": p.employed,
                    "active": p.active,
                    "uncovered": p.uncovered,
                    "uncovered_year_ago": p.uncovered_year_ago,
                    "new_12m": p.new,
                    "conversion_pct": round(p.conversion * 100, 3),
                    "potential": round(p.potential, 1),
                }
                for p in self.provinces
            ],
            "rows": self.rows,
        }


METHOD = (
    "The gap between the national target and today's active participants is shared out in two steps. "
    "(1) Provinces, by potential: today's uncovered employed population (employed − active) times the "
    "province's historical conversion (persons who joined for the first time in the last 12 months ÷ the "
    "uncovered employed population 12 months ago) — the new participants the province would bring in a year "
    "at its own pace. (2) Within a province (there is no employed-population figure below it), branches and "
    "ecosystems by their share of the province's new participants in the last 12 months; with none, by their "
    "active participants. Each unit's target is its active participants today plus its share of the gap. Shares "
    "are whole persons by the largest-remainder method, so the units add up to the national target exactly."
)


def decompose(
    *,
    national_target: int,
    cells: Sequence[Cell],
    employed: Mapping[str, int],
    as_of: Period,
    period: Period,
    to: str,
    ecosystems: bool = False,
    window_months: int = 12,
) -> Decomposition:
    """Split ``national_target`` over ``cells`` (see ``METHOD``) and sum the result to ``to``
    (province, kanwil or branch; with ``ecosystems`` also per ecosystem)."""
    if to not in ("province", "kanwil", "branch"):
        raise DomainError(f"cannot decompose to {to!r}; choose province, kanwil or branch")
    if not cells:
        raise TargetMissing("the warehouse holds no active participants to decompose a target over")
    national_actual = sum(cell.active for cell in cells)
    gap = national_target - national_actual
    by_province: dict[str, list[Cell]] = {}
    for cell in cells:
        by_province.setdefault(cell.province, []).append(cell)
    provinces = [
        ProvinceWeight(
            code,
            group[0].province_name,
            int(employed.get(code, 0)),
            sum(cell.active for cell in group),
            sum(cell.active_year_ago for cell in group),
            sum(cell.new for cell in group),
        )
        for code, group in sorted(by_province.items())
    ]
    weights = [p.potential for p in provinces]
    if not any(weights):
        weights = [float(p.active) for p in provinces]
    province_share = dict(zip((p.province for p in provinces), largest_remainder(gap, weights), strict=True))
    shares: list[tuple[Cell, int]] = []
    for code, group in sorted(by_province.items()):
        inner = [float(c.new) for c in group]
        if not any(inner):
            inner = [float(c.active) for c in group]
        shares.extend(zip(group, largest_remainder(province_share[code], inner), strict=True))
    unit = (to, f"{to}_name")
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    for cell, share in shares:
        key: tuple[str, str] = (getattr(cell, unit[0]), cell.ecosystem if ecosystems else "")
        row = acc.get(key)
        if row is None:
            row = acc[key] = {unit[0]: key[0], unit[1]: getattr(cell, unit[1])}
            if ecosystems:
                row["ecosystem"] = key[1]
            row.update(active=0, new_12m=0, gap_share=0)
        row["active"] += cell.active
        row["new_12m"] += cell.new
        row["gap_share"] += share
    rows = []
    for key in sorted(acc):
        r = acc[key]
        r["share_pct"] = round(r["gap_share"] / gap * 100, 4) if gap else 0.0
        r["target"] = r["active"] + r["gap_share"]
        rows.append(r)
    return Decomposition(
        national_target, national_actual, as_of, period, to, ecosystems, provinces, rows, window_months
    )

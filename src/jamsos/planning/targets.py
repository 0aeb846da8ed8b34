"""Targets for active participants: reading and validating them, attainment against the warehouse, and
splitting a national target down to offices and ecosystems by an explainable method.

Everything here is arithmetic on plain rows; ``planning.service`` fetches the rows from the warehouse."""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from jamsos.infra.files import read_path
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import codes as c

LEVELS = ("national", "kanwil", "branch")
COLUMNS = ("period", "level", "office", "segment", "ecosystem", "value", "source")
STORE = "targets.csv"


class TargetMissing(DomainError):
    code = "target_missing"


@dataclass(frozen=True)
class Target:
    """A level of active participants to reach by the end of ``period``, for one office (empty for the nation),
    one segment and one ecosystem (empty = all)."""

    period: Period
    level: str
    office: str
    segment: str
    ecosystem: str
    value: float
    source: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (str(self.period), self.level, self.office, self.segment, self.ecosystem)

    def to_row(self) -> dict[str, str]:
        return {
            "period": str(self.period),
            "level": self.level,
            "office": self.office,
            "segment": self.segment,
            "ecosystem": self.ecosystem,
            "value": repr(self.value) if self.value != int(self.value) else str(int(self.value)),
            "source": self.source,
        }


def parse_targets(
    rows: Iterable[tuple[int, Mapping[str, Any]]], *, offices: Mapping[str, set[str]] | None = None, source: str = ""
) -> list[Target]:
    """Validate target rows; every bad cell is reported with its row. ``offices`` maps a level to its known
    office codes (checked when given). A key given twice is refused."""
    problems: list[FieldProblem] = []
    seen: dict[tuple[str, ...], int] = {}
    out: list[Target] = []
    for number, row in rows:
        cell = {c: ("" if row.get(c) is None else str(row.get(c)).strip()) for c in COLUMNS}
        before = len(problems)
        period = _period(cell["period"], number, problems)
        level = cell["level"].lower()
        if level not in LEVELS:
            problems.append(
                FieldProblem("level", f"must be one of {', '.join(LEVELS)}", row=number, value=cell["level"])
            )
        office = cell["office"]
        if level == "national" and office:
            problems.append(FieldProblem("office", "must be empty for a national target", row=number, value=office))
        if level in ("kanwil", "branch"):
            if not office:
                problems.append(FieldProblem("office", f"a {level} target names its office code", row=number))
            elif offices is not None and office not in offices.get(level, set()):
                problems.append(
                    FieldProblem("office", f"no {level} with this code in the office map", row=number, value=office)
                )
        segment, ecosystem = cell["segment"].lower(), cell["ecosystem"].lower()
        if segment and segment not in c.SEGMENTS:
            problems.append(
                FieldProblem("segment", f"must be empty or one of {', '.join(c.SEGMENTS)}", row=number, value=segment)
            )
        if ecosystem and ecosystem not in c.ECOSYSTEMS:
            problems.append(
                FieldProblem(
                    "ecosystem", f"must be empty or one of {', '.join(c.ECOSYSTEMS)}", row=number, value=ecosystem
                )
            )
        value = _value(cell["value"], number, problems)
        if len(problems) > before or period is None or value is None:
            continue
        t = Target(period, level, office, segment, ecosystem, value, cell["source"] or source)
        if t.key in seen:
            problems.append(
                FieldProblem("period", f"the same target is already given in row {seen[t.key]}", row=number)
            )
            continue
        seen[t.key] = number
        out.append(t)
    if problems:
        raise InvalidInput(problems)
    return out


def _period(text: str, row: int, problems: list[FieldProblem]) -> Period | None:
    try:
        if text.isdigit() and len(text) == 4:
            return Period(int(text), 12)  # a year means its December
        return Period.parse(text)
    except ValueError:
        problems.append(FieldProblem("period", "must be a month YYYY-MM or a year YYYY", row=row, value=text))
        return None


def _value(text: str, row: int, problems: list[FieldProblem]) -> float | None:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        problems.append(FieldProblem("value", "must be a number of participants", row=row, value=text))
        return None
    if not math.isfinite(value) or value <= 0:
        problems.append(FieldProblem("value", "must be a positive number of participants", row=row, value=text))
        return None
    return value


def read_targets(path: Path, *, offices: Mapping[str, set[str]] | None = None) -> list[Target]:
    """Targets from CSV, XLSX or YAML (a list of mappings, or ``{"targets": [...]}``)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput([FieldProblem("file", f"not valid YAML: {exc}")]) from None
        items = data.get("targets") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidInput([FieldProblem("file", "YAML must be a list of targets or a mapping with 'targets'")])
        return parse_targets(enumerate(items, start=1), offices=offices, source=path.name)
    table = read_path(path)
    table.require(("period", "level", "value"))
    return parse_targets(table.rows, offices=offices, source=path.name)


def default_targets() -> list[Target]:
    """The agency's published national targets (``planning/data/targets.csv``)."""
    text = resources.files("jamsos.planning").joinpath("data/targets.csv").read_text(encoding="utf-8")
    return parse_targets(enumerate(csv.DictReader(io.StringIO(text)), start=2))


def load(directory: Path) -> list[Target]:
    """The defaults, overridden key by key by the targets stored with the warehouse."""
    merged = {t.key: t for t in default_targets()}
    stored = directory / STORE
    if stored.exists():
        merged.update({t.key: t for t in read_targets(stored)})
    return sorted(merged.values(), key=lambda t: t.key)


@dataclass(frozen=True)
class StoreResult:
    added: int
    changed: int
    unchanged: int

    def to_json(self) -> dict[str, int]:
        return {"added": self.added, "changed": self.changed, "unchanged": self.unchanged}


def store(directory: Path, targets: Sequence[Target]) -> StoreResult:
    """Add or replace targets by key in the warehouse's target file, written whole and atomically, so a
    repeated import changes nothing and a failed one leaves the file as it was."""
    path = directory / STORE
    held = {t.key: t for t in read_targets(path)} if path.exists() else {}
    added = changed = unchanged = 0
    for t in targets:
        old = held.get(t.key)
        if old is None:
            added += 1
        elif (old.value, old.source) == (t.value, t.source):
            unchanged += 1
        else:
            changed += 1
        held[t.key] = t
    if added or changed:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for t in sorted(held.values(), key=lambda t: t.key):
            writer.writerow(t.to_row())
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".targets-", suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
    return StoreResult(added, changed, unchanged)


def scaled(targets: Sequence[Target], scale: float | None) -> list[Target]:
    """Targets in the warehouse's units: a synthetic warehouse at scale s holds s times the nation."""
    if scale is None or scale == 1.0:
        return list(targets)
    return [replace(t, value=t.value * scale) for t in targets]


# --- attainment -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attainment:
    target: Target
    office_name: str
    as_of: Period
    actual: int
    months_left: int
    run_rate: float | None
    run_rate_months: int
    rank: int = 0
    peers: int = 0
    p_reach: float | None = None

    @property
    def goal(self) -> int:
        return round(self.target.value)

    @property
    def gap(self) -> int:
        return self.goal - self.actual

    @property
    def attainment_pct(self) -> float:
        return round(self.actual / self.goal * 100, 2)

    @property
    def required_per_month(self) -> float | None:
        """Net additions needed in each remaining month; None once the target month is reached."""
        if self.months_left <= 0:
            return None
        return round(max(self.gap, 0) / self.months_left, 1)

    @property
    def on_track(self) -> bool:
        if self.gap <= 0:
            return True
        need = self.required_per_month
        return need is not None and self.run_rate is not None and self.run_rate >= need

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "period": str(t.period),
            "level": t.level,
            "office": t.office,
            "office_name": self.office_name,
            "segment": t.segment,
            "ecosystem": t.ecosystem,
            "target": self.goal,
            "as_of": str(self.as_of),
            "actual": self.actual,
            "attainment_pct": self.attainment_pct,
            "gap": self.gap,
            "months_left": self.months_left,
            "required_per_month": self.required_per_month,
            "run_rate_per_month": None if self.run_rate is None else round(self.run_rate, 1),
            "run_rate_months": self.run_rate_months,
            "on_track": self.on_track,
            "rank": self.rank,
            "peers": self.peers,
            "p_reach_target": None if self.p_reach is None else round(self.p_reach, 4),
            "source": t.source,
        }


def attain(
    target: Target, history: Mapping[Period, int], *, as_of: Period, office_name: str = "", window: int = 12
) -> Attainment:
    """Attainment of one target from its group's active participants per month (``history``): the level in
    ``as_of`` (the last month held at or before the target month), the gap, the net additions needed per
    remaining month, and the run-rate — the average monthly net addition over the last ``window`` months held."""
    actual = int(history.get(as_of, 0))
    earlier = [p for p in history if as_of + (-window) <= p < as_of]
    start = min(earlier) if earlier else None
    run_rate = (actual - history[start]) / (as_of - start) if start is not None else None
    return Attainment(
        target,
        office_name,
        as_of,
        actual,
        max(target.period - as_of, 0),
        run_rate,
        0 if start is None else as_of - start,
    )


def rank(rows: Sequence[Attainment]) -> list[Attainment]:
    """Rank by attainment, best first, among peers: offices against offices of the same level, month, segment
    and ecosystem; national ecosystem targets against each other (a ranking of ecosystems)."""
    groups: dict[tuple[str, ...], list[Attainment]] = {}
    for a in rows:
        t = a.target
        eco = t.ecosystem if t.level != "national" else ("by ecosystem" if t.ecosystem else "")
        groups.setdefault((str(t.period), t.level, t.segment, eco), []).append(a)
    out: list[Attainment] = []
    for peers in groups.values():
        ordered = sorted(peers, key=lambda a: (-a.actual / max(a.goal, 1), a.target.office, a.target.ecosystem))
        out.extend(replace(a, rank=i, peers=len(ordered)) for i, a in enumerate(ordered, start=1))
    return sorted(out, key=lambda a: (a.target.key[:2], a.rank, a.target.key))


# --- decomposition ----------------------------------------------------------------------------------------


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

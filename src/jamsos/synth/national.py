"""A calibrated synthetic national population written as the warehouse's steering datasets.

The generator first plans, per segment and month, how many participants lapse, return and join so
that the active totals follow the published path (``data/published_figures.csv``) and the registered
total at the calibration month is met; then it draws persons, spells of paid coverage, employers and
places that realise the plan exactly. Provinces are dealt by quota at the calibration month from the
published distribution. Everything is drawn from one seeded generator, so a seed gives the same files.
Behaviour (lapse, return, ecosystems, wages) is an assumption kept in ``data/behaviour.yaml``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.kernel.pseudonym import key_id, person_keys
from jamsos.registry.reference import default_offices
from jamsos.rules import codes as vocab
from jamsos.rules.tree import ParameterTree
from jamsos.synth.operations import FIRST, LAST
from jamsos.warehouse.schema import STEERING, SYNTH_MARKER, default_regions

PU, BPU, JAKON, PMI = vocab.PU, vocab.BPU, vocab.JAKON, vocab.PMI
# The agency publishes active participants of three segments; PMI is counted within BPU.
PUBLISHED_SEGMENTS = tuple(vocab.SEGMENTS[i] for i in (PU, BPU, JAKON))
OPEN = 1 << 30
CALIBRATION = Period(2023, 12)
EXIT_REASON = {PU: "resignation", JAKON: "end_of_project", PMI: "end_of_placement"}
MARKER = SYNTH_MARKER

Progress = Callable[[str, int, int], None]


class SynthError(DomainError):
    code = "synth_invalid"


@dataclass(frozen=True)
class Target:
    name: str
    target: float
    achieved: float

    @property
    def error_pct(self) -> float:
        return 0.0 if self.target == 0 else abs(self.achieved - self.target) / self.target * 100

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "expected": round(self.target, 2),
            "achieved": self.achieved,
            "error_pct": round(self.error_pct, 4),
        }


@dataclass(frozen=True)
class SynthReport:
    directory: str
    scale: float
    seed: int
    first: str
    last: str
    calibration: str
    lapse_factor: float
    idle_factor: float
    rows: dict[str, int]
    targets: list[Target]
    pseudonym_key_id: str = ""

    @property
    def worst_error_pct(self) -> float:
        return max((t.error_pct for t in self.targets), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "scale": self.scale,
            "seed": self.seed,
            "from": self.first,
            "to": self.last,
            "calibration": self.calibration,
            "lapse_factor": round(self.lapse_factor, 4),
            "lapsed_stock_factor": round(self.idle_factor, 4),
            "rows": self.rows,
            "pseudonym_key_id": self.pseudonym_key_id,
            "worst_error_pct": round(self.worst_error_pct, 4),
            "targets": [t.to_json() for t in self.targets],
        }


# ---- inputs ----------------------------------------------------------------------------------------
def _data(name: str) -> str:
    return resources.files("jamsos.synth").joinpath("data", name).read_text(encoding="utf-8")


def behaviour() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(_data("behaviour.yaml"))
    return loaded


def published() -> list[dict[str, str]]:
    return list(csv.DictReader(_data("published_figures.csv").splitlines()))


def _figure(rows: list[dict[str, str]], metric: str, period: str, kind: str | None = None) -> float:
    for r in rows:
        if r["metric"] == metric and r["period"] == period and (kind is None or kind in r["kind"]):
            return float(r["value"])
    raise SynthError(f"published figure {metric} {period} is missing")


def _anchors(rows: list[dict[str, str]], metric: str, exclude_kind: str) -> dict[int, float]:
    return {
        Period.parse(r["period"]).ordinal: float(r["value"])
        for r in rows
        if r["metric"] == metric and exclude_kind not in r["kind"]
    }


def _interpolate(anchors: dict[int, float], months: np.ndarray) -> np.ndarray:
    xs = np.array(sorted(anchors), dtype=np.float64)
    ys = np.array([anchors[int(x)] for x in xs])
    out = np.interp(months, xs, ys)
    if len(xs) >= 2:
        lo_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
        hi_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        out = np.where(months < xs[0], ys[0] + (months - xs[0]) * lo_slope, out)
        out = np.where(months > xs[-1], ys[-1] + (months - xs[-1]) * hi_slope, out)
    return np.asarray(out, dtype=np.float64)


def province_quotas() -> tuple[dict[str, float], dict[str, float], list[tuple[str, ...]]]:
    """Active and non-active shares per province group at 2023-12; Kalimantan Utara is counted with
    Kalimantan Timur (its NIK regencies are Kaltim codes in stdnum), and the source's last row is a group."""
    rows = list(csv.DictReader(_data("active_by_province_2023-12.csv").splitlines()))
    groups: list[tuple[str, ...]] = []
    active: dict[str, float] = {}
    inactive: dict[str, float] = {}
    for r in rows:
        codes = tuple(r["province_code"].split("|"))
        codes = tuple("94" if c == "92" else c for c in codes)  # stdnum's Papua is 94
        key = "64" if codes == ("65",) else "|".join(codes)
        if key not in active:
            groups.append(codes if key != "64" else ("64",))
            active[key], inactive[key] = 0.0, 0.0
        active[key] += float(r["active"])
        inactive[key] += float(r["non_active"])
    groups = [g for g in groups if "|".join(g) in active]
    ta, ti = sum(active.values()), sum(inactive.values())
    return {k: v / ta for k, v in active.items()}, {k: v / ti for k, v in inactive.items()}, groups


def _quota(total: int, shares: np.ndarray) -> np.ndarray:
    """Largest-remainder split of ``total`` by ``shares``."""
    raw = shares / shares.sum() * total
    base = np.floor(raw).astype(np.int64)
    rest = total - int(base.sum())
    if rest > 0:
        base[np.argsort(-(raw - base), kind="stable")[:rest]] += 1
    return np.asarray(base, dtype=np.int64)


# ---- the plan ------------------------------------------------------------------------------------
@dataclass
class Plan:
    t0: int
    months: int
    target: np.ndarray  # [segment, month] active
    lapse: np.ndarray
    back: np.ndarray
    new: np.ndarray
    inactive0: np.ndarray
    factor: float
    idle_factor: float


def _flows(target: np.ndarray, inactive0: np.ndarray, lapse: np.ndarray, back: np.ndarray) -> tuple[np.ndarray, ...]:
    segs, months = target.shape
    out_l = np.zeros_like(target)
    out_b = np.zeros_like(target)
    out_n = np.zeros_like(target)
    for s in range(segs):
        active, idle = int(target[s, 0]), int(inactive0[s])
        for m in range(1, months):
            lapsed = round(active * lapse[s])
            returned = round(idle * back[s])
            joined = int(target[s, m]) - (active - lapsed + returned)
            if joined < 0:
                lapsed = min(active, lapsed - joined)
                joined = int(target[s, m]) - (active - lapsed + returned)
                if joined < 0:
                    returned += joined
                    joined = 0
            out_l[s, m], out_b[s, m], out_n[s, m] = lapsed, returned, joined
            active = int(target[s, m])
            idle = idle + lapsed - returned
    return out_l, out_b, out_n


def make_plan(*, scale: float, last: Period, calibration_target: str, beh: dict[str, Any]) -> Plan:
    rows = published()
    start = Period.parse(beh["calibration"]["start"])
    end = max(last, CALIBRATION)
    months = np.arange(start.ordinal, end.ordinal + 1, dtype=np.float64)
    drop = "audited" if calibration_target == "news" else "news"
    national = _interpolate(_anchors(rows, "active_participants", drop), months)
    shares = np.vstack(
        [_interpolate(_anchors(rows, f"active_participants_{s}", "-"), months) for s in PUBLISHED_SEGMENTS]
    )
    shares = shares / shares.sum(axis=0)
    pmi = float(beh["calibration"]["pmi_share_of_bpu"])
    seg_share = np.vstack([shares[0], shares[1] * (1 - pmi), shares[2], shares[1] * pmi])
    target = np.rint(national * 1e6 * scale * seg_share).astype(np.int64)
    # the calibration month is dealt exactly by quota so that segments add up to the national level
    c = CALIBRATION.ordinal - start.ordinal
    target[:, c] = _quota(round(national[c] * 1e6 * scale), seg_share[:, c])
    inactive0 = np.rint(target[:, 0] * np.array([beh["inactive_at_start"][s] for s in vocab.SEGMENTS])).astype(np.int64)
    lapse = np.array([beh["lapse_per_month"][s] for s in vocab.SEGMENTS], dtype=np.float64)
    back = np.array([beh["reactivation_per_month"][s] for s in vocab.SEGMENTS], dtype=np.float64)
    registered = _figure(rows, "registered_participants", str(CALIBRATION)) * 1e6 * scale

    def registered_with(factor: float, idle: float) -> tuple[float, tuple[np.ndarray, ...], np.ndarray]:
        start_idle = np.rint(inactive0 * idle).astype(np.int64)
        flows = _flows(target, start_idle, np.minimum(lapse * factor, 0.95), back)
        return float(target[:, 0].sum() + start_idle.sum() + flows[2][:, 1 : c + 1].sum()), flows, start_idle

    def solve(fn: Callable[[float], tuple[float, Any, Any]], lo: float, hi: float) -> float:
        for _ in range(50):
            mid = (lo + hi) / 2
            if fn(mid)[0] < registered:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    # the registered total is met by the stock of lapsed participants at the start; if even none is
    # too many, churn is scaled down instead (the report prints both factors)
    factor, idle = 1.0, 1.0
    if registered_with(1.0, 0.0)[0] <= registered:
        idle = solve(lambda m: registered_with(1.0, m), 0.0, 20.0)
    else:
        idle = 0.0
        factor = solve(lambda f: registered_with(f, 0.0), 0.0, 1.0)
    _, flows, inactive0 = registered_with(factor, idle)
    return Plan(start.ordinal, len(months), target, flows[0], flows[1], flows[2], inactive0, factor, idle)


# ---- the population --------------------------------------------------------------------------------
@dataclass
class Population:
    plan: Plan
    seg: np.ndarray  # per person
    since: np.ndarray
    sp_person: np.ndarray  # per spell
    sp_start: np.ndarray
    sp_end: np.ndarray
    sp_member: np.ndarray  # membership id of the spell
    first_member: np.ndarray  # per person: the membership id of their first registration
    active_at_calibration: np.ndarray  # person indices


def simulate(plan: Plan, rng: np.random.Generator, progress: Progress | None = None) -> Population:
    n_persons = int(plan.target[:, 0].sum() + plan.inactive0.sum() + plan.new.sum())
    n_spells = n_persons + int(plan.back.sum())
    seg = np.zeros(n_persons, np.int8)
    since = np.zeros(n_persons, np.int32)
    sp_person = np.zeros(n_spells, np.int32)
    sp_start = np.zeros(n_spells, np.int32)
    sp_end = np.full(n_spells, OPEN, np.int32)
    sp_member = np.zeros(n_spells, np.int32)
    current = np.full(n_persons, -1, np.int32)
    bpu_member = np.zeros(n_persons, np.int32)
    first_member = np.zeros(n_persons, np.int32)
    t0 = plan.t0
    next_person = next_spell = 0

    def open_spells(persons: np.ndarray, month: int, start: np.ndarray | None = None) -> None:
        nonlocal next_spell
        k = len(persons)
        ids = np.arange(next_spell, next_spell + k)
        sp_person[ids] = persons
        sp_start[ids] = month if start is None else start
        first = bpu_member[persons] == 0
        member = ids + 1
        is_bpu = seg[persons] == BPU
        reuse = is_bpu & ~first
        member[reuse] = bpu_member[persons[reuse]]
        bpu_member[persons[is_bpu & first]] = member[is_bpu & first]
        sp_member[ids] = member
        fresh = first_member[persons] == 0
        first_member[persons[fresh]] = member[fresh]
        current[persons] = ids
        next_spell += k

    def new_persons(s: int, k: int, month: int, registered: np.ndarray | None = None) -> np.ndarray:
        nonlocal next_person
        persons = np.arange(next_person, next_person + k)
        seg[persons] = s
        since[persons] = month if registered is None else registered
        next_person += k
        return persons

    active: list[np.ndarray] = []
    idle: list[np.ndarray] = []
    calibration_index = CALIBRATION.ordinal - t0
    at_calibration: list[np.ndarray] = []
    for s in range(4):
        a0, i0 = int(plan.target[s, 0]), int(plan.inactive0[s])
        started = t0 - rng.integers(0, 96, a0)
        persons = new_persons(s, a0, t0, started)
        open_spells(persons, t0, started)
        began = t0 - rng.integers(13, 120, i0)
        lapsed = new_persons(s, i0, t0, began)
        open_spells(lapsed, t0, began)
        sp_end[current[lapsed]] = np.minimum(began + rng.integers(0, 36, i0), t0 - 1)
        active.append(persons)
        idle.append(lapsed)
    for m in range(1, plan.months):
        month = t0 + m
        for s in range(4):
            pool, rest = active[s], idle[s]
            n_lapse, n_back, n_new = int(plan.lapse[s, m]), int(plan.back[s, m]), int(plan.new[s, m])
            pick = np.zeros(len(pool), bool)
            pick[rng.choice(len(pool), n_lapse, replace=False)] = True
            gone = pool[pick]
            sp_end[current[gone]] = month - 1
            back_pick = np.zeros(len(rest), bool)
            back_pick[rng.choice(len(rest), n_back, replace=False)] = True
            returning = rest[back_pick]
            open_spells(returning, month)
            joined = new_persons(s, n_new, month)
            open_spells(joined, month)
            active[s] = np.concatenate([pool[~pick], returning, joined])
            idle[s] = np.concatenate([rest[~back_pick], gone])
        if m == calibration_index:
            at_calibration = [a.copy() for a in active]
        if progress:
            progress("simulate", m, plan.months - 1)
    if calibration_index == 0:
        at_calibration = active
    return Population(
        plan,
        seg[:next_person],
        since[:next_person],
        sp_person[:next_spell],
        sp_start[:next_spell],
        sp_end[:next_spell],
        sp_member[:next_spell],
        first_member[:next_person],
        np.concatenate(at_calibration),
    )


# ---- places, employers, attributes -----------------------------------------------------------------
@dataclass
class Places:
    offices: list[dict[str, str]]
    person_regency: np.ndarray  # index into offices
    spell_employer: np.ndarray  # -1 when not PU
    employer_regency: np.ndarray
    employer_size: np.ndarray
    employer_sector: np.ndarray
    employer_since: np.ndarray
    sectors: list[str]


def _weighted_pick(rng: np.random.Generator, size: int, weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right").astype(np.int64)


def place(pop: Population, rng: np.random.Generator, beh: dict[str, Any], scale: float) -> Places:
    offices = default_offices()
    prov_of = np.array([o["province_code"] for o in offices])
    is_city = np.array([int(o["regency_code"][2:]) >= 71 for o in offices])
    active_share, inactive_share, groups = province_quotas()
    keys = ["|".join(g) for g in groups]
    n = len(pop.seg)
    in_calibration = np.zeros(n, bool)
    in_calibration[pop.active_at_calibration] = True
    group_of = np.full(n, -1, np.int16)
    for mask, shares in ((in_calibration, active_share), (~in_calibration, inactive_share)):
        people = np.flatnonzero(mask)
        rng.shuffle(people)
        counts = _quota(len(people), np.array([shares[k] for k in keys]))
        group_of[people] = np.repeat(np.arange(len(keys)), counts)
    person_regency = np.zeros(n, np.int16)
    for g, codes in enumerate(groups):
        regs = np.flatnonzero(np.isin(prov_of, list(codes)))
        weights = np.where(is_city[regs], float(beh["city_weight"]), 1.0)
        people = np.flatnonzero(group_of == g)
        person_regency[people] = regs[_weighted_pick(rng, len(people), weights)]

    # employers: per province group, as many with workers at the calibration month as published
    rows = published()
    employers_total = _figure(rows, "active_employers", str(CALIBRATION)) * scale
    pu_spells = np.flatnonzero(pop.seg[pop.sp_person] == PU)
    spell_group = group_of[pop.sp_person[pu_spells]]
    live = (pop.sp_start[pu_spells] <= CALIBRATION.ordinal) & (pop.sp_end[pu_spells] >= CALIBRATION.ordinal)
    live_per_group = np.bincount(spell_group[live], minlength=len(groups))
    quotas = np.minimum(_quota(round(employers_total), live_per_group.astype(np.float64) + 1e-9), live_per_group)
    closed_share = float(beh["closed_employer_share"])
    spell_employer = np.full(len(pop.sp_person), -1, np.int32)
    regency_parts, next_id = [], 0
    zipf = float(beh["employer_zipf"])
    for g in range(len(groups)):
        e_live = int(quotas[g])
        e_closed = round(e_live * closed_share / (1 - closed_share))
        total = e_live + e_closed
        if total == 0:
            continue
        weights = 1.0 / np.arange(1, total + 1) ** zipf
        mine = pu_spells[spell_group == g]
        mine_live = mine[live[spell_group == g]]
        rng.shuffle(mine_live)
        first, rest = mine_live[:e_live], mine_live[e_live:]
        spell_employer[first] = next_id + np.arange(len(first))
        if e_live:
            spell_employer[rest] = next_id + _weighted_pick(rng, len(rest), weights[:e_live])
        past = mine[~live[spell_group == g]]
        spell_employer[past] = next_id + _weighted_pick(rng, len(past), weights)
        regs = np.flatnonzero(np.isin(prov_of, list(groups[g])))
        regency_parts.append(regs[_weighted_pick(rng, total, np.where(is_city[regs], beh["city_weight"], 1.0))])
        next_id += total
    employer_regency = np.concatenate(regency_parts) if regency_parts else np.zeros(0, np.int64)
    live_spells = pu_spells[live]
    workers_now = np.bincount(spell_employer[live_spells], minlength=next_id)
    workers_ever = np.bincount(spell_employer[pu_spells], minlength=next_id)
    size_basis = np.where(workers_now > 0, workers_now, np.maximum(workers_ever // 3, 1))
    thresholds = beh["size_thresholds"]
    employer_size = np.searchsorted(
        np.array([thresholds["kecil"], thresholds["menengah"], thresholds["besar"]]), size_basis, side="right"
    ).astype(np.int8)
    sectors = list(beh["sectors"])
    employer_sector = _weighted_pick(rng, next_id, np.array([beh["sectors"][s] for s in sectors], np.float64))
    employer_since = np.full(next_id, OPEN, np.int32)
    np.minimum.at(employer_since, spell_employer[pu_spells], pop.sp_start[pu_spells])
    employer_since -= rng.integers(0, 24, next_id).astype(np.int32)
    # PU workers work where their employer is
    pu_people = pop.sp_person[pu_spells]
    person_regency[pu_people] = employer_regency[spell_employer[pu_spells]]
    return Places(
        offices,
        person_regency,
        spell_employer,
        employer_regency,
        employer_size,
        employer_sector,
        employer_since,
        sectors,
    )


@dataclass
class Traits:
    ecosystem: np.ndarray  # per person, index into ECOSYSTEM_CODES ('' for PU: derived from employer size)
    channel: np.ndarray  # per person, index into channels
    channels: list[str]
    payer: np.ndarray  # per person, index into vocab.PAYER_SOURCES
    wage: np.ndarray  # per spell, in the money of the spell's first year
    jht_from: np.ndarray  # per person (BPU/PMI): the month JHT is added
    birth: np.ndarray  # per person, days since epoch
    female: np.ndarray
    wage_rise: float
    uptake: Uptake | None = None  # set by ``calibrate_uptake``


@dataclass(frozen=True)
class Uptake:
    """Which PU workers' employers register JHT, JP and JKP (the rest are "PDS program": registered for
    fewer programs than their size requires). A PU worker at a small employer holds JHT when ``draw <=
    small_jht``; at a medium or large one JHT and JP when ``draw <= medium_jp``, JHT alone when ``draw <=
    medium_jht`` (``>= medium_jp``: used only when the small employers' workers are too few to make up the
    JHT count), and JKP too when also ``jkp_draw <= jkp`` with JP. The thresholds are chosen so that the
    published 2023-12 counts are met exactly."""

    draw: np.ndarray  # per person, uniform
    jkp_draw: np.ndarray  # per person, uniform
    small_jht: float
    medium_jp: float
    jkp: float
    medium_jht: float


def _kth(values: np.ndarray, k: int) -> float:
    """The threshold that selects exactly the ``k`` smallest ``values`` (with ``<=``)."""
    if k <= 0:
        return -1.0
    if k >= len(values):
        return 2.0
    return float(np.partition(values, k - 1)[k - 1])


def uptake_thresholds(medium: np.ndarray, small: np.ndarray, k_jp: int, k_jht: int) -> tuple[float, float, float]:
    """``(medium_jp, small_jht, medium_jht)`` for the draws of PU workers at medium-or-large and at small
    employers: ``k_jp`` medium ones get JP (and JHT); the other ``k_jht - k_jp`` JHT holders are small ones
    first, then, when those are too few (at national scale employers are larger and their small ones hold
    fewer workers), medium ones without JP."""
    medium_jp = _kth(medium, k_jp)
    chosen = int((medium <= medium_jp).sum())
    jht_only = k_jht - chosen
    small_jht = _kth(small, jht_only)
    medium_jht = _kth(medium, chosen + jht_only - len(small)) if jht_only > len(small) else medium_jp
    return medium_jp, small_jht, medium_jht


def calibrate_uptake(
    pop: Population, places: Places, tr: Traits, rng: np.random.Generator, goals: dict[str, float]
) -> None:
    """Set the PU program thresholds (``Uptake``) and withdraw JHT from BPU/PMI members beyond the published
    share, so that at the calibration month the counts of ``goals`` (jht_pu, jp, jkp, jht_bpu) are met."""
    n = len(pop.seg)
    draw, jkp_draw, bpu_draw = rng.random(n), rng.random(n), rng.random(n)
    o = CALIBRATION.ordinal
    live = np.flatnonzero((pop.sp_start <= o) & (pop.sp_end >= o))
    person = pop.sp_person[live]
    seg = pop.seg[person]
    size = places.employer_size[np.maximum(places.spell_employer[live], 0)]
    medium = person[(seg == PU) & (size >= 2)]
    small = person[(seg == PU) & (size == 1)]
    medium_jp, small_jht, medium_jht = uptake_thresholds(
        draw[medium], draw[small], round(goals["jp"]), round(goals["jht_pu"])
    )
    chosen = medium[draw[medium] <= medium_jp]
    jkp = _kth(jkp_draw[chosen], round(goals["jkp"]))
    holders = person[((seg == BPU) | (seg == PMI)) & (tr.jht_from[person] <= o)]
    keep = _kth(bpu_draw[holders], round(goals["jht_bpu"]))
    tr.jht_from[(bpu_draw > keep) & ((pop.seg == BPU) | (pop.seg == PMI))] = OPEN
    tr.uptake = Uptake(draw, jkp_draw, small_jht, medium_jp, jkp, medium_jht)


ECOSYSTEM_CODES = ("", *vocab.ECOSYSTEMS)  # index 0: no ecosystem


def traits(pop: Population, rng: np.random.Generator, beh: dict[str, Any]) -> Traits:
    n = len(pop.seg)
    eco = np.zeros(n, np.int8)
    bpu = np.flatnonzero(pop.seg == BPU)
    names = list(beh["bpu_ecosystems"])
    codes = np.array([ECOSYSTEM_CODES.index(e) for e in names], np.int8)
    eco[bpu] = codes[_weighted_pick(rng, len(bpu), np.array([beh["bpu_ecosystems"][e] for e in names], np.float64))]
    channels: list[str] = []
    for table in beh["channels"].values():
        channels += [c for c in table if c not in channels]
    channel = np.zeros(n, np.int16)
    groups: dict[str, np.ndarray] = {
        "pu": np.flatnonzero(pop.seg == PU),
        "jakon": np.flatnonzero(pop.seg == JAKON),
        "pmi": np.flatnonzero(pop.seg == PMI),
    }
    for e in names:
        groups[e] = bpu[eco[bpu] == ECOSYSTEM_CODES.index(e)]
    for key, people in groups.items():
        table = beh["channels"][key]
        codes = np.array([channels.index(c) for c in table], np.int16)
        channel[people] = codes[_weighted_pick(rng, len(people), np.array(list(table.values()), np.float64))]
    payer = np.full(n, vocab.PAYER_SOURCES.index("self"), np.int8)
    payer[pop.seg == PU] = vocab.PAYER_SOURCES.index("employer")
    payer[pop.seg == JAKON] = vocab.PAYER_SOURCES.index("employer")
    rentan = bpu[eco[bpu] == ECOSYSTEM_CODES.index("pekerja_rentan")]
    rp = list(beh["rentan_payers"])
    payer[rentan] = np.array([vocab.PAYER_SOURCES.index(p) for p in rp], np.int8)[
        _weighted_pick(rng, len(rentan), np.array([beh["rentan_payers"][p] for p in rp], np.float64))
    ]
    spell_seg = pop.seg[pop.sp_person]
    years = (pop.sp_start // 12) - 2023
    rise = (1 + float(beh["yearly_wage_rise"])) ** years.astype(np.float64)
    wage = np.where(
        spell_seg == PU,
        float(beh["pu_wage_median_2023"]) * rise * np.exp(rng.normal(0, float(beh["pu_wage_sigma"]), len(years))),
        float(beh["bpu_income_median"]) * np.exp(rng.normal(0, float(beh["bpu_income_sigma"]), len(years))),
    )
    wage = (np.rint(wage / 1000) * 1000).astype(np.int32)
    at_join = rng.random(n) < float(beh["bpu_jht_at_join"])
    wait = rng.geometric(float(beh["bpu_jht_upgrade_per_month"]), n)
    jht_from = np.where(at_join, pop.since, pop.since + wait).astype(np.int32)
    since_days = _first_days(pop.since)
    age = rng.integers(18 * 365, 55 * 365, n)
    birth = (since_days - age).astype(np.int32)
    return Traits(
        eco, channel, channels, payer, wage, jht_from, birth, rng.random(n) < 0.4, float(beh["yearly_wage_rise"])
    )


_EPOCH = dt.date(1970, 1, 1)


def _first_days(ordinals: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first day of each month ordinal."""
    lo, hi = int(ordinals.min()), int(ordinals.max())
    table = np.array([(Period.from_ordinal(o).first_day - _EPOCH).days for o in range(lo, hi + 2)], np.int64)
    return np.asarray(table[ordinals - lo], dtype=np.int64)


def _period_texts(
    ordinals: np.ndarray, lo: int | None = None, hi: int | None = None, missing: np.ndarray | None = None
) -> pa.DictionaryArray:
    """Month texts of ordinals, dictionary-encoded over ``lo``…``hi``; null where ``missing``."""
    present = ordinals if missing is None else ordinals[~missing]
    if present.size == 0:
        present = np.array([CALIBRATION.ordinal])
    lo = int(present.min()) if lo is None else lo
    hi = int(present.max()) if hi is None else hi
    names = pa.array([str(Period.from_ordinal(o)) for o in range(lo, hi + 1)])
    index = (np.clip(ordinals, lo, hi) - lo).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(index, mask=missing), names)


# ---- contribution amounts from the rules -------------------------------------------------------------
@dataclass(frozen=True)
class Rates:
    jkp: bool
    jkk_by_class: dict[str, float]
    jkm: float
    jht: float
    jp: float
    jp_cap: int
    bpu_lowest: int
    bpu_step: int
    bpu_jkk: float
    bpu_jkm: int
    bpu_jht: float


def rates(tree: ParameterTree, period: Period) -> Rates:
    def f(x: Any) -> float:
        return float(Decimal(x))

    in_force = tree.value("programs.in_force", period)
    tier = tree.value("bpu.income_tier", period)
    return Rates(
        jkp=bool(in_force["jkp"]),
        jkk_by_class={k: f(v) for k, v in tree.value("pu.jkk.rate_by_risk_class", period).items()},
        jkm=f(tree.value("pu.jkm.rate", period)),
        jht=f(tree.value("pu.jht.employer_rate", period)) + f(tree.value("pu.jht.worker_rate", period)),
        jp=f(tree.value("pu.jp.employer_rate", period)) + f(tree.value("pu.jp.worker_rate", period)),
        jp_cap=int(tree.value("pu.jp.wage_cap", period)),
        bpu_lowest=int(tier["lowest"]),
        bpu_step=int(tier["step"]),
        bpu_jkk=f(tree.value("bpu.jkk_rate", period)),
        bpu_jkm=int(tree.value("bpu.jkm_amount", period)),
        bpu_jht=f(tree.value("bpu.jht_rate", period)),
    )


def _risk_classes() -> dict[str, str]:
    text = resources.files("jamsos.registry").joinpath("data", "sector_risk_class.csv").read_text(encoding="utf-8")
    return {r["sector"]: r["risk_class"] for r in csv.DictReader(text.splitlines())}


# ---- writing -------------------------------------------------------------------------------------------
def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def generate(
    out: Path,
    *,
    tree: ParameterTree,
    scale: float,
    first: Period,
    last: Period,
    seed: int = 1,
    calibration_target: str = "news",
    progress: Progress | None = None,
    pseudonym_key: bytes,
    identities: Path | None = None,
) -> SynthReport:
    """Write a calibrated synthetic warehouse to ``out`` (replacing an earlier synthetic one). Persons are
    keyed, as in an export, by the keyed hash of their (invented) NIK under ``pseudonym_key``; the NIKs,
    names and KPJs themselves go only to ``identities`` when it is given (for tests: never a warehouse)."""
    beh = behaviour()
    start = Period.parse(beh["calibration"]["start"])
    if not 0 < scale <= 2:
        raise SynthError("scale must be above 0 and at most 2 (1.0 is the national population)")
    if first < start or last < first:
        raise SynthError(f"months must run forward from {start} at the earliest")
    if calibration_target not in ("news", "audited"):
        raise SynthError("calibration target must be 'news' (41.46 m) or 'audited' (41.56 m)")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SynthError(f"{out} is not empty and was not written by jamsos synth; choose an empty directory")
    rng = np.random.default_rng(seed)
    plan = make_plan(scale=scale, last=last, calibration_target=calibration_target, beh=beh)
    pop = simulate(plan, rng, progress)
    places = place(pop, rng, beh, scale)
    tr = traits(pop, rng, beh)
    calibrate_uptake(pop, places, tr, rng, _program_goals(published(), scale, calibration_target))
    staging = out / ".synth-staging"
    if staging.exists():
        shutil.rmtree(staging)
    rows = _write_all(staging, pop, places, tr, tree, first, last, scale, progress, pseudonym_key, identities)
    for name in [*STEERING, "persons", "employers", "memberships"]:
        if (out / name).exists():
            shutil.rmtree(out / name)
        if (staging / name).exists():
            (staging / name).rename(out / name)
    shutil.rmtree(staging)
    report = SynthReport(
        str(out),
        scale,
        seed,
        str(first),
        str(last),
        calibration_target,
        plan.factor,
        plan.idle_factor,
        rows,
        _targets(pop, places, tr, scale, calibration_target),
        key_id(pseudonym_key),
    )
    (out / MARKER).write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    return report


def _segment_goals(rows: list[dict[str, str]], scale: float, which: str) -> tuple[float, dict[str, float]]:
    """The 2023-12 active level (news or audited) and its split by segment, at ``scale``."""
    kind = "news" if which == "news" else "audited"
    level = _figure(rows, "active_participants", "2023-12", kind) * 1e6 * scale
    split = {s: _figure(rows, f"active_participants_{s}", "2023-12") for s in PUBLISHED_SEGMENTS}
    total = sum(split.values())
    return level, {s: level * split[s] / total for s in split}


def _program_goals(rows: list[dict[str, str]], scale: float, which: str) -> dict[str, float]:
    """Program counts at 2023-12 as published shares of their segment's goal (PU: JHT, JP, JKP; BPU: JHT)."""
    _, seg = _segment_goals(rows, scale, which)
    pu, bpu = (_figure(rows, f"active_participants_{s}", "2023-12") for s in ("pu", "bpu"))
    return {
        "jht_pu": seg["pu"] * _figure(rows, "active_participants_jht_pu", "2023-12") / pu,
        "jp": seg["pu"] * _figure(rows, "active_participants_jp", "2023-12") / pu,
        "jkp": seg["pu"] * _figure(rows, "active_participants_jkp", "2023-12") / pu,
        "jht_bpu": seg["bpu"] * _figure(rows, "active_participants_jht_bpu", "2023-12") / bpu,
    }


def _targets(pop: Population, places: Places, tr: Traits, scale: float, which: str) -> list[Target]:
    rows = published()
    out: list[Target] = []

    def active_at(period: Period) -> np.ndarray:
        o = period.ordinal
        live = (pop.sp_start <= o) & (pop.sp_end >= o)
        return pop.sp_person[live]  # a person has at most one live spell

    a22, a23 = active_at(Period(2022, 12)), active_at(CALIBRATION)
    out.append(Target("active 2022-12", _figure(rows, "active_participants", "2022-12") * 1e6 * scale, len(a22)))
    level, goals = _segment_goals(rows, scale, which)
    out.append(Target("active 2023-12", level, len(a23)))
    seg = pop.seg[a23]
    achieved = {"pu": (seg == PU).sum(), "bpu": ((seg == BPU) | (seg == PMI)).sum(), "jakon": (seg == JAKON).sum()}
    for s in PUBLISHED_SEGMENTS:
        out.append(Target(f"active {s} 2023-12", goals[s], int(achieved[s])))
    out.extend(_program_targets(pop, places, tr, _program_goals(rows, scale, which)))
    out.append(
        Target(
            "registered 2023-12",
            _figure(rows, "registered_participants", "2023-12") * 1e6 * scale,
            int((pop.since <= CALIBRATION.ordinal).sum()),
        )
    )
    o = CALIBRATION.ordinal
    live = (pop.sp_start <= o) & (pop.sp_end >= o) & (places.spell_employer >= 0)
    out.append(
        Target(
            "active employers 2023-12",
            _figure(rows, "active_employers", "2023-12") * scale,
            int((np.bincount(places.spell_employer[live], minlength=1) > 0).sum()),
        )
    )
    active_share, _, groups = province_quotas()
    per_regency = np.bincount(places.person_regency[a23], minlength=len(places.offices))
    prov = np.array([o["province_code"] for o in places.offices])
    for codes in groups:
        key = "|".join(codes)
        achieved_p = int(per_regency[np.isin(prov, codes)].sum())
        out.append(Target(f"active 2023-12 province {key}", level * active_share[key], achieved_p))
    return out


def _program_targets(pop: Population, places: Places, tr: Traits, goals: dict[str, float]) -> list[Target]:
    """Achieved program counts at the calibration month, by the same rule the monthly files use."""
    up = tr.uptake
    assert up is not None
    o = CALIBRATION.ordinal
    live = np.flatnonzero((pop.sp_start <= o) & (pop.sp_end >= o))
    person = pop.sp_person[live]
    seg = pop.seg[person]
    size = places.employer_size[np.maximum(places.spell_employer[live], 0)]
    medium = (seg == PU) & (size >= 2) & (up.draw[person] <= up.medium_jp)
    medium_jht = (seg == PU) & (size >= 2) & (up.draw[person] <= up.medium_jht)
    small = (seg == PU) & (size == 1) & (up.draw[person] <= up.small_jht)
    jkp = medium & (up.jkp_draw[person] <= up.jkp)
    bpu_jht = ((seg == BPU) | (seg == PMI)) & (tr.jht_from[person] <= o)
    achieved = {"jht_pu": small | medium_jht, "jp": medium, "jkp": jkp, "jht_bpu": bpu_jht}
    names = {"jht_pu": "active JHT pu", "jp": "active JP", "jkp": "active JKP", "jht_bpu": "active JHT bpu"}
    return [Target(f"{names[k]} 2023-12", goals[k], int(achieved[k].sum())) for k in names]


def _write_all(
    out: Path,
    pop: Population,
    places: Places,
    tr: Traits,
    tree: ParameterTree,
    first: Period,
    last: Period,
    scale: float,
    progress: Progress | None,
    key: bytes,
    identities: Path | None,
) -> dict[str, int]:
    ids = _identities(pop, places, tr, last)
    pkey = np.zeros(len(pop.since), np.int64)
    for start in range(0, len(ids.people), CHUNK):
        sl = slice(start, min(len(ids.people), start + CHUNK))
        digits = np.ascontiguousarray(ids.niks(sl))
        pkey[ids.people[sl]] = person_keys(key, digits.view(f"S{digits.shape[1]}").ravel().tolist())
    if len(np.unique(pkey[ids.people])) != len(ids.people):
        raise SynthError("two invented NIKs share a pseudonymous key; choose another seed or key")
    if identities is not None:
        _write_chunks(identities, len(ids.people), lambda sl: _identities_table(ids, sl, pkey, pop, places, tr))
    spell_seg = pop.seg[pop.sp_person]
    pu_eco = np.where(
        places.employer_size[np.maximum(places.spell_employer, 0)] <= 1, ECOSYSTEM_CODES.index("ukm"), 0
    ).astype(np.int8)
    spell_eco = np.where(spell_seg == PU, pu_eco, tr.ecosystem[pop.sp_person]).astype(np.int8)
    del pu_eco
    spell_regency = places.person_regency[pop.sp_person]
    counts = {
        "contribution_months": _write_months(
            out, pop, places, tr, tree, first, last, spell_seg, spell_eco, spell_regency, progress, pkey
        )
    }
    counts.update(_write_registry(out, pop, places, tr, spell_seg, spell_eco, spell_regency, last, ids, pkey))
    counts.update(_write_reference(out, scale))
    return counts


def _write_months(
    out: Path,
    pop: Population,
    places: Places,
    tr: Traits,
    tree: ParameterTree,
    first: Period,
    last: Period,
    spell_seg: np.ndarray,
    spell_eco: np.ndarray,
    spell_regency: np.ndarray,
    progress: Progress | None,
    pkey: np.ndarray,
) -> int:
    """One partition per month: every live spell, in the generator's order of persons."""
    regency_codes = pa.array([o["regency_code"] for o in places.offices])
    risk = _risk_classes()
    employer_risk = np.array([risk.get(s, "sedang") for s in places.sectors])[places.employer_sector]
    eco_dict = pa.array(ECOSYSTEM_CODES)
    seg_dict = pa.array(vocab.SEGMENTS)
    payer_dict = pa.array(vocab.PAYER_SOURCES)
    channel_dict = pa.array(tr.channels)
    classes = {k: i for i, k in enumerate(vocab.RISK_CLASSES)}
    emp_class = np.array([classes[k] for k in employer_risk], np.int8) if len(employer_risk) else np.zeros(0, np.int8)
    months = list(range(first.ordinal, last.ordinal + 1))
    total_rows = 0
    cm = STEERING["contribution_months"]
    since_lo, since_hi = int(pop.since.min()), int(pop.since.max())
    known = places.employer_since[places.employer_since < OPEN // 2]
    emp_lo, emp_hi = (int(known.min()), int(known.max())) if known.size else (CALIBRATION.ordinal, CALIBRATION.ordinal)

    def programs_of(rows: np.ndarray, o: int, jkp: bool) -> np.ndarray:
        """Programs paid in month ``o`` on the spells ``rows``."""
        seg = spell_seg[rows]
        size = places.employer_size[np.maximum(places.spell_employer[rows], 0)]
        programs = np.full(len(rows), 3, np.int16)
        up = tr.uptake
        person = pop.sp_person[rows]
        small = (seg == PU) & (size == 1) & (True if up is None else up.draw[person] <= up.small_jht)
        medium = (seg == PU) & (size >= 2) & (True if up is None else up.draw[person] <= up.medium_jp)
        medium_jht = (seg == PU) & (size >= 2) & (True if up is None else up.draw[person] <= up.medium_jht)
        programs[small | medium_jht] |= 4
        programs[medium] |= 8
        if jkp:
            programs[medium & (True if up is None else up.jkp_draw[person] <= up.jkp)] |= 16
        programs[((seg == BPU) | (seg == PMI)) & (tr.jht_from[pop.sp_person[rows]] <= o)] |= 4
        return programs

    def spells_at(o: int) -> np.ndarray | None:
        """Per person, the spell live in month ``o`` (-1: none); None when ``o`` is not written."""
        if o < first.ordinal:
            return None
        at = np.full(len(pop.seg), -1, np.int32)
        live = np.flatnonzero((pop.sp_start <= o) & (pop.sp_end >= o))
        at[pop.sp_person[live]] = live
        return at

    def _add_links(
        table: pa.Table, side: str, spell: np.ndarray | None, o: int, jkp: bool, person: np.ndarray
    ) -> pa.Table:
        n = table.num_rows
        if spell is None:
            cols = {f"{side}_programs": pa.nulls(n, pa.int16())}
            cols |= {
                f"{side}_{d}": pa.nulls(n, pa.string())
                for d in ("segment", "regency_code", "ecosystem", "channel", "payer_source")
            }
        else:
            missing = spell < 0
            safe = np.maximum(spell, 0)
            cols = {
                f"{side}_programs": pa.array(programs_of(safe, o, jkp), mask=missing),
                f"{side}_segment": pa.DictionaryArray.from_arrays(
                    pa.array(spell_seg[safe].astype(np.int8), mask=missing), seg_dict
                ),
                f"{side}_regency_code": pa.DictionaryArray.from_arrays(
                    pa.array(spell_regency[safe], mask=missing), regency_codes
                ),
                f"{side}_ecosystem": pa.DictionaryArray.from_arrays(pa.array(spell_eco[safe], mask=missing), eco_dict),
                f"{side}_channel": pa.DictionaryArray.from_arrays(
                    pa.array(tr.channel[person], mask=missing), channel_dict
                ),
                f"{side}_payer_source": pa.DictionaryArray.from_arrays(
                    pa.array(tr.payer[person], mask=missing), payer_dict
                ),
            }
        for name, column in cols.items():
            table = table.append_column(name, column)
        return table

    for step, o in enumerate(months):
        period = Period.from_ordinal(o)
        live = np.flatnonzero((pop.sp_start <= o) & (pop.sp_end >= o))
        live = live[np.argsort(pop.sp_person[live], kind="stable")]
        r = rates(tree, period)
        links = {
            side: (spells_at(o - back), o - back, rates(tree, Period.from_ordinal(o - back)).jkp)
            for side, back in (("prev", 1), ("yoy", 12))
        }

        def build(
            sl: slice,
            live: np.ndarray = live,
            o: int = o,
            period: Period = period,
            r: Rates = r,
            links: dict[str, tuple[np.ndarray | None, int, bool]] = links,
        ) -> pa.Table:
            rows = live[sl]
            person = pop.sp_person[rows]
            seg = spell_seg[rows]
            employer = places.spell_employer[rows]
            years = (o // 12) - (pop.sp_start[rows] // 12)
            wage = np.rint(tr.wage[rows] * (1.0 + tr.wage_rise) ** years).astype(np.int64)
            programs = programs_of(rows, o, r.jkp)
            amount = np.zeros(len(rows), np.float64)
            pu = seg == PU
            jkk = np.array([r.jkk_by_class[k] for k in vocab.RISK_CLASSES])
            if pu.any():
                w = wage[pu].astype(np.float64)
                p = programs[pu]
                a = w * (jkk[emp_class[employer[pu]]] + r.jkm)
                a += np.where(p & 4, w * r.jht, 0.0)
                a += np.where(p & 8, np.minimum(w, r.jp_cap) * r.jp, 0.0)
                amount[pu] = a
            bpu = seg == BPU
            if bpu.any():
                tier = np.maximum(r.bpu_lowest, (wage[bpu] - r.bpu_lowest) // r.bpu_step * r.bpu_step + r.bpu_lowest)
                a = tier * r.bpu_jkk + r.bpu_jkm
                a += np.where(programs[bpu] & 4, tier * r.bpu_jht, 0.0)
                amount[bpu] = a
            wage[(seg == JAKON) | (seg == PMI)] = 0
            day_from, day_to = (1, 15)
            paid_next = seg == PU
            base = (
                np.where(paid_next, (period + 1).first_day.toordinal(), period.first_day.toordinal())
                - _EPOCH.toordinal()
            )
            paid_on = base + (day_from - 1) + np.asarray(pop.sp_person[rows] % (day_to - day_from + 1))
            employer_since = np.where(employer >= 0, places.employer_since[np.maximum(employer, 0)], 0)
            table = pa.table(
                {
                    "person_id": pa.array(pkey[person]),
                    "membership_id": pa.array(pop.sp_member[rows].astype(np.int64)),
                    "employer_id": pa.array(employer.astype(np.int64) + 1, mask=employer < 0),
                    "segment": pa.DictionaryArray.from_arrays(pa.array(seg.astype(np.int8)), seg_dict),
                    "regency_code": pa.DictionaryArray.from_arrays(
                        pa.array(spell_regency[rows].astype(np.int16)), regency_codes
                    ),
                    "ecosystem": pa.DictionaryArray.from_arrays(pa.array(spell_eco[rows].astype(np.int8)), eco_dict),
                    "channel": pa.DictionaryArray.from_arrays(pa.array(tr.channel[person]), channel_dict),
                    "payer_source": pa.DictionaryArray.from_arrays(pa.array(tr.payer[person]), payer_dict),
                    "programs": pa.array(programs),
                    "wage": pa.array(wage),
                    "amount": pa.array(np.rint(amount).astype(np.int64)),
                    "paid_on": pa.array(paid_on.astype(np.int32), pa.date32()),
                    "person_since": _period_texts(pop.since[person], since_lo, since_hi),
                    "employer_since": _period_texts(employer_since, emp_lo, emp_hi, missing=employer < 0),
                }
            )
            for side, (spell_at, at, jkp) in links.items():
                table = _add_links(table, side, spell_at[person] if spell_at is not None else None, at, jkp, person)
            _check_columns(cm.name, table, exclude=("period",))
            return table

        total_rows += _write_chunks(out / "contribution_months" / f"period={period}", len(live), build)
        if progress:
            progress("write months", step + 1, len(months))
    return total_rows


def _check_columns(name: str, table: pa.Table, exclude: tuple[str, ...] = ()) -> None:
    want = [c.name for c in STEERING[name].columns if c.name not in exclude]
    if sorted(want) != sorted(table.column_names):
        raise AssertionError(f"{name}: columns {table.column_names} differ from the schema {want}")


def _write_registry(
    out: Path,
    pop: Population,
    places: Places,
    tr: Traits,
    spell_seg: np.ndarray,
    spell_eco: np.ndarray,
    spell_regency: np.ndarray,
    last: Period,
    ids: Identities,
    pkey: np.ndarray,
) -> dict[str, int]:
    regency_codes = pa.array([o["regency_code"] for o in places.offices])
    # one row per membership: the spell that opened it (BPU memberships span spells)
    firsts = np.flatnonzero(
        (pop.sp_member == np.arange(1, len(pop.sp_member) + 1, dtype=np.int32)) & (pop.sp_start <= last.ordinal)
    )
    ends = pop.sp_end[firsts]
    bpu = spell_seg[firsts] == BPU
    ended = ~bpu & (ends <= last.ordinal)
    lo, hi = int(pop.sp_start[firsts].min()), int(max(pop.sp_start[firsts].max(), last.ordinal))

    def registrations(sl: slice) -> pa.Table:
        rows = firsts[sl]
        done = ended[sl]
        table = pa.table(
            {
                "person_id": pa.array(pkey[pop.sp_person[rows]]),
                "membership_id": pa.array(pop.sp_member[rows].astype(np.int64)),
                "segment": pa.DictionaryArray.from_arrays(
                    pa.array(spell_seg[rows].astype(np.int8)), pa.array(vocab.SEGMENTS)
                ),
                "regency_code": pa.DictionaryArray.from_arrays(pa.array(spell_regency[rows]), regency_codes),
                "ecosystem": pa.DictionaryArray.from_arrays(pa.array(spell_eco[rows]), pa.array(ECOSYSTEM_CODES)),
                "channel": pa.DictionaryArray.from_arrays(
                    pa.array(tr.channel[pop.sp_person[rows]]), pa.array(tr.channels)
                ),
                "registered": _period_texts(pop.sp_start[rows], lo, hi),
                "ended": _period_texts(pop.sp_end[rows], lo, hi, missing=~done),
                "first_of_person": pa.array(pop.first_member[pop.sp_person[rows]] == pop.sp_member[rows]),
            }
        )
        _check_columns("registrations", table)
        return table

    n_registrations = _write_chunks(out / "registrations", len(firsts), registrations)
    n_persons = _write_chunks(
        out / "persons",
        len(ids.people),
        lambda sl: _persons_table(ids.people[sl], pkey, pop, places, tr, regency_codes),
    )
    employers = _employers_table(places, regency_codes, last)
    _write(employers, out / "employers" / "part-0.parquet")
    versions = np.concatenate([np.arange(len(firsts)), np.flatnonzero(ended)])
    exits = np.r_[np.zeros(len(firsts), bool), np.ones(int(ended.sum()), bool)]
    n_memberships = _write_chunks(
        out / "memberships",
        len(versions),
        lambda sl: _memberships_table(
            sl.start, firsts[versions[sl]], exits[sl], ended[versions[sl]], pop, places, tr, spell_seg, spell_eco, pkey
        ),
    )
    return {
        "registrations": n_registrations,
        "persons": n_persons,
        "employers": employers.num_rows,
        "memberships": n_memberships,
    }


CHUNK = 4_000_000


def _write_chunks(directory: Path, n: int, build: Callable[[slice], pa.Table]) -> int:
    """Write ``n`` rows built a slice at a time into one Parquet file (bounded memory)."""
    directory.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, max(n, 1), CHUNK):
            table = build(slice(start, min(n, start + CHUNK)))
            if writer is None:
                writer = pq.ParquetWriter(directory / "part-0.parquet", table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    return n


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers."""
    out = np.empty((len(values), width), np.uint8)
    v = values.astype(np.int64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = 48 + v % 10
        v //= 10
    return out


def _text(digits: np.ndarray) -> pa.Array:
    n, width = digits.shape
    buf = pa.py_buffer(np.ascontiguousarray(digits).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, buf]).cast(pa.binary()).cast(pa.string())


def nik_serials(regency: np.ndarray, district: np.ndarray, birth_days: np.ndarray, female: np.ndarray) -> np.ndarray:
    """The 4-digit serial of each NIK: the rank of the person among those sharing region, district,
    birth date and sex (so the 16 digits are unique)."""
    key = ((regency.astype(np.int64) * 128 + district) * 65536 + (birth_days.astype(np.int64) + 32768)) * 2 + female
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    del key
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    del sorted_key
    rank = np.arange(len(order), dtype=np.int64)
    rank -= np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    serial = np.empty(len(order), np.int16)
    serial[order] = (rank + 1).astype(np.int16) if rank.max(initial=0) < 9999 else 0
    if rank.max(initial=0) >= 9999:
        raise SynthError("too many people share a region and birth date for a 4-digit NIK serial")
    return serial


def nik_digits(
    regency: np.ndarray, district: np.ndarray, birth_days: np.ndarray, female: np.ndarray, serial: np.ndarray
) -> np.ndarray:
    """Invented NIKs as (n, 16) ASCII digits: PPKK CC DDMMYY SSSS, DD + 40 for women."""
    dates = (np.datetime64("1970-01-01") + birth_days.astype("timedelta64[D]")).astype("datetime64[D]")
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1 + np.where(female, 40, 0)
    prefix = ((regency.astype(np.int64) * 100 + district) * 100 + days) * 10000 + months * 100 + years % 100
    return np.hstack([_digits(prefix, 12), _digits(serial, 4)])


def make_niks(regency: np.ndarray, district: np.ndarray, birth_days: np.ndarray, female: np.ndarray) -> np.ndarray:
    """Unique invented NIKs as (n, 16) ASCII digits."""
    return nik_digits(regency, district, birth_days, female, nik_serials(regency, district, birth_days, female))


def _luhn_check(body: np.ndarray) -> np.ndarray:
    """Luhn check digit of each row of ASCII digits."""
    d = body.astype(np.int64) - 48
    width = d.shape[1]
    total = np.zeros(len(d), np.int64)
    for i in range(width):
        x = d[:, width - 1 - i]
        if i % 2 == 0:
            x = x * 2
            x = np.where(x > 9, x - 9, x)
        total += x
    return ((10 - total % 10) % 10 + 48).astype(np.uint8)


@dataclass(frozen=True)
class Identities:
    """The invented NIKs of the persons registered by the last month (made a slice at a time)."""

    people: np.ndarray
    regency_number: np.ndarray
    district: np.ndarray
    serial: np.ndarray
    regency: np.ndarray
    birth: np.ndarray
    female: np.ndarray

    def niks(self, sl: slice) -> np.ndarray:
        who = self.people[sl]
        return nik_digits(
            self.regency_number[self.regency[who]],
            self.district[sl],
            self.birth[who],
            self.female[who],
            self.serial[sl],
        )


def _identities(pop: Population, places: Places, tr: Traits, last: Period) -> Identities:
    people = np.flatnonzero(pop.since <= last.ordinal)
    district = (people % 20 + 1).astype(np.int8)
    return Identities(
        people,
        np.array([int(o["regency_code"]) for o in places.offices], np.int16),
        district,
        nik_serials(places.person_regency[people], district, tr.birth[people], tr.female[people]),
        places.person_regency,
        tr.birth,
        tr.female,
    )


def _persons_table(
    people: np.ndarray, pkey: np.ndarray, pop: Population, places: Places, tr: Traits, regency_codes: pa.Array
) -> pa.Table:
    """The warehouse's persons: pseudonymous, as an export writes them."""
    since_days = _first_days(pop.since[people])
    births = (np.datetime64("1970-01-01") + tr.birth[people].astype("timedelta64[D]")).astype("datetime64[Y]")
    return pa.table(
        {
            "version_id": pa.array(people + 1),
            "person_id": pa.array(pkey[people]),
            "birth_year": pa.array((births.astype(np.int64) + 1970).astype(np.int16)),
            "sex": pa.array(np.where(tr.female[people], "F", "M")),
            "regency_code": pa.DictionaryArray.from_arrays(
                pa.array(places.person_regency[people].astype(np.int16)), regency_codes
            ),
            "valid_from": pa.array(since_days.astype(np.int32), pa.date32()),
            "valid_to": pa.nulls(len(people), pa.date32()),
            "recorded_at": pa.array((since_days * 86400 * 1_000_000).astype(np.int64), pa.timestamp("us", tz="UTC")),
        }
    )


def _identities_table(
    ids: Identities, sl: slice, pkey: np.ndarray, pop: Population, places: Places, tr: Traits
) -> pa.Table:
    """Who is behind each key (invented): NIK, KPJ, name, birth date. Written only where asked, for tests."""
    from jamsos.registry.domain import KPJ_OFFSET

    people = ids.people[sl]
    body = _digits(KPJ_OFFSET + people + 1, 10)
    kpj = np.hstack([body, _luhn_check(body)[:, None]])
    names = pa.array([f"{f} {last}" for f in FIRST for last in LAST])
    name_index = (people * 2654435761 % len(names)).astype(np.int32)
    return pa.table(
        {
            "person_id": pa.array(pkey[people]),
            "nik": _text(ids.niks(sl)),
            "kpj": _text(kpj),
            "name": pa.DictionaryArray.from_arrays(pa.array(name_index), names),
            "birth_date": pa.array(tr.birth[people].astype(np.int32), pa.date32()),
            "sex": pa.array(np.where(tr.female[people], "F", "M")),
        }
    )


def _employers_table(places: Places, regency_codes: pa.Array, last: Period) -> pa.Table:
    keep = np.flatnonzero(places.employer_since <= last.ordinal)
    since_days = _first_days(places.employer_since[keep])
    branch_of = pa.array([o["branch_code"] for o in places.offices])
    risk = _risk_classes()
    sectors = pa.array(places.sectors)
    risk_names = pa.array([risk.get(s, "") for s in places.sectors])
    eco = np.where(places.employer_size[keep] <= 1, "ukm", "")
    return pa.table(
        {
            "version_id": pa.array(keep + 1),
            "employer_id": pa.array(keep + 1),
            "npp": _text(np.hstack([np.full((len(keep), 2), [74, 83], np.uint8), _digits(keep + 1, 8)])),
            "account_id": pa.nulls(len(keep), pa.int64()),
            "name": pa.array([f"Usaha Sintetis {i + 1}" for i in keep]),
            "legal_form": pa.array(np.where(places.employer_size[keep] >= 2, "pt", "perorangan")),
            "sector": pa.DictionaryArray.from_arrays(pa.array(places.employer_sector[keep].astype(np.int8)), sectors),
            "risk_class": risk_names.take(pa.array(places.employer_sector[keep].astype(np.int8))),
            "size_class": pa.DictionaryArray.from_arrays(
                pa.array(places.employer_size[keep]), pa.array(vocab.EMPLOYER_SIZES)
            ),
            "regency_code": pa.DictionaryArray.from_arrays(
                pa.array(places.employer_regency[keep].astype(np.int16)), regency_codes
            ),
            "branch_code": branch_of.take(pa.array(places.employer_regency[keep].astype(np.int16))),
            "ecosystems": pa.array(eco),
            "valid_from": pa.array(since_days.astype(np.int32), pa.date32()),
            "valid_to": pa.nulls(len(keep), pa.date32()),
            "recorded_at": pa.array((since_days * 86400 * 1_000_000).astype(np.int64), pa.timestamp("us", tz="UTC")),
        }
    )


def _memberships_table(
    first_version: int,
    rows: np.ndarray,
    exit_row: np.ndarray,
    ended: np.ndarray,
    pop: Population,
    places: Places,
    tr: Traits,
    spell_seg: np.ndarray,
    spell_eco: np.ndarray,
    pkey: np.ndarray,
) -> pa.Table:
    """Membership versions: one per membership, and a second from the exit day for ended ones."""
    start_days = _first_days(pop.sp_start[rows])
    end_days = _first_days(np.where(pop.sp_end[rows] == OPEN, pop.sp_start[rows], pop.sp_end[rows]) + 1)
    open_ = ~exit_row & ~ended
    valid_from = np.where(exit_row, end_days, start_days)
    valid_to = np.where(exit_row | open_, 0, end_days - 1)
    seg = spell_seg[rows]
    employer = places.spell_employer[rows]
    person = pop.sp_person[rows]
    reason = pa.array(["", EXIT_REASON[PU], "", EXIT_REASON[JAKON], EXIT_REASON[PMI]])
    reason_index = np.where(exit_row, np.array([1, 0, 3, 4])[seg], 0)
    return pa.table(
        {
            "version_id": pa.array(np.arange(first_version + 1, first_version + len(rows) + 1)),
            "membership_id": pa.array(pop.sp_member[rows].astype(np.int64)),
            "person_id": pa.array(pkey[person]),
            "segment": pa.DictionaryArray.from_arrays(pa.array(seg.astype(np.int8)), pa.array(vocab.SEGMENTS)),
            "employer_id": pa.array(employer.astype(np.int64) + 1, mask=employer < 0),
            "project_id": pa.nulls(len(rows), pa.int64()),
            "wage": pa.array(np.where(seg == PU, tr.wage[rows], 0)),
            "income": pa.array(np.where(seg == BPU, tr.wage[rows], 0)),
            "programs": pa.array(np.zeros(len(rows), np.int16)),
            "payer_source": pa.DictionaryArray.from_arrays(pa.array(tr.payer[person]), pa.array(vocab.PAYER_SOURCES)),
            "sponsor_id": pa.nulls(len(rows), pa.int64()),
            "ecosystem": pa.DictionaryArray.from_arrays(
                pa.array(spell_eco[rows].astype(np.int8)), pa.array(ECOSYSTEM_CODES)
            ),
            "channel": pa.DictionaryArray.from_arrays(pa.array(tr.channel[person]), pa.array(tr.channels)),
            "agent": pa.nulls(len(rows), pa.string()),
            "exit_reason": pa.DictionaryArray.from_arrays(pa.array(reason_index.astype(np.int8)), reason),
            "exit_date": pa.array(np.where(exit_row, end_days, 0).astype(np.int32), pa.date32(), mask=~exit_row),
            "valid_from": pa.array(valid_from.astype(np.int32), pa.date32()),
            "valid_to": pa.array(valid_to.astype(np.int32), pa.date32(), mask=valid_to == 0),
            "recorded_at": pa.array((valid_from * 86400 * 1_000_000).astype(np.int64), pa.timestamp("us", tz="UTC")),
        }
    )


def _write_reference(out: Path, scale: float) -> dict[str, int]:
    """Offices, and the employed population (×scale, so that coverage rates keep their meaning)."""
    offices = pa.Table.from_pylist(default_offices(), schema=STEERING["offices"].schema)
    _write(offices, out / "offices" / "part-0.parquet")
    regions = default_regions(scale)
    _write(regions, out / "regions" / "part-0.parquet")
    return {"offices": offices.num_rows, "regions": regions.num_rows}

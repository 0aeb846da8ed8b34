"""The people of the synthetic nation: spells of membership simulated month by month from the plan's flows, the
places (regencies, employers) they are served in, and their traits (age, sex, wage, programs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from jamsos.kernel.period import Period
from jamsos.registry.reference import default_offices
from jamsos.rules import codes as vocab
from jamsos.synth.plan import (
    BPU,
    CALIBRATION,
    JAKON,
    OPEN,
    PMI,
    PU,
    Plan,
    Progress,
    figure,
    province_quotas,
    published,
    quota,
)


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


def weighted_pick(rng: np.random.Generator, size: int, weights: np.ndarray) -> np.ndarray:
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
        counts = quota(len(people), np.array([shares[k] for k in keys]))
        group_of[people] = np.repeat(np.arange(len(keys)), counts)
    person_regency = np.zeros(n, np.int16)
    for g, codes in enumerate(groups):
        regs = np.flatnonzero(np.isin(prov_of, list(codes)))
        weights = np.where(is_city[regs], float(beh["city_weight"]), 1.0)
        people = np.flatnonzero(group_of == g)
        person_regency[people] = regs[weighted_pick(rng, len(people), weights)]

    # employers: per province group, as many with workers at the calibration month as published
    rows = published()
    employers_total = figure(rows, "active_employers", str(CALIBRATION)) * scale
    pu_spells = np.flatnonzero(pop.seg[pop.sp_person] == PU)
    spell_group = group_of[pop.sp_person[pu_spells]]
    live = (pop.sp_start[pu_spells] <= CALIBRATION.ordinal) & (pop.sp_end[pu_spells] >= CALIBRATION.ordinal)
    live_per_group = np.bincount(spell_group[live], minlength=len(groups))
    quotas = np.minimum(quota(round(employers_total), live_per_group.astype(np.float64) + 1e-9), live_per_group)
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
            spell_employer[rest] = next_id + weighted_pick(rng, len(rest), weights[:e_live])
        past = mine[~live[spell_group == g]]
        spell_employer[past] = next_id + weighted_pick(rng, len(past), weights)
        regs = np.flatnonzero(np.isin(prov_of, list(groups[g])))
        regency_parts.append(regs[weighted_pick(rng, total, np.where(is_city[regs], beh["city_weight"], 1.0))])
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
    employer_sector = weighted_pick(rng, next_id, np.array([beh["sectors"][s] for s in sectors], np.float64))
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


ECOSYSTEM_CODES = ("", *vocab.ECOSYSTEMS)  # index 0: no ecosystem


def traits(pop: Population, rng: np.random.Generator, beh: dict[str, Any]) -> Traits:
    n = len(pop.seg)
    eco = np.zeros(n, np.int8)
    bpu = np.flatnonzero(pop.seg == BPU)
    names = list(beh["bpu_ecosystems"])
    codes = np.array([ECOSYSTEM_CODES.index(e) for e in names], np.int8)
    eco[bpu] = codes[weighted_pick(rng, len(bpu), np.array([beh["bpu_ecosystems"][e] for e in names], np.float64))]
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
        channel[people] = codes[weighted_pick(rng, len(people), np.array(list(table.values()), np.float64))]
    payer = np.full(n, vocab.PAYER_SOURCES.index("self"), np.int8)
    payer[pop.seg == PU] = vocab.PAYER_SOURCES.index("employer")
    payer[pop.seg == JAKON] = vocab.PAYER_SOURCES.index("employer")
    rentan = bpu[eco[bpu] == ECOSYSTEM_CODES.index("pekerja_rentan")]
    rp = list(beh["rentan_payers"])
    payer[rentan] = np.array([vocab.PAYER_SOURCES.index(p) for p in rp], np.int8)[
        weighted_pick(rng, len(rentan), np.array([beh["rentan_payers"][p] for p in rp], np.float64))
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
    since_days = first_days(pop.since)
    age = rng.integers(18 * 365, 55 * 365, n)
    birth = (since_days - age).astype(np.int32)
    return Traits(
        eco, channel, channels, payer, wage, jht_from, birth, rng.random(n) < 0.4, float(beh["yearly_wage_rise"])
    )


EPOCH = dt.date(1970, 1, 1)


def first_days(ordinals: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first day of each month ordinal."""
    lo, hi = int(ordinals.min()), int(ordinals.max())
    table = np.array([(Period.from_ordinal(o).first_day - EPOCH).days for o in range(lo, hi + 2)], np.int64)
    return np.asarray(table[ordinals - lo], dtype=np.int64)


def period_texts(
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

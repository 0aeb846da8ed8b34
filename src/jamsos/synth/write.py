"""Writing the synthetic warehouse: contribution months computed from the rules' rates, the steering datasets
checked against their schema, in Parquet parts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from jamsos.kernel.period import Period
from jamsos.kernel.pseudonym import person_keys
from jamsos.rules import codes as vocab
from jamsos.rules.tree import ParameterTree
from jamsos.synth.identities import identities_of, identities_table
from jamsos.synth.parts import CHUNK, check_columns, write_chunks
from jamsos.synth.people import ECOSYSTEM_CODES, EPOCH, Places, Population, Traits, period_texts
from jamsos.synth.plan import BPU, CALIBRATION, JAKON, OPEN, PMI, PU, Progress, SynthError, risk_classes
from jamsos.synth.records import write_reference, write_registry
from jamsos.warehouse.schema import STEERING

BASE = vocab.BIT["jkk"] | vocab.BIT["jkm"]  # every membership holds JKK and JKM
JHT, JP, JKP = vocab.BIT["jht"], vocab.BIT["jp"], vocab.BIT["jkp"]


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


def write_all(
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
    ids = identities_of(pop, places, tr, last)
    pkey = np.zeros(len(pop.since), np.int64)
    for start in range(0, len(ids.people), CHUNK):
        sl = slice(start, min(len(ids.people), start + CHUNK))
        digits = np.ascontiguousarray(ids.niks(sl))
        pkey[ids.people[sl]] = person_keys(key, digits.view(f"S{digits.shape[1]}").ravel().tolist())
    if len(np.unique(pkey[ids.people])) != len(ids.people):
        raise SynthError("two invented NIKs share a pseudonymous key; choose another seed or key")
    if identities is not None:
        write_chunks(identities, len(ids.people), lambda sl: identities_table(ids, sl, pkey, pop, places, tr))
    spell_seg = pop.seg[pop.sp_person]
    pu_eco = np.where(
        places.employer_size[np.maximum(places.spell_employer, 0)] <= 1, ECOSYSTEM_CODES.index("ukm"), 0
    ).astype(np.int8)
    spell_eco = np.where(spell_seg == PU, pu_eco, tr.ecosystem[pop.sp_person]).astype(np.int8)
    del pu_eco
    spell_regency = places.person_regency[pop.sp_person]
    counts = {
        "contribution_months": write_months(
            out, pop, places, tr, tree, first, last, spell_seg, spell_eco, spell_regency, progress, pkey
        )
    }
    counts.update(write_registry(out, pop, places, tr, spell_seg, spell_eco, spell_regency, last, ids, pkey))
    counts.update(write_reference(out, scale))
    return counts


def write_months(
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
    risk = risk_classes()
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
        programs = np.full(len(rows), BASE, np.int16)
        up = tr.uptake
        person = pop.sp_person[rows]
        small = (seg == PU) & (size == 1) & (True if up is None else up.draw[person] <= up.small_jht)
        medium = (seg == PU) & (size >= 2) & (True if up is None else up.draw[person] <= up.medium_jp)
        medium_jht = (seg == PU) & (size >= 2) & (True if up is None else up.draw[person] <= up.medium_jht)
        programs[small | medium_jht] |= JHT
        programs[medium] |= JP
        if jkp:
            programs[medium & (True if up is None else up.jkp_draw[person] <= up.jkp)] |= JKP
        programs[((seg == BPU) | (seg == PMI)) & (tr.jht_from[pop.sp_person[rows]] <= o)] |= JHT
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
                a += np.where(p & JHT, w * r.jht, 0.0)
                a += np.where(p & JP, np.minimum(w, r.jp_cap) * r.jp, 0.0)
                amount[pu] = a
            bpu = seg == BPU
            if bpu.any():
                tier = np.maximum(r.bpu_lowest, (wage[bpu] - r.bpu_lowest) // r.bpu_step * r.bpu_step + r.bpu_lowest)
                a = tier * r.bpu_jkk + r.bpu_jkm
                a += np.where(programs[bpu] & JHT, tier * r.bpu_jht, 0.0)
                amount[bpu] = a
            wage[(seg == JAKON) | (seg == PMI)] = 0
            day_from, day_to = (1, 15)
            paid_next = seg == PU
            base = (
                np.where(paid_next, (period + 1).first_day.toordinal(), period.first_day.toordinal())
                - EPOCH.toordinal()
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
                    "person_since": period_texts(pop.since[person], since_lo, since_hi),
                    "employer_since": period_texts(employer_since, emp_lo, emp_hi, missing=employer < 0),
                }
            )
            for side, (spell_at, at, jkp) in links.items():
                table = _add_links(table, side, spell_at[person] if spell_at is not None else None, at, jkp, person)
            check_columns(cm.name, table, exclude=("period",))
            return table

        total_rows += write_chunks(out / "contribution_months" / f"period={period}", len(live), build)
        if progress:
            progress("write months", step + 1, len(months))
    return total_rows

"""The registry's records of the synthetic nation as a core-system extract would give them: employers, memberships,
and the reference data of regions and offices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from jamsos.kernel.period import Period
from jamsos.registry.reference import default_offices
from jamsos.rules import codes as vocab
from jamsos.synth.identities import Identities, as_text, digit_columns, persons_table
from jamsos.synth.parts import check_columns, write_chunks, write_parquet
from jamsos.synth.people import ECOSYSTEM_CODES, Places, Population, Traits, first_days, period_texts
from jamsos.synth.plan import BPU, EXIT_REASON, JAKON, OPEN, PMI, PU, risk_classes
from jamsos.warehouse.schema import STEERING, default_regions


def write_registry(
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
                "registered": period_texts(pop.sp_start[rows], lo, hi),
                "ended": period_texts(pop.sp_end[rows], lo, hi, missing=~done),
                "first_of_person": pa.array(pop.first_member[pop.sp_person[rows]] == pop.sp_member[rows]),
            }
        )
        check_columns("registrations", table)
        return table

    n_registrations = write_chunks(out / "registrations", len(firsts), registrations)
    n_persons = write_chunks(
        out / "persons",
        len(ids.people),
        lambda sl: persons_table(ids.people[sl], pkey, pop, places, tr, regency_codes),
    )
    employers = employers_table(places, regency_codes, last)
    write_parquet(employers, out / "employers" / "part-0.parquet")
    versions = np.concatenate([np.arange(len(firsts)), np.flatnonzero(ended)])
    exits = np.r_[np.zeros(len(firsts), bool), np.ones(int(ended.sum()), bool)]
    n_memberships = write_chunks(
        out / "memberships",
        len(versions),
        lambda sl: memberships_table(
            sl.start, firsts[versions[sl]], exits[sl], ended[versions[sl]], pop, places, tr, spell_seg, spell_eco, pkey
        ),
    )
    return {
        "registrations": n_registrations,
        "persons": n_persons,
        "employers": employers.num_rows,
        "memberships": n_memberships,
    }


def employers_table(places: Places, regency_codes: pa.Array, last: Period) -> pa.Table:
    keep = np.flatnonzero(places.employer_since <= last.ordinal)
    since_days = first_days(places.employer_since[keep])
    branch_of = pa.array([o["branch_code"] for o in places.offices])
    risk = risk_classes()
    sectors = pa.array(places.sectors)
    risk_names = pa.array([risk.get(s, "") for s in places.sectors])
    eco = np.where(places.employer_size[keep] <= 1, "ukm", "")
    return pa.table(
        {
            "version_id": pa.array(keep + 1),
            "employer_id": pa.array(keep + 1),
            "npp": as_text(np.hstack([np.full((len(keep), 2), [74, 83], np.uint8), digit_columns(keep + 1, 8)])),
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


def memberships_table(
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
    start_days = first_days(pop.sp_start[rows])
    end_days = first_days(np.where(pop.sp_end[rows] == OPEN, pop.sp_start[rows], pop.sp_end[rows]) + 1)
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


def write_reference(out: Path, scale: float) -> dict[str, int]:
    """Offices, and the employed population (×scale, so that coverage rates keep their meaning)."""
    offices = pa.Table.from_pylist(default_offices(), schema=STEERING["offices"].schema)
    write_parquet(offices, out / "offices" / "part-0.parquet")
    regions = default_regions(scale)
    write_parquet(regions, out / "regions" / "part-0.parquet")
    return {"offices": offices.num_rows, "regions": regions.num_rows}

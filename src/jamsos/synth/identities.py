"""Invented identities: NIKs valid in shape (region, birth date and sex encoded; python-stdnum accepts them) but
belonging to no one, names and KPJ numbers, and the persons table keyed by pseudonym."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jamsos.kernel.period import Period
from jamsos.synth.operations import FIRST, LAST
from jamsos.synth.people import Places, Population, Traits, first_days
from jamsos.synth.plan import SynthError


def digit_columns(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers."""
    out = np.empty((len(values), width), np.uint8)
    v = values.astype(np.int64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = 48 + v % 10
        v //= 10
    return out


def as_text(digits: np.ndarray) -> pa.Array:
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
    return np.hstack([digit_columns(prefix, 12), digit_columns(serial, 4)])


def make_niks(regency: np.ndarray, district: np.ndarray, birth_days: np.ndarray, female: np.ndarray) -> np.ndarray:
    """Unique invented NIKs as (n, 16) ASCII digits."""
    return nik_digits(regency, district, birth_days, female, nik_serials(regency, district, birth_days, female))


def luhn_check(body: np.ndarray) -> np.ndarray:
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


def identities_of(pop: Population, places: Places, tr: Traits, last: Period) -> Identities:
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


def persons_table(
    people: np.ndarray, pkey: np.ndarray, pop: Population, places: Places, tr: Traits, regency_codes: pa.Array
) -> pa.Table:
    """The warehouse's persons: pseudonymous, as an export writes them."""
    since_days = first_days(pop.since[people])
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


def identities_table(
    ids: Identities, sl: slice, pkey: np.ndarray, pop: Population, places: Places, tr: Traits
) -> pa.Table:
    """Who is behind each key (invented): NIK, KPJ, name, birth date. Written only where asked, for tests."""
    from jamsos.registry.domain import KPJ_OFFSET

    people = ids.people[sl]
    body = digit_columns(KPJ_OFFSET + people + 1, 10)
    kpj = np.hstack([body, luhn_check(body)[:, None]])
    names = pa.array([f"{f} {last}" for f in FIRST for last in LAST])
    name_index = (people * 2654435761 % len(names)).astype(np.int32)
    return pa.table(
        {
            "person_id": pa.array(pkey[people]),
            "nik": as_text(ids.niks(sl)),
            "kpj": as_text(kpj),
            "name": pa.DictionaryArray.from_arrays(pa.array(name_index), names),
            "birth_date": pa.array(tr.birth[people].astype(np.int32), pa.date32()),
            "sex": pa.array(np.where(tr.female[people], "F", "M")),
        }
    )

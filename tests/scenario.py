"""Small scenario builders for integration tests (invented people and firms only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from jamsos.registry import service as reg
from jamsos.registry.domain import EVERYTHING


def nik(
    serial: int,
    *,
    regency: str = "8271",
    district: str = "01",
    born: dt.date = dt.date(1985, 8, 17),
    female: bool = False,
) -> str:
    day = born.day + (40 if female else 0)
    return f"{regency}{district}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


@dataclass
class Firm:
    npp: str
    va: str
    workers: dict[str, int] = field(default_factory=dict)  # nik -> membership id


def firm(
    s: Session,
    at: dt.datetime,
    *,
    wages: list[int],
    size: str = "menengah",
    sector: str = "C",
    regency: str = "8271",
    first_serial: int = 1,
    valid_from: dt.date = dt.date(2024, 1, 1),
    **kwargs: Any,
) -> Firm:
    e = reg.register_employer(
        s, scope=EVERYTHING, name="PT Uji", legal_form="pt", sector=sector, size_class=size, regency_code=regency,
        valid_from=valid_from, recorded_at=at, **kwargs,
    )  # fmt: skip
    f = Firm(e.number, e.va_number)
    for i, wage in enumerate(wages):
        n = nik(first_serial + i)
        reg.register_worker(
            s, scope=EVERYTHING, nik=n, name=f"Pekerja {first_serial + i}", valid_from=valid_from, recorded_at=at
        )
        f.workers[n] = reg.enrol(
            s, scope=EVERYTHING, nik=n, segment="pu", npp=e.number, wage=wage, valid_from=valid_from, recorded_at=at
        )
    return f


def bpu(
    s: Session,
    at: dt.datetime,
    serial: int,
    *,
    income: int = 1_000_000,
    programs: tuple[str, ...] = ("jkk", "jkm"),
    **kwargs: Any,
) -> tuple[str, str, int]:
    """A BPU participant: (nik, virtual account, membership id)."""
    n = nik(serial, female=True, born=dt.date(1990, 3, 5))
    w = reg.register_worker(
        s, scope=EVERYTHING, nik=n, name=f"Pedagang {serial}", valid_from=dt.date(2024, 1, 1), recorded_at=at
    )
    mid = reg.enrol(
        s,
        scope=EVERYTHING,
        nik=n,
        segment="bpu",
        income=income,
        programs=programs,
        valid_from=dt.date(2024, 1, 1),
        recorded_at=at,
        **kwargs,
    )
    return n, w.va_number, mid

"""A small synthetic branch-office population for the demo, tests and benchmarks, written as the CSV
files the registry imports (employers, workers, memberships) and as bank payment files."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from jamsos.infra.files import TableFile, read_table
from jamsos.rules import codes as c

FIRST = (
    "Budi",
    "Siti",
    "Agus",
    "Dewi",
    "Rina",
    "Joko",
    "Sri",
    "Andi",
    "Fitri",
    "Hendra",
    "Yusuf",
    "Nur",
    "Putri",
    "Rudi",
)
LAST = ("Santoso", "Wijaya", "Lestari", "Saputra", "Hidayat", "Rahman", "Kurniawan", "Pratama", "Sari", "Nugroho")
SECTORS = ("A", "C", "F", "G", "H", "I", "J", "K", "N", "Q", "T")  # T has no risk class on file: an exception
SECTOR_WEIGHTS = (0.1, 0.2, 0.1, 0.2, 0.08, 0.1, 0.05, 0.05, 0.05, 0.05, 0.02)


@dataclass(frozen=True)
class Population:
    employers: TableFile
    workers: TableFile
    memberships: TableFile
    niks: list[str]


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> TableFile:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return read_table(buf.getvalue().encode(), name)


def make_niks(
    rng: np.random.Generator, regencies: list[str], n: int, today: dt.date
) -> tuple[list[str], list[dt.date], list[str]]:
    """Invented NIKs, unique, each with the birth date and sex it encodes."""
    niks: list[str] = []
    births: list[dt.date] = []
    sexes: list[str] = []
    seen: set[str] = set()
    while len(niks) < n:
        reg = regencies[int(rng.integers(len(regencies)))]
        age_days = int(rng.integers(18 * 365, 60 * 365))
        birth = today - dt.timedelta(days=age_days)
        female = bool(rng.integers(2))
        day = birth.day + (40 if female else 0)
        district, serial = int(rng.integers(1, 30)), int(rng.integers(1, 9999))
        nik = f"{reg}{district:02d}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"
        if nik in seen:
            continue
        seen.add(nik)
        niks.append(nik)
        births.append(birth)
        sexes.append("F" if female else "M")
    return niks, births, sexes


def population(
    *, regencies: list[str], employers: int, pu_workers: int, bpu_workers: int, start: dt.date, seed: int = 7
) -> Population:
    """Employers with PU workers, and BPU participants (some paid by a sponsor when ``rentan``)."""
    rng = np.random.default_rng(seed)
    emp_rows = []
    for i in range(employers):
        sector = str(rng.choice(SECTORS, p=SECTOR_WEIGHTS))
        size = c.EMPLOYER_SIZES[min(int(rng.exponential(0.8)), 3)]
        emp_rows.append(
            [
                f"SY{seed:02d}{i + 1:06d}",
                f"PT Contoh {i + 1}",
                "pt",
                sector,
                size,
                "",
                regencies[int(rng.integers(len(regencies)))],
                "",
                "ukm",
                start.isoformat(),
            ]
        )
    emp = _csv(
        "employers.csv",
        [
            "npp",
            "name",
            "legal_form",
            "sector",
            "size_class",
            "risk_class",
            "regency_code",
            "labour_intensive",
            "ecosystems",
            "valid_from",
        ],
        emp_rows,
    )
    n = pu_workers + bpu_workers
    niks, births, sexes = make_niks(rng, regencies, n, start)
    names = [f"{FIRST[int(rng.integers(len(FIRST)))]} {LAST[int(rng.integers(len(LAST)))]}" for _ in range(n)]
    wrk = _csv(
        "workers.csv",
        ["nik", "name", "birth_date", "sex", "regency_code", "valid_from"],
        [[niks[i], names[i], births[i].isoformat(), sexes[i], niks[i][:4], start.isoformat()] for i in range(n)],
    )
    mem_rows = []
    npps = [f"SY{seed:02d}{i + 1:06d}" for i in range(employers)]
    wages = np.round(rng.lognormal(np.log(5_000_000), 0.35, pu_workers), -3).astype(np.int64)
    for i in range(pu_workers):
        mem_rows.append(
            [
                niks[i],
                "pu",
                npps[int(rng.integers(employers))],
                start.isoformat(),
                int(wages[i]),
                "",
                "",
                "employer",
                "",
                "ukm",
                "employer",
                "",
            ]
        )
    ecos = ("desa", "pasar", "e_commerce", "ukm")
    for i in range(pu_workers, n):
        income = int(rng.choice([1_000_000, 1_500_000, 2_000_000, 3_000_000]))
        programs = "jkk;jkm;jht" if rng.random() < 0.3 else "jkk;jkm"
        mem_rows.append(
            [
                niks[i],
                "bpu",
                "",
                start.isoformat(),
                "",
                income,
                programs,
                "self",
                "",
                ecos[int(rng.integers(len(ecos)))],
                "perisai",
                f"AG{int(rng.integers(1, 50)):03d}",
            ]
        )
    mem = _csv(
        "memberships.csv",
        [
            "nik",
            "segment",
            "npp",
            "valid_from",
            "wage",
            "income",
            "programs",
            "payer_source",
            "sponsor_code",
            "ecosystem",
            "channel",
            "agent",
        ],
        mem_rows,
    )
    return Population(emp, wrk, mem, niks)


def payment_file(
    bills: list[tuple[str, int, dt.date]],
    *,
    pay_share: float,
    late_share: float,
    seed: int = 11,
    prefix: str = "BNK",
    not_after: dt.date | None = None,
) -> TableFile:
    """A bank file paying the bills (va_number, amount, due date) of about ``pay_share`` of the accounts.

    Whether an account pays is mostly a habit of that account (the same accounts pay month after
    month) with some churn; ``late_share`` of the payments come after the due date.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i, (va, amount, due) in enumerate(bills):
        habit = (int(va[-6:-1]) * 7919 % 1000) / 1000
        if habit >= pay_share and rng.random() > 0.05:
            continue
        late = rng.random() < late_share
        paid_on = (
            due + dt.timedelta(days=int(rng.integers(1, 70)))
            if late
            else due - dt.timedelta(days=int(rng.integers(0, 10)))
        )
        if not_after is not None:
            paid_on = min(paid_on, not_after)
        rows.append([f"{prefix}{i:09d}", va, amount, paid_on.isoformat(), "va"])
    return _csv("payments.csv", ["reference", "va_number", "amount", "paid_on", "channel"], rows)

"""The operations part of ``jamsos demo``: a synthetic half-year of one Kanwil (Sulawesi dan Maluku) on the
embedded store."""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from jamsos.auth import service as auth
from jamsos.i18n.numbers import number, rupiah
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.migrate import upgrade
from jamsos.kernel.period import Period
from jamsos.ledger import service as ledger
from jamsos.registry import imports, reference
from jamsos.registry import service as registry
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import ParameterTree
from jamsos.synth.operations import make_niks, payment_file, population
from jamsos.warehouse import export

# One Kanwil: Sulawesi dan Maluku (KC Ternate and its neighbours).
REGENCIES = ["8271", "8272", "8204", "8205", "8201", "8171", "7371", "7171", "7271", "7471"]
MONTHS = [Period(2024, m) for m in range(7, 13)]


def run(console: Console, tree: ParameterTree, data_dir: Path, pseudonym_key: bytes) -> str:
    """Build a fresh demo store in ``data_dir`` and walk six months of operations; returns its URL."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    url = f"sqlite:///{data_dir / 'jamsos.db'}"
    engine = make_engine(url)
    upgrade(engine)
    at = dt.datetime(2024, 6, 20, 9)
    with unit_of_work(engine) as s:
        reference.load_reference(s)
        pop = population(
            regencies=REGENCIES, employers=150, pu_workers=2400, bpu_workers=1200, start=dt.date(2024, 6, 1), seed=7
        )
        imports.import_files(
            s,
            scope=EVERYTHING,
            employers=pop.employers,
            workers=pop.workers,
            memberships=pop.memberships,
            recorded_at=at,
            recorded_by="demo",
        )
        registry.register_sponsor(
            s,
            scope=EVERYTHING,
            code="APBD-8271",
            name="Pemkot Ternate",
            payer_source="apbd",
            regency_code="8271",
            recorded_at=at,
        )
        _construction_and_migrants(s, at, known=set(pop.niks))
    console.print(f"Registered 150 employers, {number(len(pop.niks))} workers in Kanwil Sulawesi dan Maluku ({url}).")
    table = Table(
        "Month", "Run", "Lines", "Exceptions", "Billed", "Paid files", "Fines", "Active", "PU", "BPU", "Jakon", "PMI"
    )
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Billing, approving and collecting", total=len(MONTHS))
        for i, month in enumerate(MONTHS):
            at = dt.datetime.combine(month.last_day, dt.time(10)) + dt.timedelta(days=5)
            with unit_of_work(engine) as s:
                r = ledger.run_billing(
                    s, scope=EVERYTHING, period=month, maker="ani.kc-ternate", tree=tree, started_at=at
                )
                if r.status == "draft":
                    ledger.approve_run(
                        s, scope=EVERYTHING, run_id=r.run_id, checker="budi.kc-ternate", tree=tree, decided_at=at
                    )
                    r.status = "approved"
                bills = [
                    (b["va_number"], b["account_owed"], b["due"]) for b in ledger.bills_for_period(s, period=month)
                ]
            pay_at = dt.datetime.combine((month + 2).last_day, dt.time(18))
            with unit_of_work(engine) as s:
                imp = ledger.import_payments(
                    s,
                    scope=EVERYTHING,
                    table=payment_file(
                        bills,
                        pay_share=0.85,
                        late_share=0.15,
                        seed=i,
                        prefix=f"{month}-",
                        not_after=pay_at.date(),
                    ),
                    tree=tree,
                    recorded_at=pay_at,
                    recorded_by="bank-feed",
                )
            with unit_of_work(engine) as s:
                counts = ledger.active_counts(s, period=month, tree=tree, known_at=pay_at)
            table.add_row(
                str(month), r.status, number(r.lines), number(r.exceptions), rupiah(r.amount), number(imp.posted),
                rupiah(imp.fine_amount), number(counts["active"]), number(counts["per_segment"]["pu"]),
                number(counts["per_segment"]["bpu"]), number(counts["per_segment"]["jakon"]),
                number(counts["per_segment"]["pmi"]),
            )  # fmt: skip
            progress.advance(task)
    console.print(table)
    with unit_of_work(engine) as s:
        rows = ledger.arrears(s, scope=EVERYTHING, as_of=dt.date(2025, 2, 28))
        wh = export.export(
            s,
            out=data_dir / "warehouse",
            tree=tree,
            known_at=dt.datetime(2025, 2, 28, 23, 59, tzinfo=dt.UTC),
            pseudonym_key=pseudonym_key,
        )
    arrears = Table("Arrears at 2025-02-28", "0-1", "2-3", "4-6", ">6", "Accounts")
    for kind in ("employer", "participant"):
        sub = [r for r in rows if r["kind"] == kind]
        arrears.add_row(kind, *(rupiah(sum(r[b] for r in sub)) for b in ("0-1", "2-3", "4-6", ">6")), number(len(sub)))
    console.print(arrears)
    console.print(f"Warehouse written to {data_dir / 'warehouse'}: {wh.written}")
    _users(console, engine, pop.niks[0])
    return url


# Demo accounts, one per role; the passwords are made anew at every run and printed once.
DEMO_USERS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("admin", "admin", {}),
    ("pusat", "head_office", {}),
    ("sulama", "kanwil", {"kanwil": "sulama"}),
    ("kc.ternate", "branch", {"branch": "KC-TERNATE"}),
)


def _users(console: Console, engine: Engine, worker_nik: str) -> None:
    at = dt.datetime(2025, 2, 28, 12)
    table = Table("User", "Role", "Scope", "Password (this demo run only)")
    with unit_of_work(engine) as s:
        employer = registry.worker_profile(s, scope=EVERYTHING, nik=worker_nik, known_at=at)["memberships"][0]["npp"]
        users = [
            *DEMO_USERS,
            ("pemberi.kerja", "employer", {"npp": employer}),
            ("pekerja", "worker", {"nik": worker_nik}),
        ]
        for name, role, scope in users:
            password = secrets.token_urlsafe(9)
            auth.create_user(s, username=name, password=password, role=role, created_at=at, **scope)
            table.add_row(name, role, ", ".join(scope.values()) or "all", password)
    console.print(table)


def _construction_and_migrants(s: Session, at: dt.datetime, known: set[str]) -> None:
    """A road project in Ternate with 20 builders (Jakon) and 30 migrant workers placed abroad (PMI)."""
    niks, _, _ = make_niks(np.random.default_rng(99), ["8271", "8272"], 80, dt.date(2024, 6, 1))
    niks = [n for n in niks if n not in known][:50]
    contractor = registry.register_employer(
        s,
        scope=EVERYTHING,
        name="PT Jalan Maluku",
        legal_form="pt",
        sector="F",
        size_class="menengah",
        regency_code="8271",
        valid_from=dt.date(2024, 1, 1),
        recorded_at=at,
    )
    registry.register_project(
        s,
        scope=EVERYTHING,
        code="JLN-TTE-2024-01",
        npp=contractor.number,
        name="Jalan lingkar Ternate",
        contract_value=2_500_000_000,
        spk_date=dt.date(2024, 6, 24),
        start_date=dt.date(2024, 7, 1),
        end_date=dt.date(2024, 12, 31),
        regency_code="8271",
        recorded_at=at,
    )
    for i, nik in enumerate(niks):
        registry.register_worker(
            s, scope=EVERYTHING, nik=nik, name=f"Pekerja {i + 1}", valid_from=dt.date(2024, 7, 1), recorded_at=at
        )
        if i < 20:
            registry.enrol(
                s,
                scope=EVERYTHING,
                nik=nik,
                segment="jakon",
                project_code="JLN-TTE-2024-01",
                valid_from=dt.date(2024, 7, 1),
                recorded_at=at,
                valid_to=dt.date(2024, 12, 31),
            )
        else:
            registry.enrol(
                s,
                scope=EVERYTHING,
                nik=nik,
                segment="pmi",
                contract_months=24,
                valid_from=dt.date(2024, 8, 1),
                recorded_at=at,
                channel="p3mi",
            )

"""The operational export feeds the steering side: KPIs computed on the exported warehouse agree
with the ledger's own active counts, and a person with two memberships is one contribution month."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest
from sqlalchemy import Engine
from tests.conftest import Clock
from tests.ledger.test_billing import run_and_approve
from tests.scenario import bpu, firm

from jamsos.coverage import service as coverage
from jamsos.infra.compute import connect, open_warehouse
from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.period import Period
from jamsos.ledger import service as led
from jamsos.registry import service as reg
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import ParameterTree
from jamsos.warehouse import export

pytestmark = pytest.mark.integration


def test_kpis_on_the_export_match_the_ledger(engine: Engine, tree: ParameterTree, clock: Clock, tmp_path: Path) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000, 6_000_000, 7_000_000])
        _, va1, _ = bpu(s, clock(), 70)
        _, _va2, _ = bpu(s, clock(), 71)
        # the first PU worker also holds a BPU membership: one person, one contribution month
        first_nik = next(iter(f.workers))
        reg.enrol(
            s,
            scope=EVERYTHING,
            nik=first_nik,
            segment="bpu",
            income=1_000_000,
            valid_from=Period(2024, 1).first_day,
            recorded_at=clock(),
        )
    for month in (Period(2024, 11), Period(2024, 12)):
        run_and_approve(engine, tree, clock, month)
    bank = "reference,va_number,amount,paid_on\n" + "\n".join(
        [f"P{i},{va},{amount},2024-12-10" for i, (va, amount) in enumerate([(f.va, 9_000_000), (va1, 100_000)])]
    )
    with unit_of_work(engine) as s:
        led.import_payments(
            s,
            scope=EVERYTHING,
            table=read_table(bank.encode(), "bank.csv"),
            tree=tree,
            recorded_at=clock(),
            recorded_by="t",
        )
    known = clock()
    with unit_of_work(engine) as s:
        written = export.export(s, out=tmp_path, tree=tree, known_at=known, pseudonym_key=b"k").written
        ledger_counts = {
            m: led.active_counts(s, period=m, tree=tree, known_at=known) for m in (Period(2024, 11), Period(2024, 12))
        }
    assert written["contribution_months"] > 0 and written["registrations"] == 6
    months = ds.dataset(tmp_path / "contribution_months", format="parquet", partitioning="hive").to_table()
    keys = list(zip(months["period"].to_pylist(), months["person_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)), "one row per person and month"
    w = open_warehouse(connect("duckdb"), tmp_path, "duckdb")
    for month, counts in ledger_counts.items():
        [national] = coverage.snapshot_rows(w, period=month, by=(), tree=tree)
        assert national["active"] == counts["active"]
        assert counts["active"] > 0
        by_segment = {
            r["segment"]: r["active"] for r in coverage.snapshot_rows(w, period=month, by=("segment",), tree=tree)
        }
        assert sum(by_segment.values()) == national["active"]
        [branch] = coverage.snapshot_rows(w, period=month, by=("branch",), tree=tree)
        assert branch["branch"] == "KC-TERNATE" and branch["active"] == national["active"]
    assert national["registered"] == 5  # persons, not memberships

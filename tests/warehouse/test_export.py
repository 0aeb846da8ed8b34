"""Incremental export of facts to Parquet: the documented schema, and a second export adds only what is new."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select
from tests.conftest import Clock
from tests.ledger.test_billing import run_and_approve
from tests.scenario import bpu, firm

from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.period import Period
from jamsos.kernel.pseudonym import person_key
from jamsos.ledger import service as led
from jamsos.registry import tables as rt
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import ParameterTree
from jamsos.warehouse import export

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"
KEY = b"test pseudonym key"


def test_export_is_incremental_and_matches_the_documented_schema(
    engine: Engine, tree: ParameterTree, clock: Clock, tmp_path: Path
) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000, 6_000_000])
        bpu(s, clock(), 70)
    run_and_approve(engine, tree, clock, Period(2024, 11))
    with unit_of_work(engine) as s:
        first = export.export(s, out=tmp_path, pseudonym_key=KEY)
    assert (
        first.written["persons"] == 3 and first.written["memberships"] == 3 and first.written["contribution_lines"] > 0
    )
    with unit_of_work(engine) as s:
        second = export.export(s, out=tmp_path, pseudonym_key=KEY)
    assert all(v == 0 for k, v in second.written.items() if k != "offices")
    run_and_approve(engine, tree, clock, Period(2024, 12))
    late = f"reference,va_number,amount,paid_on\nW1,{f.va},5000000,2025-01-03\n"  # November's bill, paid late
    with unit_of_work(engine) as s:
        led.import_payments(
            s,
            scope=EVERYTHING,
            table=read_table(late.encode(), "b.csv"),
            tree=tree,
            recorded_at=clock(),
            recorded_by="t",
        )
    with unit_of_work(engine) as s:
        third = export.export(s, out=tmp_path, pseudonym_key=KEY)
    assert third.written["contribution_lines"] == first.written["contribution_lines"]
    assert third.written["persons"] == 0 and third.written["bills"] == 2
    assert third.written["payments"] == 1 and third.written["fines"] == 1 and third.written["allocations"] >= 2
    lines = ds.dataset(tmp_path / "contribution_lines", format="parquet", partitioning="hive").to_table()
    assert sorted(set(lines["period"].to_pylist())) == ["2024-11", "2024-12"]
    assert set(lines["segment"].to_pylist()) == {"pu", "bpu"}
    assert {"JKK", "JKM", "JHT", "JP", "JKP"} <= set(lines["program"].to_pylist())
    documented = DOCS.read_text()
    present = {p.name for p in tmp_path.iterdir() if p.is_dir()}
    assert present >= {"persons", "employers", "memberships", "bills", "contribution_lines", "offices", "fines"}
    for name in present - {"contribution_lines"}:
        table = ds.dataset(tmp_path / name, format="parquet").to_table()
        for column in table.column_names:
            assert f"`{column}`" in documented, f"{name}.{column} is not documented in docs/warehouse.md"
    for column in lines.column_names:
        assert f"`{column}`" in documented


def test_the_warehouse_holds_pseudonymous_keys_never_a_nik_name_or_kpj(
    engine: Engine, tree: ParameterTree, clock: Clock, tmp_path: Path
) -> None:
    with unit_of_work(engine) as s:
        firm(s, clock(), wages=[5_000_000, 6_000_000])
        bpu(s, clock(), 70)
    run_and_approve(engine, tree, clock, Period(2024, 11))
    with unit_of_work(engine) as s:
        export.export(s, out=tmp_path, tree=tree, known_at=clock(), pseudonym_key=KEY)
        people = s.execute(
            select(rt.worker.c.id, rt.worker.c.nik, rt.worker.c.kpj, rt.worker_version.c.name).join(
                rt.worker_version, rt.worker_version.c.worker_id == rt.worker.c.id
            )
        ).all()
    secrets = {str(v) for r in people for v in (r.nik, r.kpj, r.name)}
    files = sorted(tmp_path.rglob("*.parquet"))
    assert files
    keys_seen: set[int] = set()
    for f in files:
        table = pq.read_table(f)
        for name in table.column_names:
            personal = ("nik", "kpj", "worker_id", "birth_date") + (() if _organisation(f, tmp_path) else ("name",))
            assert name not in personal, f"{f}: column {name}"
            values = table[name].to_pylist()
            texts = [v for v in values if isinstance(v, str)]
            assert not [t for t in texts for x in secrets if x in t], f"{f}.{name} holds personal data"
            if name == "person_id":
                keys_seen |= {v for v in values if v is not None}
    expected = {person_key(KEY, r.nik) for r in people}
    assert keys_seen == expected  # every person key is the keyed hash of a NIK, and no other number
    assert not keys_seen & {int(r.id) for r in people}
    # Another key would give other keys: the warehouse refuses it rather than mix two.
    with unit_of_work(engine) as s, pytest.raises(export.ExportFailed, match="another pseudonym key"):
        export.export(s, out=tmp_path, pseudonym_key=b"another key")
    with unit_of_work(engine) as s:
        again = export.export(s, out=tmp_path, tree=tree, known_at=clock(), pseudonym_key=KEY)
    assert again.written["persons"] == 0


def _organisation(file: Path, root: Path) -> bool:
    """Employers, sponsors, projects and offices are organisations: their names are not personal data."""
    return file.relative_to(root).parts[0] in ("employers", "sponsors", "projects", "offices")


def test_each_context_names_every_fact_it_offers() -> None:
    """The exporter reads facts by name through each context's ``fact_chunk`` (data, not a query to run)."""
    from jamsos.ledger import facts as ledger_facts
    from jamsos.registry import facts as registry_facts

    assert tuple(registry_facts._fact_queries()) == registry_facts.FACTS
    assert tuple(ledger_facts._fact_queries()) == ledger_facts.FACTS

"""Extracts from another core system: validated whole with row and column named, all or nothing,
a repeated import changes nothing, and the KPIs read what was imported."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from jamsos.coverage import service as coverage
from jamsos.infra.compute import connect, open_warehouse
from jamsos.kernel.errors import InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules.tree import ParameterTree
from jamsos.warehouse import imports

HEADER = (
    "period,person_id,membership_id,employer_id,segment,regency_code,ecosystem,channel,payer_source,"
    "programs,wage,amount,paid_on,person_since,employer_since"
)


def _months(rows: list[str]) -> str:
    return HEADER + "\n" + "\n".join(rows) + "\n"


GOOD = _months(
    [
        "2023-12,1,11,7,pu,8271,,employer,employer,31,5000000,600000,2024-01-10,2020-01,2019-05",
        "2023-12,2,12,,bpu,8271,pasar,perisai,self,3,1000000,16800,2023-12-05,2023-12,",
        "2022-12,1,11,7,pu,8271,,employer,employer,31,4800000,580000,2023-01-10,2020-01,2019-05",
        "2023-11,3,13,,bpu,3171,desa,,apbd,3,1000000,16800,2023-11-05,2021-03,",
    ]
)


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _reference_datasets(wh: Path, tmp_path: Path) -> None:
    """Registrations (person 3 with a second, later membership), the office map and two provinces."""
    from jamsos.registry.reference import default_offices

    regs = (
        "person_id,membership_id,segment,regency_code,ecosystem,channel,registered,ended,first_of_person\n"
        "1,11,pu,8271,,employer,2020-01,,true\n2,12,bpu,8271,pasar,perisai,2023-12,,true\n"
        "3,13,bpu,3171,desa,,2021-03,,true\n3,14,pu,3171,,employer,2022-01,,false\n"
    )
    imports.import_extract(wh, dataset="registrations", file=_write(tmp_path, "r.csv", regs))
    offices = tmp_path / "offices.parquet"
    pq.write_table(pa.Table.from_pylist(default_offices()), offices)
    imports.import_extract(wh, dataset="offices", file=offices)
    regions = (
        "province_code,period,employed,source,status\n82,2023-08,100,test,unverified\n31,2023-08,50,test,unverified\n"
    )
    imports.import_extract(wh, dataset="regions", file=_write(tmp_path, "g.csv", regions))


def test_a_bad_file_names_every_row_and_column_and_writes_nothing(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    bad = _months(
        [
            "2023-12,1,11,7,pu,8271,,employer,employer,31,5000000,600000,2024-01-10,2020-01,2019-05",
            "2023-13,2,12,,bpu,8271,pasar,perisai,self,3,1000000,16800,2023-02-30,2023-12,",
            "2023-12,x,12,,gig,82,pasar,perisai,self,3,1000000,-5,2023-12-45,2023-12,",
            "2023-12,1,11,7,pu,8271,,employer,employer,31,5000000,600000,2024-01-10,2020-01,2019-05",
        ]
    )
    with pytest.raises(InvalidInput) as caught:
        imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "bad.csv", bad))
    found = {(p.row, p.field) for p in caught.value.problems}
    assert {(3, "period"), (3, "paid_on")} <= found
    assert {(4, "person_id"), (4, "segment"), (4, "regency_code"), (4, "amount"), (4, "paid_on")} <= found
    assert not (wh / "contribution_months").exists()
    dup = _months([GOOD.splitlines()[1], GOOD.splitlines()[1]])
    with pytest.raises(InvalidInput) as caught:
        imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "dup.csv", dup))
    assert [(p.row, p.field) for p in caught.value.problems] == [(3, "person_id,period")]
    missing = "period,person_id\n2023-12,1\n"
    with pytest.raises(InvalidInput) as caught:
        imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "short.csv", missing))
    assert "membership_id" in {p.field for p in caught.value.problems}


def test_import_once_then_no_op_and_conflicts_refused(tmp_path: Path, tree: ParameterTree) -> None:
    wh = tmp_path / "wh"
    first = imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "m.csv", GOOD))
    assert first.rows == 4 and not first.already_imported
    assert first.partitions == ["period=2022-12", "period=2023-11", "period=2023-12"]
    again = imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "m-copy.csv", GOOD))
    assert again.already_imported
    assert len(list((wh / "contribution_months").rglob("*.parquet"))) == 3
    clash = _months(["2023-12,2,99,,bpu,8271,pasar,perisai,self,3,1000000,16800,2023-12-05,2023-12,"])
    with pytest.raises(InvalidInput) as caught:
        imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "clash.csv", clash))
    assert caught.value.problems[0].row == 2 and "already holds" in caught.value.problems[0].message
    _reference_datasets(wh, tmp_path)
    ledger = json.loads((wh / imports.LEDGER).read_text())
    assert len(ledger["imports"]) == 4
    w = open_warehouse(connect("duckdb"), wh, "duckdb")
    [row] = coverage.snapshot_rows(w, period=Period(2023, 12), by=(), tree=tree)
    assert (row["active"], row["active_prev"], row["active_yoy_base"], row["registered"]) == (2, 1, 1, 3)
    assert (row["new"], row["lapsed"], row["retained"], row["employed"]) == (1, 1, 1, 150)
    months = ds.dataset(wh / "contribution_months", format="parquet", partitioning="hive").to_table()
    assert months.num_rows == 4


def test_unknown_dataset_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(imports.UnknownDataset):
        imports.import_extract(tmp_path, dataset="payments", file=_write(tmp_path, "p.csv", "a\n1\n"))
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(InvalidInput) as caught:
        imports.import_extract(tmp_path, dataset="regions", file=junk)
    assert caught.value.problems[0].field == "file"


def test_months_imported_out_of_order_are_relinked(tmp_path: Path, tree: ParameterTree) -> None:
    """December first, then the months before it: December's back-links are rewritten, so the flows
    come out as if everything had arrived at once."""
    wh = tmp_path / "wh"
    lines = GOOD.splitlines()[1:]
    december = _months([x for x in lines if x.startswith("2023-12")])
    earlier = _months([x for x in lines if not x.startswith("2023-12")])
    imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "dec.csv", december))
    _reference_datasets(wh, tmp_path)
    [alone] = coverage.snapshot_rows(
        open_warehouse(connect("duckdb"), wh, "duckdb"), period=Period(2023, 12), by=(), tree=tree
    )
    assert (alone["active"], alone["retained"], alone["reactivated"]) == (2, 0, 1)
    imports.import_extract(wh, dataset="contribution_months", file=_write(tmp_path, "earlier.csv", earlier))
    [row] = coverage.snapshot_rows(
        open_warehouse(connect("duckdb"), wh, "duckdb"), period=Period(2023, 12), by=(), tree=tree
    )
    assert (row["active"], row["active_prev"], row["active_yoy_base"]) == (2, 1, 1)
    assert (row["retained"], row["lapsed"], row["reactivated"], row["new"]) == (1, 1, 1, 1)  # 1 skipped 2023-11


def test_a_composite_key_already_held_is_refused_by_row(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    head = "province_code,period,employed,source,status\n"
    imports.import_extract(
        wh, dataset="regions", file=_write(tmp_path, "a.csv", head + "82,2023-08,100,t,unverified\n")
    )
    second = head + "31,2023-08,5,t,unverified\n82,2023-08,7,t,unverified\n82,2022-08,7,t,unverified\n"
    with pytest.raises(InvalidInput) as caught:
        imports.import_extract(wh, dataset="regions", file=_write(tmp_path, "b.csv", second))
    assert [(p.row, p.value) for p in caught.value.problems] == [(3, "82/2023-08")]

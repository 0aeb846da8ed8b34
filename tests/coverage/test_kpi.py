"""KPI snapshots agree between DuckDB, PySpark and a plain-Python reference on small random warehouses."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jamsos.coverage import kpi
from jamsos.infra.compute import connect, open_warehouse, to_rows
from jamsos.kernel.period import Period
from tests.coverage import reference as ref

PERIOD = Period(2023, 12)
MONTHS = [str(PERIOD + d) for d in (-13, -12, -11, -1, 0)]
REGENCIES = ["8271", "8201", "3171", "3273", "1101"]  # Ternate, Halmahera Barat, Jakarta Pusat, Bandung, Simeulue
SEGMENTS = ["pu", "bpu", "jakon", "pmi"]
GROUPINGS = [
    (),
    ("segment",),
    ("branch", "segment", "ecosystem"),
    ("kanwil", "channel"),
    ("province",),
    ("payer_source",),
]
FLOATS = {
    "active_mom_pct",
    "active_yoy_pct",
    "retention_pct",
    "pu_wage_avg_yoy_pct",
    "programs_per_participant",
    "programs_per_participant_yoy",
    "bpu_jht_pct",
    "coverage_pct",
}


@st.composite
def populations(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    n_people = draw(st.integers(1, 25))
    months: list[dict[str, Any]] = []
    registrations: list[dict[str, Any]] = []
    for person in range(1, n_people + 1):
        since = draw(st.sampled_from(["2021-06", *MONTHS]))
        segment = draw(st.sampled_from(SEGMENTS))
        regency = draw(st.sampled_from(REGENCIES))
        ecosystem = draw(st.sampled_from(["", "desa", "ukm", "pekerja_rentan"]))
        channel = draw(st.sampled_from([None, "perisai", "online"]))
        registrations.append(
            {
                "person_id": person,
                "membership_id": person,
                "segment": segment,
                "regency_code": regency,
                "ecosystem": ecosystem,
                "channel": channel,
                "registered": since,
                "ended": None,
                "first_of_person": True,
            }
        )
        if draw(st.booleans()):  # a later second membership elsewhere: the person still counts once
            registrations.append(
                {
                    **registrations[-1],
                    "membership_id": 1000 + person,
                    "regency_code": draw(st.sampled_from(REGENCIES)),
                    "segment": draw(st.sampled_from(SEGMENTS)),
                    "registered": draw(st.sampled_from(MONTHS)),
                    "first_of_person": False,
                }
            )
        for period in MONTHS:
            if period < since or not draw(st.booleans()):
                continue
            employer = draw(st.sampled_from([None, 1, 2, 3])) if segment == "pu" else None
            months.append(
                {
                    "period": period,
                    "person_id": person,
                    "membership_id": person,
                    "employer_id": employer,
                    "segment": segment,
                    "regency_code": draw(st.sampled_from([regency, regency, "3171"])),
                    "ecosystem": ecosystem,
                    "channel": channel,
                    "payer_source": draw(st.sampled_from(["self", "employer", "apbd"])),
                    "programs": draw(st.sampled_from([1, 3, 7, 15, 31, 2, 11])),
                    "wage": draw(st.integers(0, 9_000_000)),
                    "amount": draw(st.integers(0, 500_000)),
                    "paid_on": ref.paid_on(period),
                    "person_since": since,
                    "employer_since": None if employer is None else draw(st.sampled_from(["2020-01", *MONTHS])),
                }
            )
    regions = [
        {
            "province_code": p,
            "period": period,
            "employed": draw(st.integers(0, 1000)),
            "source": "test",
            "status": "unverified",
        }
        for p in ("82", "31")
        for period in ("2022-08", "2023-08", "2024-08")
        if draw(st.booleans())
    ]
    return months, registrations, regions


BASE = kpi.base_mask(("jkk", "jkm"))  # the base programs of coverage.base_programs


def engine_snapshot(con: Any, engine: str, directory: Path, by: tuple[str, ...]) -> list[dict[str, Any]]:
    w = open_warehouse(con, directory, engine)
    expr = kpi.snapshot(
        w["contribution_months"], w["registrations"], w["offices"], w["regions"], kpi.Snapshot(PERIOD, by, BASE)
    )
    return [{ref.RENAME.get(k, k): v for k, v in r.items()} for r in to_rows(expr)]


def assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]], by: tuple[str, ...]) -> None:
    assert len(got) == len(want), (by, got, want)
    for g, w in zip(sorted(got, key=_order), sorted(want, key=_order), strict=True):
        assert set(g) == set(w), set(g) ^ set(w)
        for k, v in w.items():
            if k in FLOATS and v is not None and g[k] is not None:
                assert g[k] == pytest.approx(v, abs=1.01e-4), (k, g, w)
            elif k == "pu_wage_avg" and v is not None and g[k] is not None:
                assert abs(g[k] - v) <= 1, (k, g, w)  # half-way rounding may differ by one rupiah
            else:
                assert g[k] == v, (k, by, g, w)


def _order(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(row.get(k))
        for k in ("kanwil", "branch", "province", "regency", "segment", "ecosystem", "channel", "payer_source")
        if k in row
    )


@pytest.fixture(scope="module")
def duck() -> Any:
    return connect("duckdb")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(pop=populations(), by=st.sampled_from(GROUPINGS))
def test_duckdb_matches_reference(duck: Any, pop: Any, by: tuple[str, ...]) -> None:
    months, registrations, regions = pop
    with tempfile.TemporaryDirectory() as tmp:
        ref.write_warehouse(Path(tmp), months, registrations, regions)
        got = engine_snapshot(duck, "duckdb", Path(tmp), by)
    assert_same(got, ref.snapshot(months, registrations, regions, PERIOD, by), by)


@pytest.mark.spark
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(pop=populations(), by=st.sampled_from(GROUPINGS[:3]))
def test_spark_matches_reference(pop: Any, by: tuple[str, ...]) -> None:
    months, registrations, regions = pop
    with tempfile.TemporaryDirectory() as tmp:
        ref.write_warehouse(Path(tmp), months, registrations, regions)
        got = engine_snapshot(connect("spark", threads=2), "spark", Path(tmp), by)
        duck = engine_snapshot(connect("duckdb"), "duckdb", Path(tmp), by)
    want = ref.snapshot(months, registrations, regions, PERIOD, by)
    assert_same(got, want, by)
    assert_same(duck, want, by)


def test_a_known_population() -> None:
    """Hand-checked: two persons, one lapses and returns, one is new; a JKK-only month is not active."""
    base = {
        "membership_id": 1,
        "employer_id": None,
        "segment": "bpu",
        "regency_code": "8271",
        "ecosystem": "pasar",
        "channel": "perisai",
        "payer_source": "self",
        "wage": 1_000_000,
        "amount": 16_800,
        "employer_since": None,
    }
    rows = [
        {
            **base,
            "period": "2022-12",
            "person_id": 1,
            "programs": 3,
            "person_since": "2022-01",
            "paid_on": ref.paid_on("2022-12"),
        },
        {
            **base,
            "period": "2023-12",
            "person_id": 1,
            "programs": 7,
            "person_since": "2022-01",
            "paid_on": ref.paid_on("2023-12"),
        },
        {
            **base,
            "period": "2023-11",
            "person_id": 2,
            "membership_id": 2,
            "programs": 3,
            "person_since": "2023-11",
            "paid_on": ref.paid_on("2023-11"),
        },
        {
            **base,
            "period": "2023-12",
            "person_id": 2,
            "membership_id": 2,
            "programs": 1,
            "person_since": "2023-11",
            "paid_on": ref.paid_on("2023-12"),
        },
        {
            **base,
            "period": "2023-12",
            "person_id": 3,
            "membership_id": 3,
            "programs": 3,
            "person_since": "2023-12",
            "paid_on": ref.paid_on("2023-12"),
        },
    ]
    regs = [
        {
            "person_id": p,
            "membership_id": p,
            "segment": "bpu",
            "regency_code": "8271",
            "ecosystem": "pasar",
            "channel": "perisai",
            "registered": s,
            "ended": None,
            "first_of_person": True,
        }
        for p, s in ((1, "2022-01"), (2, "2023-11"), (3, "2023-12"))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        ref.write_warehouse(Path(tmp), rows, regs, [])
        [row] = engine_snapshot(connect("duckdb"), "duckdb", Path(tmp), ("branch",))
    assert row["branch"] == "KC-TERNATE"
    assert (row["active"], row["active_prev"], row["active_yoy_base"]) == (2, 1, 1)
    assert (row["new"], row["reactivated"], row["lapsed"], row["retained"]) == (1, 1, 1, 1)
    assert row["retention_pct"] == 100.0
    assert row["active_yoy_pct"] == 100.0
    assert row["registered"] == 3
    assert row["active_jht"] == 1 and row["bpu_with_jht"] == 1


def test_series_counts_active_people_per_month_and_group() -> None:
    from jamsos.coverage import service as coverage
    from jamsos.rules.tree import load_parameters

    base = {"membership_id": 1, "employer_id": None, "segment": "bpu", "regency_code": "8271", "ecosystem": "pasar",
            "channel": "perisai", "payer_source": "self", "wage": 1, "amount": 1, "employer_since": None,
            "person_since": "2022-01"}  # fmt: skip
    rows = [
        {**base, "period": p, "person_id": i, "programs": prog, "paid_on": ref.paid_on(p)}
        for p, i, prog in (
            ("2023-10", 1, 3),
            ("2023-11", 1, 3),
            ("2023-11", 2, 3),
            ("2023-12", 2, 1),
            ("2023-12", 3, 3),
        )
    ]
    rows[-1]["regency_code"] = "3171"
    with tempfile.TemporaryDirectory() as tmp:
        ref.write_warehouse(Path(tmp), rows, [], [])
        w = open_warehouse(connect("duckdb"), Path(tmp), "duckdb")
        got = coverage.series_rows(
            w, first=Period(2023, 10), last=Period(2023, 12), by=("kanwil",), tree=load_parameters()
        )
    assert [(r["period"], r["kanwil"], r["active"]) for r in got] == [
        ("2023-10", "sulama", 1), ("2023-11", "sulama", 2), ("2023-12", "dki", 1),
    ]  # fmt: skip

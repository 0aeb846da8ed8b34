"""The steering commands end to end: synth → kpi (JSON, CSV, on DuckDB and Spark) → report → reconcile."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.conftest import run_cli

run = run_cli


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wh")
    output = run("synth", "--scale", "0.001", "--from", "2022-11", "--to", "2023-12", "--out", str(out), "--json")
    report = json.loads(output[output.index("{") :])
    assert report["worst_error_pct"] <= 1 and report["rows"]["contribution_months"] > 0
    return out


def test_kpi_json_has_the_documented_shape(warehouse: Path) -> None:
    national = json.loads(run("kpi", "-w", str(warehouse), "--period", "2023-12", "--json"))
    assert national["period"] == "2023-12" and national["engine"] == "duckdb"
    [row] = national["rows"]
    for key in (
        "active",
        "active_yoy_pct",
        "retention_pct",
        "new",
        "reactivated",
        "lapsed",
        "registered",
        "coverage_pct",
    ):
        assert key in row
    assert row["active"] == 41460
    grouped = json.loads(run("kpi", "-w", str(warehouse), "--period", "2023-12", "--by", "branch,segment", "--json"))
    assert {"kanwil", "branch", "segment"} - {"kanwil"} <= set(grouped["rows"][0])
    assert sum(r["active"] for r in grouped["rows"]) == row["active"]
    ternate = [r for r in grouped["rows"] if r["branch"] == "KC-TERNATE"]
    assert ternate and ternate[0]["branch_name"] == "KC Ternate"
    table = list(
        csv.DictReader(io.StringIO(run("kpi", "-w", str(warehouse), "--period", "2023-12", "--by", "kanwil", "--csv")))
    )
    assert len(table) == 11 and sum(int(r["active"]) for r in table) == row["active"]


@pytest.mark.spark
def test_spark_gives_the_same_snapshot(warehouse: Path) -> None:
    args = ("kpi", "-w", str(warehouse), "--period", "2023-12", "--by", "kanwil,segment", "--json")
    duck = json.loads(run(*args))["rows"]
    spark = json.loads(run(*args, "--engine", "spark"))["rows"]
    key = lambda r: (r["kanwil"], r["segment"])  # noqa: E731
    assert sorted(duck, key=key) == sorted(spark, key=key)


def test_report_in_indonesian_and_english(warehouse: Path) -> None:
    text = " ".join(run("report", "-w", str(warehouse), "--year", "2023").split())
    assert "Jumlah tenaga kerja aktif pada 2023 tumbuh 15,62 persen menjadi 41.460" in text
    assert "dibandingkan 2022 yang sebesar 35.860" in text
    assert "skala 0.001" in text
    english = " ".join(run("report", "-w", str(warehouse), "--year", "2023", "--lang", "en").split())
    assert "Active workers in 2023 grew 15.62 percent to 41,460" in english


def test_errors_have_their_exit_codes(warehouse: Path, tmp_path: Path) -> None:
    assert "holds 2022-11 … 2023-12" in run("kpi", "-w", str(warehouse), "--period", "2019-01", code=18)
    assert "cannot group by" in run("kpi", "-w", str(warehouse), "--period", "2023-12", "--by", "planet", code=17)
    assert "unknown engine" in run("kpi", "-w", str(warehouse), "--period", "2023-12", "--engine", "polars", code=16)
    assert "synth" in run("kpi", "-w", str(tmp_path), "--period", "2023-12", code=15)
    assert "to compare 2022 with" in run("report", "-w", str(warehouse), "--year", "2022", code=18)


def test_reconcile_the_article_and_given_figures() -> None:
    data = json.loads(run("reconcile", "--json"))
    growth = [c for c in data["checks"] if c["relation"] == "growth from levels" and "news" in " ".join(c["from"])]
    assert growth[0]["reconciles"] is False and growth[0]["derived"] == pytest.approx(15.6163)
    mine = json.loads(
        run(
            "reconcile",
            "--level",
            "2022-12=35.86",
            "--level",
            "2023-12=41.46",
            "--growth",
            "2022-12..2023-12=15.62",
            "--json",
        )
    )
    assert [c["reconciles"] for c in mine["checks"]] == [True]
    assert "2023-13" in run("reconcile", "--level", "2023-13=1", code=2)


def test_forecast_from_the_warehouse_per_segment(warehouse: Path) -> None:
    data = json.loads(run("forecast", "-w", str(warehouse), "--until", "2024-06", "--by", "segment", "--json"))
    assert data["until"] == "2024-06"
    assert sorted(g["segment"] for g in data["groups"]) == ["bpu", "jakon", "pmi", "pu"]
    for g in data["groups"]:
        assert [p["period"] for p in g["points"]] == [f"2024-0{m}" for m in range(1, 7)]
        assert g["model"] in ("local_linear_trend", "random_walk_with_drift", "smooth_trend")
